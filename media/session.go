package media

import (
	"fmt"
	"log/slog"
	"net/netip"
	"runtime"
	"sync"
	"sync/atomic"

	"github.com/pion/rtp"
	"golang.org/x/sys/unix"

	"github.com/pivotua/pivotua/codec"
)

const (
	rtpHeaderSize    = 12 // RFC 3550 §5.1, without CSRCs or extensions
	packetBufferSize = rtpHeaderSize + codec.FrameSamples
	readBufferSize   = 1500
)

// Params describe the far end of a session, from the SDP offer/answer.
type Params struct {
	// Remote is where to send until packets arrive (symmetric RTP then sends
	// to their real source). Packets from it are heard at once; from another
	// source only after strict learning (session_receive.go). An invalid or
	// unspecified address sends nothing until a source latches.
	Remote netip.AddrPort
	// Law is the G.711 variant to send.
	Law codec.Law
	// PayloadType is the RTP payload type to send; for the static G.711 types
	// it equals uint8(Law), and zero with PCMA means 8.
	PayloadType uint8
	// EventPayloadType is the negotiated RFC 4733 telephone-event type, 0 for
	// none: received events on it are reported to OnDigit and SendDigits
	// sends on it. With 0, OnDigit listens for in-band tones instead and
	// SendDigits fails with ErrNoTelephoneEvent.
	EventPayloadType uint8
	// SRTP protects the stream (srtp.go); zero for plain RTP.
	SRTP SRTP
}

// sendConfig is what Start hands the clock: immutable once published.
type sendConfig struct {
	law              codec.Law
	payloadType      uint8
	eventPayloadType uint8
	silence          *[codec.FrameSamples]byte // the law's silence frame, shared by every session: never written
	srtp             *srtpState                // nil for plain RTP; its contexts are the clock's (srtp.go)
}

// silenceFrames are the two laws' silence frames, one for all sessions rather than a copy in each
// session's sendConfig (160 of its 192 bytes, kept for the call's life).
var silenceFrames = func() (f [2][codec.FrameSamples]byte) {
	for i, l := range []codec.Law{codec.PCMU, codec.PCMA} {
		for j := range f[i] {
			f[i][j] = codec.SilenceByte(l)
		}
	}
	return f
}()

// lawSilence is l's silence frame (silenceFrames).
func lawSilence(l codec.Law) *[codec.FrameSamples]byte {
	if l == codec.PCMA {
		return &silenceFrames[1]
	}
	return &silenceFrames[0]
}

// lawOf names the G.711 law of an audio payload type: the static PCMU and PCMA
// types, or the negotiated one; false for anything else (comfort noise, events,
// strangers).
func (c *sendConfig) lawOf(pt uint8) (codec.Law, bool) {
	switch pt {
	case uint8(codec.PCMU):
		return codec.PCMU, true
	case uint8(codec.PCMA):
		return codec.PCMA, true
	case c.payloadType:
		return c.law, true
	}
	return 0, false
}

