package media

import (
	"sync"
	"sync/atomic"

	"github.com/pion/rtp"

	"github.com/pivotua/pivotua/codec"
)

// Bridge relays media between two sessions anchored in pivotua (Dial's A and
// B legs), both on one Engine.
//
// Design: each leg keeps sending on its own stream, paced by the engine's
// send clock, with its own SSRC, sequence numbers and timestamps. What
// arrives on one leg is not forwarded packet by packet; its audio is put,
// converted to the other leg's G.711 law (PCMU<->PCMA by table, so
// transcoding costs one lookup per sample), into a small sample FIFO, and the
// other leg's clock takes one 20 ms frame from it per tick in place of
// silence or prompts. So packet sizes (a 30 ms sender), jitter and gaps on
// one leg never show on the other: the other leg's stream stays a clean
// 20 ms stream, with silence on underrun. RFC 4733 events received on one
// leg are re-sent, one per tick and in order, on the other leg's
// telephone-event payload type, with a timestamp of its own clock and the
// sender's durations and end bits (dropped if that leg negotiated none).
//
// The FIFO waits for two frames before it starts (and again after running
// dry), which absorbs 30 ms packets and jitter at 40 ms of added delay;
// beyond maxFeedFrames it drops the oldest audio, so clock drift between the
// far ends cannot build up delay.
//
// Per packet nothing allocates: src's clock converts into a buffer of its
// feed, dst's clock copies out of it, each under a mutex held for the copy
// only.
type Bridge struct {
	a, b   *Session
	ab, ba *bridgeFeed // ab: received on a, sent on b; ba the other way
	once   sync.Once
}

const (
	primeFeedFrames = 2  // frames queued before a feed starts sending
	maxFeedFrames   = 10 // 200 ms; beyond it the oldest audio is dropped
	feedBytes       = maxFeedFrames * codec.FrameSamples
	feedEvents      = 16 // telephone-event packets waiting; more drop the oldest
)

// NewBridge connects a and b until Stop: a hears what b sends and b what a
// sends. A session in another bridge gives ErrBusy. The sessions must be
// started (Start) for media to flow; prompts playing on them are held until
// Stop (Play blocks meanwhile).
func NewBridge(a, b *Session) (*Bridge, error) {
	if a == nil || b == nil || a == b || a.e != b.e {
		return nil, ErrInvalidParams
	}
	br := &Bridge{a: a, b: b}
	br.ab = &bridgeFeed{dst: b, src: a, channel: 0, priming: true}
	br.ba = &bridgeFeed{dst: a, src: b, channel: 1, priming: true}
	if !a.feed.CompareAndSwap(nil, br.ba) {
		return nil, ErrBusy
	}
	if !b.feed.CompareAndSwap(nil, br.ab) {
		a.feed.CompareAndSwap(br.ba, nil)
		return nil, ErrBusy
	}
	a.relay.Store(br.ab)
	b.relay.Store(br.ba)
	return br, nil
}

// Stop ends the bridge: each session goes back to its own prompts and
// silence (the next packet carries the marker bit). A recording of the
// bridge stops receiving audio; stop it with its own Stop. Stop twice is
// harmless.
func (br *Bridge) Stop() {
	br.once.Do(func() {
		br.a.relay.CompareAndSwap(br.ab, nil)
		br.b.relay.CompareAndSwap(br.ba, nil)
		br.a.feed.CompareAndSwap(br.ba, nil)
		br.b.feed.CompareAndSwap(br.ab, nil)
	})
}

// bridgeFeed is one direction of a bridge: what src received, waiting to
// leave on dst.
type bridgeFeed struct {
	src, dst *Session // immutable
	channel  int      // recording channel of src's party; immutable
	rec      atomic.Pointer[BridgeRecording]

	mu      sync.Mutex // guards the queue fields; held for copies only
	ring    [feedBytes]byte
	head, n int       // queued audio: n bytes from head, in law
	law     codec.Law // law of the queued audio (dst's at the time it was queued)
	priming bool      // waiting for primeFeedFrames before sending
	events  [feedEvents]relayedEvent
	evHead  int
	evN     int

	conv [readBufferSize]byte // src's clock only: converted payload

	// dst's clock only.
	frame    [codec.FrameSamples]byte
	event    [telephoneEventSize]byte
	pcm      [codec.FrameSamples]int16
	haveEv   bool
	lastEvTS uint32 // sender's timestamp of the last relayed event
	outEvTS  uint32 // our timestamp for it
}

type relayedEvent struct {
	ts      uint32 // sender's event timestamp: identifies the event (RFC 4733 §2.5.1.2)
	payload [telephoneEventSize]byte
}

// ulawToAlaw and alawToUlaw convert one G.711 byte to the other law through
// 16-bit linear, computed once: G.711 transcoding is a table lookup.
var ulawToAlaw, alawToUlaw = g711Tables()

