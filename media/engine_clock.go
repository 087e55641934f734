package media

import (
	"log/slog"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

const (
	// phaseSlots spreads sessions over the 20 ms frame: a session in slot k
	// sends at k ms, k+20 ms, ... so N sessions cost N/20 sends per wake-up
	// instead of N sends in one burst.
	phaseSlots = 20
	// tickInterval is the clock's schedule step; phaseSlots*tickInterval is
	// one G.711 frame (codec.FrameDuration).
	tickInterval = time.Millisecond
	// maxCatchUpTicks bounds catch-up after a stall to 100 ms, i.e. at most five
	// frames per session sent back to back; older deadlines are skipped.
	maxCatchUpTicks = 5 * phaseSlots
	// timeoutCheckEvery is how often the clock looks for media timeouts.
	timeoutCheckEvery = 250 * time.Millisecond
)

// sendClock is a goroutine that sends and reads RTP for its share of an
// Engine's sessions (each session is on one clock from Open to Close; the
// engine has one per CPU). Deadlines come from a fixed schedule (tick n is
// due at origin + n ms), never from "sleep after work", so pacing does not
// drift and a stall is followed by catch-up.
type sendClock struct {
	origin     time.Time     // immutable
	originMono int64         // origin on CLOCK_MONOTONIC, ns; immutable
	timeout    time.Duration // media timeout, <0 disabled; immutable
	rb         *readBatch    // the run goroutine's receive buffers
	backstop   *backstop     // armed by run behind each sleep on its timer
	log        *slog.Logger  // never nil
	// ring carries the clock's reads and sends, a submit for each slot's (clock_ring.go); nil
	// when the kernel refused one, or the config turned it off, or it failed: then each is a
	// system call of its own. A failed ring stays open in failedRing until stop.
	ring       *uring
	failedRing *uring
	batch      *ringBatch
	late       lateness // how late run served each tick
	// serving is odd while run serves or skips sessions of a slot, which it may hold from a slice
	// loaded before a remove: leave waits for that to end.
	serving atomic.Uint64

	// slots hold the sessions by phase. Writers (add, remove) copy the
	// slice under mu and publish it; run reads the published slices without a
	// lock, so no lock is held while it sends.
	slots [phaseSlots]atomic.Pointer[[]*Session]

	mu       sync.Mutex // guards slot writes and nextSlot
	nextSlot int

	wake    chan struct{} // add signals a sleeping clock (cap 1)
	quit    chan struct{} // closed by stop
	stopped chan struct{} // closed when run returns
	once    sync.Once
}

func newSendClock(origin time.Time, timeout time.Duration) (*sendClock, error) {
	b, err := newBackstop()
	if err != nil {
		return nil, err
	}
	c := &sendClock{
		origin:     origin,
		originMono: monoNow() - int64(time.Since(origin)),
		timeout:    timeout,
		rb:         newReadBatch(),
		backstop:   b,
		log:        slog.New(slog.DiscardHandler),
		wake:       make(chan struct{}, 1),
		quit:       make(chan struct{}),
		stopped:    make(chan struct{}),
	}
	for i := range c.slots {
		c.slots[i].Store(new([]*Session))
	}
	return c, nil
}

// add puts s in the slot of near when near is on this clock, else in the next
// phase slot, round robin; unless s has a slot already.
func (c *sendClock) add(s, near *Session) {
	c.mu.Lock()
	if s.slot >= 0 {
		c.mu.Unlock()
		return
	}
	k := c.nextSlot
	if near != nil && near.clock == c && near.slot >= 0 {
		k = near.slot
	} else {
		c.nextSlot = (c.nextSlot + 1) % phaseSlots
	}
	s.slot = k
	old := *c.slots[k].Load()
	next := append(slices.Clip(old), s)
	c.slots[k].Store(&next)
	c.mu.Unlock()
	select {
	case c.wake <- struct{}{}:
	default:
	}
}

// remove takes s out of its slot; the clock may still serve it once from a
// slice it loaded before, which sendTick tolerates.
func (c *sendClock) remove(s *Session) {
	c.mu.Lock()
	defer c.mu.Unlock()
	k := s.slot
	if k < 0 {
		return
	}
	s.slot = -1
	old := *c.slots[k].Load()
	i := slices.Index(old, s)
	if i < 0 {
		return
	}
	next := make([]*Session, 0, len(old)-1)
	next = append(next, old[:i]...)
	next = append(next, old[i+1:]...)
	c.slots[k].Store(&next)
}

// leave takes s off the clock and waits until the clock cannot be using it: a serve under way may
// hold s from a slice loaded before remove. serve counts itself in serving before it loads its
// slice, so a serve that starts after remove sees the slice without s.
func (c *sendClock) leave(s *Session) {
	c.remove(s)
	if g := c.serving.Load(); g%2 == 1 {
		for c.serving.Load() == g {
			runtime.Gosched()
		}
	}
}

// stop ends run, then the backstop, which run may arm until it returns.
func (c *sendClock) stop() {
	c.once.Do(func() {
		close(c.quit)
		<-c.stopped
		c.backstop.close()
		for _, r := range []*uring{c.ring, c.failedRing} {
			if r != nil {
				r.close()
			}
		}
	})
	<-c.stopped
}

func (c *sendClock) since() time.Duration { return time.Since(c.origin) }

// run is the clock goroutine.
func (c *sendClock) run() {
	defer close(c.stopped)
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	var tick int64 // next tick to serve; due at origin + tick*tickInterval
	var lastCheck time.Duration
	for {
		now := c.since()
		skip, until := planTicks(tick, now)
		if skip > 0 {
			c.skip(tick, skip)
			tick += skip
		}
		for ; tick <= until; tick++ {
			if c.serve(int(tick % phaseSlots)) {
				c.late.observe(now - time.Duration(tick)*tickInterval)
			}
		}
		if now-lastCheck >= timeoutCheckEvery {
			lastCheck = now
			c.checkTimeouts(now)
		}

		next, busy := c.nextBusyTick(tick)
		if !busy {
			// No session: sleep until one is added.
			select {
			case <-c.wake:
				tick = int64(c.since()/tickInterval) + 1
				continue
			case <-c.quit:
				return
			}
		}
		tick = next // empty slots have nothing to send
		// A Go timer wakes up to 1.1 ms late here: an idle runtime sleeps in
		// epoll_wait, which rounds a wait under a millisecond up to one. A
		// late tick finds the next one due too and serves both in one
		// wake-up. A timerfd woke on time (p50 deviation 0.4 -> 0.1 ms) but
		// cost 5-20 % of a core more at 2000 calls, so the timer stays
		// (bench/README.md, "Sixth session"), with a timerfd behind it for
		// what delays it far longer: a GC cycle (backstop).
		wait := time.Duration(next)*tickInterval - c.since()
		if wait <= 0 {
			continue
		}
		c.backstop.arm(c.originMono + next*int64(tickInterval) + backstopDelay)
		timer.Reset(wait)
		// A busy clock is not woken by add: a session added to a slot before next is served from
		// its slot's next tick after next, up to a frame later, which no one hears. Waking it
		// would reset a timer not yet fired, which makes the runtime adjust its heap of timers,
		// tens of thousands at 1000 calls a second (sipgo's transaction timers): 1-10 % of a
		// core (bench/README.md, "Call setup rate").
		select {
		case <-timer.C:
		case <-c.quit:
			timer.Stop()
			return
		}
	}
}

// planTicks says, for the next tick to serve and the time now, how many
// overdue ticks to skip (beyond the catch-up bound) and the last tick due now.
func planTicks(tick int64, now time.Duration) (skip, until int64) {
	until = int64(now / tickInterval)
	if due := until - tick + 1; due > maxCatchUpTicks {
		skip = due - maxCatchUpTicks
	}
	return skip, until
}

// nextBusyTick finds the first tick from tick on whose slot holds a session.
func (c *sendClock) nextBusyTick(tick int64) (int64, bool) {
	for i := range int64(phaseSlots) {
		if len(*c.slots[(tick+i)%phaseSlots].Load()) > 0 {
			return tick + i, true
		}
	}
	return 0, false
}

// serve is one tick of a slot: its sessions read what arrived since their
// last tick, then send their frames. Reading first lets two bridged sessions
// in one slot (WithTickOf) relay in the tick a packet is read, and shifts
// the slot's sends by a few microseconds a session, the same every tick.
// Reading on the clock, one recvmmsg a session every 20 ms, costs no poller:
// an epoll set over the sockets took a wake-up callback per packet sent and
// received and a poll per ready socket (about a seventh of the engine's CPU
// at two thousand calls), and a goroutine of its own.
func (c *sendClock) serve(slot int) bool {
	c.serving.Add(1) // before the load: see leave
	defer c.serving.Add(1)
	sessions := *c.slots[slot].Load()
	if len(sessions) == 0 {
		return false
	}
	if c.ring != nil {
		c.serveRing(sessions)
		return true
	}
	for _, s := range sessions {
		s.readTick(c.rb)
	}
	for _, s := range sessions {
		s.sendTick()
	}
	return true
}

// skip drops count ticks from tick on: each session loses the frames its slot
// had in them, and its timestamp jumps over them so the stream stays on time.
func (c *sendClock) skip(tick, count int64) {
	c.serving.Add(1)
	defer c.serving.Add(1)
	full, rest := count/phaseSlots, count%phaseSlots
	for i := range int64(phaseSlots) {
		frames := full
		if i < rest {
			frames++
		}
		if frames == 0 {
			continue
		}
		for _, s := range *c.slots[(tick+i)%phaseSlots].Load() {
			s.skipFrames(uint32(frames))
		}
	}
}

func (c *sendClock) checkTimeouts(now time.Duration) {
	for k := range c.slots {
		for _, s := range *c.slots[k].Load() {
			if s.finished.Load() {
				c.remove(s)
				continue
			}
			if c.timeout > 0 && s.mediaTimedOut(int64(now), int64(c.timeout)) {
				c.remove(s)
				s.finish(ErrMediaTimeout, func() {
					s.log.Info("rtp media timeout", "local", s.local, "remote", s.Stats().Remote, "timeout", c.timeout)
				})
			}
		}
	}
}