// Session is one RTP stream pair on its own port. Its methods are safe for
// concurrent use, except that Play calls are serialised by the caller (a
// second concurrent Play gets ErrBusy).
type Session struct {
	e     *Engine
	fd    int            // the UDP socket (socket.go); closed by Close once the clock left it
	local netip.AddrPort // immutable
	port  int            // immutable
	ssrc  uint32         // our SSRC; immutable
	log   *slog.Logger   // the session's events (never per packet); immutable

	// Control state. Written by API callers, read by the clock through atomics.
	cfg          atomic.Pointer[sendConfig]     // nil until Start; replaced by each Start
	sending      atomic.Bool                    // SetSending; true from Open
	play         atomic.Pointer[playback]       // set by Play, cleared by Play or by the clock when done
	remote       atomic.Pointer[netip.AddrPort] // send address: Start declares it, the clock latches it (under mu)
	startGen     atomic.Uint32                  // bumped by Start (under mu); the clock re-latches when it changes
	activityBase atomic.Int64                   // engine nanos of the last Start or resume; timeout base with lastReceived
	receiver     atomic.Pointer[func(h *rtp.Header, payload []byte)]
	onDigit      atomic.Pointer[func(Digit)] // OnDigit; called by the clock
	dtmf         atomic.Pointer[dtmfSend]    // set by SendDigits, cleared by the clock when done (or SendDigits on session end)
	recording    atomic.Pointer[Recording]   // set by StartRecording, cleared by Stop; fed by the clock
	feed         atomic.Pointer[roomParty]   // set by Room.Join, cleared by Leave: the clock sends what it holds
	relay        atomic.Pointer[roomParty]   // set by Room.Join, cleared by Leave: the clock hands it what arrives
	taps         atomic.Pointer[tapSet]      // StartTap/Tap.Stop (copy on write under mu); the clock copies audio to them (tap.go)
	streamFeed   atomic.Pointer[StreamFeed]  // PlayStream/StopStream; the clock sends what it holds (feed_stream.go)
	finished     atomic.Bool                 // set just before done closes; the clock stops serving the session
	endedAt      atomic.Int64                // engine nanos when done closed, 0 before; set by finish, read by Recording.Stop

	// Statistics, written by the clock; Stats reads them atomically.
	packetsSent, bytesSent, sendErrors          atomic.Uint64
	packetsReceived, bytesReceived, packetsLost atomic.Uint64
	lastReceived                                atomic.Int64 // engine nanos, 0 = never
	remoteSSRC                                  atomic.Uint32

	mu     sync.Mutex // serialises Start, Close and latch changes; never held across a syscall
	closed bool

	clock *sendClock // the engine's clock that serves the session; immutable
	slot  int        // phase slot, -1 when not on the clock; guarded by the clock's mu
	near  *Session   // WithTickOf's session, until Open puts s on the clock

	tx   txState     // owned by the clock goroutine (and by Open before it starts)
	rx   rxState     // owned by the clock goroutine
	busy atomic.Bool // set by the clock while it may use fd (see Close)

	done     chan struct{} // closed once, by finish
	err      error         // written once before done closes; read after it
	doneOnce sync.Once
	ended    atomic.Pointer[func()] // what AfterDone arranged to run once done closes
}

func newSession(e *Engine, fd int, local netip.AddrPort, port int, opts []SessionOption) *Session {
	ssrc, seq, ts := randomStart()
	s := &Session{
		e:     e,
		log:   e.log,
		fd:    fd,
		local: local,
		port:  port,
		ssrc:  ssrc,
		slot:  -1,
		clock: e.clocks[e.nextClock.Add(1)%uint32(len(e.clocks))],
	}
	s.done = make(chan struct{})
	s.sending.Store(true)
	s.tx = txState{
		header: rtp.Header{Version: 2, SSRC: ssrc},
		buf:    make([]byte, packetBufferSize, packetBufferSize+srtpMaxTagLen), // room for SRTP's tag (srtp.go)
		dst:    sockaddr{v6: local.Addr().Is6()},
		seq:    seq,
		ts:     ts,
		marker: true,
	}
	for _, o := range opts {
		o(s)
	}
	return s
}

// LocalAddr is the address the session receives on, for the SDP.
func (s *Session) LocalAddr() netip.AddrPort { return s.local }

// Start begins sending: the playing prompt's frames, or silence when nothing
// plays. It may be called again (re-INVITE: new remote, law or payload type);
// SSRC, sequence and timestamp continue, the next packet carries the marker
// bit and the sender re-latches to the first source that sends after it.
func (s *Session) Start(p Params) error {
	if p.Law != codec.PCMU && p.Law != codec.PCMA {
		return fmt.Errorf("%w: law %d", ErrInvalidParams, p.Law)
	}
	pt := p.PayloadType
	if pt == 0 && p.Law == codec.PCMA {
		pt = uint8(codec.PCMA)
	}
	if pt > 127 || p.EventPayloadType > 127 {
		return fmt.Errorf("%w: payload type %d/%d", ErrInvalidParams, pt, p.EventPayloadType)
	}
	cfg := &sendConfig{law: p.Law, payloadType: pt, eventPayloadType: p.EventPayloadType, silence: lawSilence(p.Law)}
	if pb := s.play.Load(); pb != nil {
		pb.prompt.Frames(p.Law) // encode now, not on the clock, if the law changes mid-prompt
	}
	remote := netip.AddrPortFrom(p.Remote.Addr().Unmap(), p.Remote.Port())

	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed || s.finished.Load() {
		return s.errOrClosed()
	}
	if old := s.cfg.Load(); old != nil && old.srtp.sameKeys(p.SRTP) {
		cfg.srtp = old.srtp // the same keys go on with the same counters and replay window
	} else if st, err := newSRTPState(p.SRTP); err != nil {
		return err
	} else {
		cfg.srtp = st
	}
	s.remote.Store(&remote)
	s.activityBase.Store(s.e.now())
	s.cfg.Store(cfg)
	s.startGen.Add(1)
	return nil
}

