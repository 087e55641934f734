package media

import (
	"sync/atomic"
	"time"
)

// LatenessBounds are the upper bounds of the buckets in which the send clocks count how late they
// served each tick; the last bucket (beyond the last bound) has none.
var LatenessBounds = [...]time.Duration{
	250 * time.Microsecond, 500 * time.Microsecond, time.Millisecond, 2 * time.Millisecond,
	3 * time.Millisecond, 5 * time.Millisecond, 10 * time.Millisecond, 20 * time.Millisecond,
	50 * time.Millisecond,
}

// Lateness is how late the send clocks served their ticks: a tick is due at its instant, and every
// frame of its sessions goes out late by as much. Counts[i] holds the ticks no later than
// LatenessBounds[i] and above the bound before it; Counts[len(LatenessBounds)] the rest.
type Lateness struct {
	Counts [len(LatenessBounds) + 1]uint64
	Sum    time.Duration // of every served tick's lateness
}

// lateness counts one clock's ticks. The clock's goroutine adds; metrics read.
type lateness struct {
	counts [len(LatenessBounds) + 1]atomic.Uint64
	sum    atomic.Int64 // ns
}

func (l *lateness) observe(d time.Duration) {
	i := 0
	for i < len(LatenessBounds) && d > LatenessBounds[i] {
		i++
	}
	l.counts[i].Add(1)
	l.sum.Add(int64(d))
}

func (l *lateness) addTo(out *Lateness) {
	for i := range l.counts {
		out.Counts[i] += l.counts[i].Load()
	}
	out.Sum += time.Duration(l.sum.Load())
}

// Lateness sums how late every clock of the engine served its ticks, over the engine's life. Only
// ticks with sessions to serve count (an idle slot is not woken for).
func (e *Engine) Lateness() Lateness {
	var out Lateness
	for _, c := range e.clocks {
		c.late.addTo(&out)
	}
	return out
}
