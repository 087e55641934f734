package media

import (
	"crypto/rand"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/pivotua/pivotua/codec"
	"github.com/pivotua/pivotua/internal/testkit"
)

func TestPortAllocatorHandsOutEveryEvenPortOnceAtRandom(t *testing.T) {
	a, err := newRTPPortAllocator(10001, 10200) // even ports 10002..10200
	if err != nil {
		t.Fatal(err)
	}
	seen := map[int]bool{}
	next := 0 // draws that gave the port after the previous one, as in-order allocation does
	prev := 0
	for {
		p, ok := a.reserve()
		if !ok {
			break
		}
		if p%2 != 0 || p < 10002 || p > 10200 || seen[p] {
			t.Fatalf("port %d: want a new even port in 10002-10200", p)
		}
		if p == prev+2 {
			next++
		}
		seen[p], prev = true, p
	}
	if len(seen) != 100 {
		t.Fatalf("%d ports handed out, want all 100", len(seen))
	}
	// In order, 99 of 99 draws give the port after the previous one; at random about one.
	if next > 10 {
		t.Errorf("%d of 99 draws gave the previous port + 2: predictable", next)
	}
	a.release(10003) // odd: never handed out, ignored
	if p, ok := a.reserve(); ok {
		t.Errorf("reserved %d after releasing an odd port", p)
	}
}

// A freed port waits behind a quarter of the range before it is drawn again,
// unless no other port is free.
func TestPortAllocatorHoldsFreedPortsBack(t *testing.T) {
	a, err := newRTPPortAllocator(20000, 20078) // 40 even ports: 10 held back
	if err != nil {
		t.Fatal(err)
	}
	var ports []int
	for range 30 {
		p, _ := a.reserve()
		ports = append(ports, p)
	}
	freed := ports[0]
	a.release(freed)
	for range 10 {
		if p, _ := a.reserve(); p == freed {
			t.Fatalf("the port freed last came back while 10 others were free")
		}
	}
	if p, ok := a.reserve(); !ok || p != freed {
		t.Fatalf("with no other port free got %d %v, want the freed %d", p, ok, freed)
	}
	if _, ok := a.reserve(); ok {
		t.Fatal("reserved a port past the range")
	}
}

// crypto/rand may block (early boot, a starved entropy source): its read must
// not hold up every other call's port reservation and release behind the lock.
func TestPortAllocatorReadsRandomnessOutsideTheLock(t *testing.T) {
	a, err := newRTPPortAllocator(30000, 30100)
	if err != nil {
		t.Fatal(err)
	}
	reads := 0
	a.random = func(b []byte) (int, error) {
		reads++
		if !a.mu.TryLock() {
			t.Error("random bytes read while holding the allocator's lock")
		} else {
			a.mu.Unlock()
		}
		return rand.Read(b)
	}
	for range 10 {
		p, ok := a.reserve()
		if !ok {
			t.Fatal("no port")
		}
		a.release(p)
	}
	if reads == 0 {
		t.Error("reserve drew no random bytes")
	}
}

func TestPortAllocatorRejectsBadRanges(t *testing.T) {
	for _, r := range [][2]int{{0, 100}, {2000, 1000}, {3001, 3001}, {60000, 70000}} {
		if _, err := newRTPPortAllocator(r[0], r[1]); !errors.Is(err, ErrInvalidConfig) {
			t.Errorf("range %v: %v", r, err)
		}
	}
}

func TestEngineOpenUsesEvenPortsAndRunsOut(t *testing.T) {
	e := newTestEngine(t, 3, nil)
	var open []*Session
	var err error
	for range 4 {
		var s *Session
		if s, err = e.Open(); err != nil {
			break
		}
		open = append(open, s)
		t.Cleanup(func() { s.Close() })
	}
	if !errors.Is(err, ErrNoPorts) {
		t.Fatalf("Open past the range: %v", err)
	}
	if len(open) == 0 {
		t.Fatal("no port could be bound")
	}
	lo, hi := e.ports.first, e.ports.first+2*(e.ports.count-1)
	for _, s := range open {
		p := int(s.LocalAddr().Port())
		if p%2 != 0 || p < lo || p > hi {
			t.Errorf("port %d: want even in %d-%d", p, lo, hi)
		}
		if s.LocalAddr().Addr() != loopback {
			t.Errorf("local addr %s", s.LocalAddr())
		}
	}
	freed := open[0].LocalAddr()
	open[0].Close()
	s, err := e.Open()
	if err != nil {
		t.Fatalf("Open after Close: %v", err)
	}
	defer s.Close()
	if s.LocalAddr() != freed {
		t.Errorf("reused %s, want the freed %s", s.LocalAddr(), freed)
	}
}