// SetSending turns sending on or off (hold). While off no RTP leaves, but the
// clock keeps running: the timestamp and a playing prompt advance, and the
// media timeout is suspended. Turning it back on sets the marker bit and
// restarts the media timeout window.
func (s *Session) SetSending(on bool) {
	if was := s.sending.Swap(on); on && !was {
		s.activityBase.Store(s.e.now())
	}
}

// SetReceiver installs fn to be called on the session's clock goroutine for
// every accepted RTP packet (after Start, from the latched source), within a
// frame time (20 ms) of its arrival. h and payload are only valid during the
// call: copy what you keep. fn must not block and must not call Close. A nil
// fn removes the hook.
func (s *Session) SetReceiver(fn func(h *rtp.Header, payload []byte)) {
	if fn == nil {
		s.receiver.Store(nil)
		return
	}
	s.receiver.Store(&fn)
}

// Done is closed on media timeout or Close.
func (s *Session) Done() <-chan struct{} { return s.done }

// AfterDone arranges for f to run on a goroutine of its own once Done closes
// (at once if it has), so that waiting for the session's end costs no
// goroutine; the session holds one f at a time. stop keeps f from running and
// reports whether it did; false: f has started, or was replaced. It is
// context.AfterFunc without a context and its children: 0.4 KB a session.
func (s *Session) AfterDone(f func()) (stop func() bool) {
	p := &f
	s.ended.Store(p)
	select {
	case <-s.done:
		s.runEnded()
	default:
	}
	return func() bool { return s.ended.CompareAndSwap(p, nil) }
}

// runEnded starts what AfterDone arranged, once: whoever takes it runs it.
func (s *Session) runEnded() {
	if f := s.ended.Swap(nil); f != nil {
		go (*f)()
	}
}

// Err is nil while the session runs, then ErrMediaTimeout or ErrClosed.
func (s *Session) Err() error {
	select {
	case <-s.done:
		return s.err
	default:
		return nil
	}
}

func (s *Session) errOrClosed() error {
	if err := s.Err(); err != nil {
		return err
	}
	return ErrClosed
}

// finish closes done with err once; before, if not nil, runs first and only
// for the call that closes it.
func (s *Session) finish(err error, before func()) {
	s.doneOnce.Do(func() {
		s.err = err
		s.endedAt.Store(max(s.e.now(), 1))
		s.finished.Store(true)
		if before != nil {
			before() // e.g. the timeout's log line, ahead of whatever Done wakes
		}
		close(s.done)
		s.runEnded()
	})
}

// waitClockLeft waits until the clock is not using s, for callers that took
// s off its slot (clock.remove) and, for Close, set finished: the clock may
// still hold s from a slot it loaded before remove, but it sets busy before
// it checks finished, so once busy reads false it will not use fd again.
func (s *Session) waitClockLeft() {
	for s.busy.Load() {
		runtime.Gosched()
	}
}

// mediaTimedOut is called by the clock. A session not started yet has no
// timeout.
func (s *Session) mediaTimedOut(now, timeout int64) bool {
	if !s.sending.Load() || s.startGen.Load() == 0 {
		return false
	}
	last := max(s.activityBase.Load(), s.lastReceived.Load())
	return now-last > timeout
}

// Close stops sending and receiving, unblocks Play, closes Done and frees
// the port. It waits for the clock to leave the session, so a receiver hook
// is not called after Close returns. Closing twice is harmless.
func (s *Session) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	s.mu.Unlock()

	s.clock.remove(s)
	s.finish(ErrClosed, nil)
	// fd may be closed once the clock has left it: a closed descriptor's
	// number is reused at once, maybe by a TCP connection.
	s.waitClockLeft()
	err := unix.Close(s.fd)
	s.e.ports.release(s.port)
	s.e.forget(s)
	s.log.Debug("rtp session closed", "local", s.local, "err", s.err)
	if err != nil {
		return fmt.Errorf("media: close %s: %w", s.local, err)
	}
	return nil
}
