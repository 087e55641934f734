package media

import (
	"testing"
	"time"

	"github.com/pivotua/pivotua/internal/testkit"
)

// The clocks count every tick they serve in the lateness histogram, and only those.
func TestEngineCountsHowLateItsTicksWere(t *testing.T) {
	e := newTestEngine(t, 4, nil)
	if l := e.Lateness(); sum(l.Counts[:]) != 0 {
		t.Fatalf("an engine without sessions counted %v ticks", l.Counts)
	}
	peer := newTestPeer(t)
	s := openSession(t, e)
	startToward(t, s, peer)
	for range 10 {
		peer.next(5 * time.Second)
	}
	// The tick that sent the tenth frame is counted once its serve returns.
	testkit.WaitFor(t, 5*time.Second, "10 ticks counted", func() bool { l := e.Lateness(); return sum(l.Counts[:]) >= 10 })
	if l := e.Lateness(); l.Sum < 0 {
		t.Fatalf("lateness sum %v", l.Sum)
	}
}

// observe puts a lateness in the first bucket whose bound holds it.
func TestLatenessBuckets(t *testing.T) {
	var l lateness
	for _, d := range []time.Duration{0, 250 * time.Microsecond, 251 * time.Microsecond, 2 * time.Millisecond, time.Second} {
		l.observe(d)
	}
	var out Lateness
	l.addTo(&out)
	want := [len(LatenessBounds) + 1]uint64{0: 2, 1: 1, 3: 1, len(LatenessBounds): 1}
	if out.Counts != want {
		t.Fatalf("buckets %v, want %v", out.Counts, want)
	}
}

func sum(xs []uint64) (n uint64) {
	for _, x := range xs {
		n += x
	}
	return n
}