func g711Tables() (u2a, a2u [256]byte) {
	var pcm [1]int16
	var out [1]byte
	for i := range 256 {
		codec.DecodeFrame(codec.PCMU, pcm[:], []byte{byte(i)})
		codec.EncodeFrame(codec.PCMA, out[:], pcm[:])
		u2a[i] = out[0]
		codec.DecodeFrame(codec.PCMA, pcm[:], []byte{byte(i)})
		codec.EncodeFrame(codec.PCMU, out[:], pcm[:])
		a2u[i] = out[0]
	}
	return u2a, a2u
}

// transcode converts src (in from) to dst (in to) and returns the bytes written.
func transcode(dst, src []byte, from, to codec.Law) int {
	n := min(len(dst), len(src))
	switch {
	case from == to:
		copy(dst, src[:n])
	case from == codec.PCMU:
		for i, b := range src[:n] {
			dst[i] = ulawToAlaw[b]
		}
	default:
		for i, b := range src[:n] {
			dst[i] = alawToUlaw[b]
		}
	}
	return n
}

// push takes one accepted packet received on src; called on src's clock. It
// never allocates.
func (f *bridgeFeed) push(h *rtp.Header, payload []byte) {
	scfg, dcfg := f.src.cfg.Load(), f.dst.cfg.Load()
	if scfg == nil || dcfg == nil {
		return
	}
	pt := h.PayloadType
	if scfg.eventPayloadType != 0 && pt == scfg.eventPayloadType {
		if len(payload) < telephoneEventSize {
			return
		}
		f.mu.Lock()
		if f.evN == feedEvents {
			f.evHead = (f.evHead + 1) % feedEvents
			f.evN--
		}
		e := &f.events[(f.evHead+f.evN)%feedEvents]
		e.ts = h.Timestamp
		copy(e.payload[:], payload)
		f.evN++
		f.mu.Unlock()
		return
	}
	law, ok := scfg.lawOf(pt)
	if !ok {
		return // comfort noise, events and strangers
	}
	n := transcode(f.conv[:], payload, law, dcfg.law)
	data := f.conv[:n]
	if len(data) > feedBytes {
		data = data[len(data)-feedBytes:]
	}
	f.mu.Lock()
	if f.law != dcfg.law {
		f.law, f.head, f.n, f.priming = dcfg.law, 0, 0, true
	}
	if over := f.n + len(data) - feedBytes; over > 0 {
		f.head = (f.head + over) % feedBytes
		f.n -= over
	}
	tail := (f.head + f.n) % feedBytes
	c := copy(f.ring[tail:], data)
	copy(f.ring[:], data[c:])
	f.n += len(data)
	f.mu.Unlock()
}

// next is dst's frame for this tick; called by the clock from buildFrame. It
// returns a relayed telephone-event packet (isEvent), a frame of src's audio,
// or silence while the FIFO primes. It never allocates.
func (f *bridgeFeed) next(tx *txState, cfg *sendConfig) (payload []byte, pt uint8, ts uint32, marker, isEvent bool) {
	var ev relayedEvent
	haveEvent, haveAudio := false, false
	f.mu.Lock()
	for f.evN > 0 && !haveEvent {
		ev = f.events[f.evHead]
		f.evHead = (f.evHead + 1) % feedEvents
		f.evN--
		haveEvent = cfg.eventPayloadType != 0 // no telephone-event on this leg: dropped
	}
	if !haveEvent {
		if f.priming && f.n >= primeFeedFrames*codec.FrameSamples {
			f.priming = false
		}
		switch {
		case f.priming:
		case f.n >= codec.FrameSamples:
			c := copy(f.frame[:], f.ring[f.head:min(f.head+codec.FrameSamples, feedBytes)])
			copy(f.frame[c:], f.ring[:codec.FrameSamples-c])
			f.head = (f.head + codec.FrameSamples) % feedBytes
			f.n -= codec.FrameSamples
			haveAudio = true
		default:
			f.priming = true // ran dry: wait for two frames again
		}
	}
	law := f.law
	f.mu.Unlock()

	if haveEvent {
		if !f.haveEv || ev.ts != f.lastEvTS {
			f.haveEv, f.lastEvTS, f.outEvTS = true, ev.ts, tx.ts
			marker = true
		}
		copy(f.event[:], ev.payload[:])
		f.record(nil, cfg.law)
		return f.event[:], cfg.eventPayloadType, f.outEvTS, marker, true
	}
	payload = cfg.silence[:]
	if haveAudio {
		if law != cfg.law { // a re-INVITE changed dst's law since this was queued
			transcode(f.frame[:], f.frame[:], law, cfg.law)
		}
		payload = f.frame[:]
	}
	f.record(payload, cfg.law)
	return payload, cfg.payloadType, tx.ts, tx.marker, false
}

// record hands the frame dst sends (src's party's voice) to the bridge
// recording, if any; nil means silence. Called by dst's clock.
func (f *bridgeFeed) record(frame []byte, law codec.Law) {
	rec := f.rec.Load()
	if rec == nil {
		return
	}
	if frame == nil {
		clear(f.pcm[:])
	} else {
		codec.DecodeFrame(law, f.pcm[:], frame)
	}
	rec.put(f.channel, &f.pcm)
}
