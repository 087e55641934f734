package media

// Totals counts RTP over the engine's life, for metrics: sessions that have
// closed plus the live ones, summed when asked rather than on the packet path.
type Totals struct {
	PacketsSent, PacketsReceived, PacketsLost uint64
	// TapFramesDropped is frames a media stream's tap dropped because its consumer (the
	// stream's socket writer) fell two seconds behind: audio the application never got.
	TapFramesDropped uint64
	// StreamFramesDiscarded is frames of a media stream's application audio discarded because
	// their tick had passed (the clock fell behind, or the application sent late): audio the
	// caller never heard.
	StreamFramesDiscarded uint64
	Sessions              int // live sessions
}

func (t *Totals) add(st Stats) {
	t.PacketsSent += st.PacketsSent
	t.PacketsReceived += st.PacketsReceived
	t.PacketsLost += st.PacketsLost
}

// Totals reports the engine-wide counts.
func (e *Engine) Totals() Totals {
	e.mu.Lock()
	t := e.ended
	live := make([]*Session, 0, len(e.sessions))
	for s := range e.sessions {
		live = append(live, s)
	}
	e.mu.Unlock()
	for _, s := range live {
		t.add(s.Stats())
	}
	t.Sessions = len(live)
	t.TapFramesDropped = e.tapDropped.Load()
	t.StreamFramesDiscarded = e.streamDiscarded.Load()
	return t
}
