package media

import (
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// backstopDelay is how long after a tick's instant the backstop fires if the
// clock has not woken by then. The Go timer the clock sleeps on is normally
// up to 1.1 ms late (see run), so the backstop rarely fires outside a GC cycle.
const backstopDelay = 1200_000 // ns

// backstop wakes the runtime when a send clock's Go timer is overdue.
//
// During a GC cycle, a P with nothing to run runs an idle mark worker, which
// gives the P back as soon as a goroutine is queued or the network poller
// has something ready, but not when a timer on that P is due
// (golang/go#45632). A clock asleep on its Go timer then wakes only when the
// worker runs out of work or is preempted, up to 10 ms later: with pivotua
// alone on its CPUs (real-time priority, bench/README.md "Seventh session")
// its pacing p99 at 2000 calls was 1.5-8 ms and p99.9 17-27 ms, against 1.0
// and 1.2-3.2 ms with the GC off. The backstop is a timerfd that a goroutine
// of its own reads through the poller, armed a little after each tick the
// clock sleeps toward: if it expires, the poller has something ready, the
// idle worker yields, and the P that gets back to its scheduler runs its due
// timers first. A clock on time re-arms it before it expires, so it costs a
// timerfd_settime a wake-up and no wake-up of its own.
//
// Sleeping on the timerfd itself instead of a Go timer woke on time (p50
// deviation 0.04 ms) but cost 15-20 % of a core more at 2000 calls: every
// tick became a poller event handed from thread to thread, and the Go timer's
// habit of serving two ticks in one late wake-up was lost.
type backstop struct {
	fd      int
	f       *os.File      // fd, registered with the poller (the fd is non-blocking)
	drained chan struct{} // closed when drain returns
}

func newBackstop() (*backstop, error) {
	fd, err := unix.TimerfdCreate(unix.CLOCK_MONOTONIC, unix.TFD_NONBLOCK|unix.TFD_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("media: clock timerfd: %w", err)
	}
	b := &backstop{fd: fd, f: os.NewFile(uintptr(fd), "send clock backstop"), drained: make(chan struct{})}
	go b.drain()
	return b, nil
}

// drain reads each expiry, which is all it takes to be poller work.
func (b *backstop) drain() {
	defer close(b.drained)
	var count [8]byte
	for {
		if _, err := b.f.Read(count[:]); err != nil {
			return // closed
		}
	}
}

// arm sets the backstop to expire when CLOCK_MONOTONIC reaches at (ns),
// replacing any earlier setting. Only the clock's goroutine calls it.
func (b *backstop) arm(at int64) {
	spec := unix.ItimerSpec{Value: unix.NsecToTimespec(at)}
	_ = unix.TimerfdSettime(b.fd, unix.TFD_TIMER_ABSTIME, &spec, nil) // cannot fail on a valid fd and a positive time
}

// close ends drain and waits for it; call it once the clock has stopped arming.
func (b *backstop) close() {
	_ = b.f.Close()
	<-b.drained
}

// monoNow reads CLOCK_MONOTONIC, the clock Go's monotonic time and the
// timerfd both count on.
func monoNow() int64 {
	var ts unix.Timespec
	_ = unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts)
	return ts.Nano()
}