func TestEngineCloseClosesSessions(t *testing.T) {
	e := newTestEngine(t, 4, nil)
	a := openSession(t, e)
	b := openSession(t, e)
	peer := newTestPeer(t)
	if err := a.Start(Params{Remote: peer.addr(), Law: codec.PCMU}); err != nil {
		t.Fatal(err)
	}
	peer.next(2 * time.Second)
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
	for _, s := range []*Session{a, b} {
		select {
		case <-s.Done():
		default:
			t.Error("session open after Engine.Close")
		}
	}
	if _, err := e.Open(); !errors.Is(err, ErrClosed) {
		t.Errorf("Open after Close: %v", err)
	}
}

func TestNewEngineRejectsMissingIP(t *testing.T) {
	if _, err := NewEngine(Config{PortMin: 20000, PortMax: 20010}); !errors.Is(err, ErrInvalidConfig) {
		t.Errorf("got %v", err)
	}
}

func TestPlanTicksBoundsCatchUp(t *testing.T) {
	for _, c := range []struct {
		tick      int64
		now       time.Duration
		skip, end int64
	}{
		{tick: 10, now: 9 * time.Millisecond, skip: 0, end: 9},               // early: nothing due
		{tick: 10, now: 10*time.Millisecond + 300*time.Microsecond, end: 10}, // one due
		{tick: 0, now: 99 * time.Millisecond, end: 99},                       // 100 due: all sent
		{tick: 0, now: 500 * time.Millisecond, skip: 401, end: 500},          // stall: keep the last 100
	} {
		skip, end := planTicks(c.tick, c.now)
		if skip != c.skip || end != c.end {
			t.Errorf("planTicks(%d, %v) = %d, %d; want %d, %d", c.tick, c.now, skip, end, c.skip, c.end)
		}
	}
}

func TestClockSkipAdvancesTimestampsBySkippedFrames(t *testing.T) {
	e := newTestEngine(t, 8, nil)
	c := idleClock(t) // not running: the test owns the sessions' sender state
	var ss []*Session
	for range 3 {
		s := openSession(t, e)
		offClock(s)   // from the engine's clock
		c.add(s, nil) // slots 0, 1, 2
		ss = append(ss, s)
	}
	before := []uint32{ss[0].tx.ts, ss[1].tx.ts, ss[2].tx.ts}
	c.skip(0, 2*phaseSlots+1) // slot 0 misses 3 frames, the others 2
	for i, want := range []uint32{3, 2, 2} {
		if d := ss[i].tx.ts - before[i]; d != want*codec.FrameSamples {
			t.Errorf("slot %d: timestamp advanced %d, want %d", i, d, want*codec.FrameSamples)
		}
		if !ss[i].tx.marker {
			t.Errorf("slot %d: no marker after the skip", i)
		}
	}
}

func TestSessionLogsWithItsCallersLogger(t *testing.T) {
	e := newTestEngine(t, 4, func(c *Config) { c.MediaTimeout = 200 * time.Millisecond })
	var buf testkit.SyncBuffer
	callLog := slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug})).With("call_id", "c-1", "account_id", "a-1")
	s, err := e.Open(WithSessionLogger(callLog))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(Params{Remote: newTestPeer(t).addr(), Law: codec.PCMU}); err != nil {
		t.Fatal(err)
	}
	select {
	case <-s.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("no media timeout")
	}
	s.Close()
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	want := []string{"rtp session opened", "rtp media timeout", "rtp session closed"}
	if len(lines) != len(want) {
		t.Fatalf("log lines:\n%s", buf.String())
	}
	for i, line := range lines {
		if !strings.Contains(line, want[i]) || !strings.Contains(line, "call_id=c-1") || !strings.Contains(line, "account_id=a-1") {
			t.Errorf("line %d %q: want %q with call_id and account_id", i, line, want[i])
		}
	}
}
