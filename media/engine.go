package media

import (
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/netip"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// maxClocks bounds the send clocks of an Engine.
const maxClocks = 4

// DefaultMediaTimeout applies when Config.MediaTimeout is zero.
const DefaultMediaTimeout = 30 * time.Second

// Config is the engine's configuration, usually read from the config file.
type Config struct {
	// IP is the local address every RTP socket binds to; LocalAddr reports it.
	IP netip.Addr
	// PortMin and PortMax bound the RTP ports, inclusive. Only even ports are
	// used; the odd port above each is kept free for RTCP.
	PortMin, PortMax int
	// MediaTimeout ends a started session (Done closes, Err is
	// ErrMediaTimeout) when no RTP arrived for this long, counted from Start,
	// from resuming with SetSending(true), or from the last packet. Zero means
	// DefaultMediaTimeout; a negative value disables the timeout.
	MediaTimeout time.Duration
	// SRTP is rtp.srtp, the SRTP policy, carried for the signalling that negotiates keys
	// (Params.SRTP); the engine itself encrypts whatever a session is started with.
	SRTP string
	// DisableIOUring makes each send clock read and send with a system call a packet instead
	// of one io_uring submit a slot (rtp.io_uring: off). Without it a clock uses a ring when
	// the kernel gives one, and the engine logs a warning when it does not.
	DisableIOUring bool
	// Logger receives session-level events (never one line per packet).
	// Nil discards them.
	Logger *slog.Logger
}

// Engine owns the RTP port range and the send clocks shared by all its
// sessions. It is safe for concurrent use.
type Engine struct {
	ip        netip.Addr // immutable
	log       *slog.Logger
	ports     *rtpPortAllocator
	clocks    []*sendClock  // one per CPU the runtime uses (at most maxClocks); immutable
	batchedIO bool          // the clocks started with rings; immutable
	nextClock atomic.Uint32 // round robin over clocks for new sessions
	origin    time.Time     // monotonic base of every engine-relative time (nanos since origin)
	// tapDropped counts the frames every Tap of the engine had no room for: a clock adds to it
	// when a stream's consumer is slower than real time (rare, and an atomic add only), metrics
	// read it.
	tapDropped atomic.Uint64
	// streamDiscarded counts the frames of applications' audio every StreamFeed of the engine
	// discarded because their tick had passed (StreamFeed.Discarded); a clock adds to it.
	streamDiscarded atomic.Uint64

	mu       sync.Mutex // guards sessions, closed and ended; never held across a syscall
	sessions map[*Session]struct{}
	ended    Totals // what closed sessions sent and received (see Totals)
	closed   bool
}

// NewEngine validates cfg and starts the send clocks.
func NewEngine(cfg Config) (*Engine, error) {
	if !cfg.IP.IsValid() {
		return nil, fmt.Errorf("%w: IP is not set", ErrInvalidConfig)
	}
	ports, err := newRTPPortAllocator(cfg.PortMin, cfg.PortMax)
	if err != nil {
		return nil, err
	}
	timeout := cfg.MediaTimeout
	if timeout == 0 {
		timeout = DefaultMediaTimeout
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	ip := cfg.IP.Unmap()
	e := &Engine{
		ip:       ip,
		log:      log,
		ports:    ports,
		origin:   time.Now(),
		sessions: make(map[*Session]struct{}),
	}
	// One clock per CPU: at two thousand calls a clock's reads and sends take
	// about a third of a core even batched, more without io_uring, and one
	// clock for all of them was no better at p99 (bench/README.md, "Batched
	// system calls").
	for range max(1, min(runtime.GOMAXPROCS(0), maxClocks)) {
		c, err := newSendClock(e.origin, timeout)
		if err != nil {
			for _, c := range e.clocks {
				c.stop()
			}
			return nil, err
		}
		c.log = log
		c.ring, c.batch, err = useRing(cfg.DisableIOUring)
		if len(e.clocks) == 0 {
			e.batchedIO = err == nil
			if err != nil && !cfg.DisableIOUring {
				log.Warn("rtp: no io_uring; each packet is a system call of its own", "err", err)
			}
		}
		e.clocks = append(e.clocks, c)
		go c.run()
	}
	return e, nil
}

// useRing gives a send clock its ring and the batch it submits, or says why not.
func useRing(off bool) (*uring, *ringBatch, error) {
	if off {
		return nil, nil, errURingOff
	}
	r, err := newURing()
	if err != nil {
		return nil, nil, err
	}
	return r, newRingBatch(), nil
}

// BatchedIO reports whether the engine's send clocks started with io_uring (a clock whose
// ring fails goes on without it, and logs so).
func (e *Engine) BatchedIO() bool { return e.batchedIO }

// now is the engine-relative monotonic time in nanoseconds; it never allocates.
func (e *Engine) now() int64 { return int64(time.Since(e.origin)) }

// SessionOption configures one Session at Open.
type SessionOption func(*Session)

// WithTickOf puts the session on other's send clock and in its phase slot,
// so that when the two are bridged (NewBridge) what one leg reads in a tick
// leaves on the other in the same tick: the bridge adds no wait for the
// other leg's turn (up to a frame, 20 ms). Dial opens its callees' sessions
// so. Without it the session gets the next clock and slot, round robin.
func WithTickOf(other *Session) SessionOption {
	return func(s *Session) {
		if other != nil && other.e == s.e {
			s.clock, s.near = other.clock, other
		}
	}
}

// WithSessionLogger sets the logger of the session's events (opened, closed, media timeout), so a
// call's session logs with the call's attributes (call_id, account_id). Default: the engine's logger.
func WithSessionLogger(l *slog.Logger) SessionOption {
	return func(s *Session) {
		if l != nil {
			s.log = l
		}
	}
}

// Open allocates an even port from the range, binds a UDP socket on it and
// puts the session on a clock, which drains the socket from now on. The
// socket stays unconnected, so that any source can be latched and ICMP errors
// cannot break sends. The session sends nothing until Start.
func (e *Engine) Open(opts ...SessionOption) (*Session, error) {
	e.mu.Lock()
	closed := e.closed
	e.mu.Unlock()
	if closed {
		return nil, ErrClosed
	}
	var lastErr error
	for range e.ports.count {
		port, ok := e.ports.reserve()
		if !ok {
			break
		}
		local := netip.AddrPortFrom(e.ip, uint16(port))
		fd, err := openUDP(local)
		if err != nil {
			e.ports.release(port)
			if !errors.Is(err, syscall.EADDRINUSE) && !errors.Is(err, syscall.EACCES) {
				return nil, fmt.Errorf("media: bind %s: %w", local, err)
			}
			lastErr = err // someone else holds it: try the next port
			continue
		}
		s := newSession(e, fd, local, port, opts)
		if err := e.register(s); err != nil {
			unix.Close(fd)
			e.ports.release(port)
			return nil, err
		}
		s.log.Debug("rtp session opened", "local", local)
		return s, nil
	}
	if lastErr != nil {
		return nil, fmt.Errorf("%w (last bind error: %w)", ErrNoPorts, lastErr)
	}
	return nil, ErrNoPorts
}

// register records s and puts it on its clock, which reads its socket from
// then on and sends once Start is called.
func (e *Engine) register(s *Session) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed { // Close ran meanwhile and would not see s
		return ErrClosed
	}
	e.sessions[s] = struct{}{}
	s.clock.add(s, s.near)
	s.near = nil
	return nil
}

// forget drops a closed session from the registry.
func (e *Engine) forget(s *Session) {
	st := s.Stats() // final: the clock is done with s
	e.mu.Lock()
	delete(e.sessions, s)
	e.ended.add(st)
	e.mu.Unlock()
}

// Close closes every session and stops the send clocks. Open fails afterwards.
func (e *Engine) Close() error {
	e.mu.Lock()
	if e.closed {
		e.mu.Unlock()
		return nil
	}
	e.closed = true
	open := make([]*Session, 0, len(e.sessions))
	for s := range e.sessions {
		open = append(open, s)
	}
	e.mu.Unlock()
	for _, s := range open {
		s.Close()
	}
	for _, c := range e.clocks {
		c.stop()
	}
	return nil
}

// randomStart returns the random SSRC, sequence number and timestamp a session
// keeps for its whole life (RFC 3550 §5.1: initial values should be random).
func randomStart() (ssrc uint32, seq uint16, ts uint32) {
	return rand.Uint32(), uint16(rand.Uint32()), rand.Uint32()
}
