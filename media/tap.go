package media

import (
	"slices"
	"sync"
	"sync/atomic"

	"github.com/pion/rtp"

	"github.com/pivotua/pivotua/codec"
)

// A Tap hands a consumer goroutine (a media stream's writer) copies of a
// session's audio as 20 ms PCMU frames: what the caller sends (TapInbound)
// and what the session sends to the caller (TapOutbound), each in order.
//
// The clock never waits for the consumer: it copies each frame into a ring
// allocated with the tap and, when the ring is full (a consumer slower than
// real time), drops the frame and counts it (Dropped, and the engine's
// Totals for pivotua_stream_frames_dropped_total). Per packet nothing
// allocates and no lock is held across a system call; the ring's mutex is
// held for a 160-byte copy.
type Tap struct {
	s       *Session // immutable
	tracks  TapTrack // immutable: which tracks the tap takes
	startAt int64    // engine nanos of StartTap; frame timestamps count from it; immutable
	wake    chan struct{}
	dropped atomic.Uint64
	stopped atomic.Bool

	mu     sync.Mutex // guards the ring; held for copies only
	ring   []TapFrame // preallocated by StartTap
	head   int
	n      int
	closed bool

	// The clock alone owns the re-chunking state of the inbound track: a
	// caller sending 30 ms packets still gives 20 ms frames.
	partial  [codec.FrameSamples]byte
	partialN int
	partAt   int64 // engine nanos of the packet that began partial
	chunk    [2]uint64
}

// TapTrack selects the tracks of a Tap.
type TapTrack uint8

// The tracks a Tap can take, named from pivotua's side as Twilio names them.
const (
	TapInbound  TapTrack = 1 << iota // what the caller sends
	TapOutbound                      // what pivotua sends to the caller
)

// TapFrame is one 20 ms frame of a track.
type TapFrame struct {
	Track     TapTrack
	Chunk     uint64 // 1, 2, ... per track
	Timestamp int64  // milliseconds from StartTap
	Payload   [codec.FrameSamples]byte
}

// tapRingFrames bounds what a slow consumer can leave waiting: two seconds of
// both tracks.
const tapRingFrames = 200

// tapSet is the immutable list of a session's taps: written under the
// session's mu (copy on write), read by the clock without a lock.
type tapSet []*Tap

// StartTap starts copying the tracks of s to a new Tap until Stop.
func (s *Session) StartTap(tracks TapTrack) (*Tap, error) {
	if tracks == 0 || tracks&^(TapInbound|TapOutbound) != 0 {
		return nil, ErrInvalidParams
	}
	t := &Tap{s: s, tracks: tracks, startAt: s.e.now(), wake: make(chan struct{}, 1), ring: make([]TapFrame, tapRingFrames)}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed || s.finished.Load() {
		return nil, s.errOrClosed()
	}
	var next tapSet
	if old := s.taps.Load(); old != nil {
		next = slices.Clone(*old)
	}
	next = append(next, t)
	s.taps.Store(&next)
	return t, nil
}

// Stop detaches the tap: no frame is queued after it returns. Stop twice is
// harmless.
func (t *Tap) Stop() {
	s := t.s
	s.mu.Lock()
	if old := s.taps.Load(); old != nil {
		if i := slices.Index(*old, t); i >= 0 {
			next := slices.Delete(slices.Clone(*old), i, i+1)
			s.taps.Store(&next)
		}
	}
	s.mu.Unlock()
	t.stopped.Store(true)
	t.mu.Lock()
	t.closed = true
	t.mu.Unlock()
	t.signal()
}

// Dropped counts the frames the ring had no room for.
func (t *Tap) Dropped() uint64 { return t.dropped.Load() }

// Next copies the oldest frame waiting to f; false when none is. It never
// waits: Ready signals that frames came.
func (t *Tap) Next(f *TapFrame) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.n == 0 {
		return false
	}
	*f = t.ring[t.head]
	t.head = (t.head + 1) % len(t.ring)
	t.n--
	return true
}

// Ready receives a value after frames were queued (one value for any
// number of them): drain with Next, then wait on Ready again.
func (t *Tap) Ready() <-chan struct{} { return t.wake }

func (t *Tap) signal() {
	select {
	case t.wake <- struct{}{}:
	default:
	}
}

// put queues one frame of track; called by the clock. frame is in law and
// is converted to PCMU on the copy.
func (t *Tap) put(track TapTrack, frame []byte, law codec.Law, at int64) {
	idx := 0
	if track == TapOutbound {
		idx = 1
	}
	t.chunk[idx]++
	t.mu.Lock()
	if t.closed {
		t.mu.Unlock()
		return
	}
	if t.n == len(t.ring) {
		t.mu.Unlock()
		t.dropped.Add(1)
		t.s.e.tapDropped.Add(1)
		return
	}
	f := &t.ring[(t.head+t.n)%len(t.ring)]
	f.Track, f.Chunk, f.Timestamp = track, t.chunk[idx], (at-t.startAt)/1e6
	transcode(f.Payload[:], frame, law, codec.PCMU)
	t.n++
	t.mu.Unlock()
	t.signal()
}

// received re-chunks an accepted audio payload of the caller into 20 ms
// frames; called by the clock.
func (t *Tap) received(payload []byte, law codec.Law, now int64) {
	for len(payload) > 0 {
		if t.partialN == 0 {
			t.partAt = now
		}
		c := copy(t.partial[t.partialN:], payload)
		t.partialN += c
		payload = payload[c:]
		if t.partialN == codec.FrameSamples {
			t.put(TapInbound, t.partial[:], law, t.partAt)
			t.partialN = 0
		}
	}
}

// tapReceived hands a packet accepted from the caller to the session's taps;
// called by the clock from receivePacket.
func (s *Session) tapReceived(h *rtp.Header, payload []byte, now int64) {
	set := s.taps.Load()
	if set == nil || len(*set) == 0 {
		return
	}
	cfg := s.cfg.Load()
	if cfg == nil || (cfg.eventPayloadType != 0 && h.PayloadType == cfg.eventPayloadType) {
		return
	}
	law, ok := cfg.lawOf(h.PayloadType)
	if !ok {
		return
	}
	for _, t := range *set {
		if t.tracks&TapInbound != 0 {
			t.received(payload, law, now)
		}
	}
}

// tapSent hands the audio frame the session sends this tick to its taps;
// called by the clock from buildFrame (telephone events are not audio).
func (s *Session) tapSent(frame []byte, law codec.Law) {
	set := s.taps.Load()
	if set == nil || len(*set) == 0 {
		return
	}
	now := s.e.now()
	for _, t := range *set {
		if t.tracks&TapOutbound != 0 {
			t.put(TapOutbound, frame, law, now)
		}
	}
}
