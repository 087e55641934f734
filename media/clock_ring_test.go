package media

import (
	"testing"
	"time"

	"github.com/pivotua/pivotua/codec"
	"github.com/pivotua/pivotua/internal/testkit"
)

func TestEngineUsesARingWhenTheKernelGivesOne(t *testing.T) {
	r, err := newURing()
	if err != nil {
		t.Skipf("this kernel gives no io_uring (%v): the engine goes on with system calls, which TestBothIOPathsServeACrowdedSlot covers", err)
	}
	r.close()
	if e := newTestEngine(t, 2, func(c *Config) { c.DisableIOUring = false }); !e.BatchedIO() {
		t.Error("the engine did not take a ring the kernel gives")
	}
	if e := newTestEngine(t, 2, func(c *Config) { c.DisableIOUring = true }); e.BatchedIO() {
		t.Error("DisableIOUring: the engine took a ring")
	}
}

// A slot of 300 sessions is more than one submit carries (reads: uringEntries/readsPerRound
// sessions), and three datagrams waiting on each socket are more than one read round takes.
func TestBothIOPathsServeACrowdedSlot(t *testing.T) {
	for _, tc := range []struct {
		name string
		off  bool
	}{{"io_uring", false}, {"system calls", true}} {
		t.Run(tc.name, func(t *testing.T) {
			const n, each = 300, 3
			e := newTestEngine(t, n+2, func(c *Config) { c.DisableIOUring = tc.off })
			peer := newTestPeer(t)
			first := openSession(t, e)
			sessions := []*Session{first}
			for range n - 1 {
				s, err := e.Open(WithTickOf(first))
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { s.Close() })
				sessions = append(sessions, s)
			}
			if sessions[n-1].slot != first.slot || sessions[n-1].clock != first.clock {
				t.Fatal("WithTickOf did not put the sessions in one slot")
			}
			for i, s := range sessions {
				startToward(t, s, peer)
				for seq := range uint16(each) {
					peer.send(s.LocalAddr(), uint32(1000+i), seq, uint32(seq)*codec.FrameSamples, silenceFrame(codec.PCMU))
				}
			}
			testkit.WaitFor(t, 3*time.Second, "every session's datagrams", func() bool {
				for _, s := range sessions {
					if s.Stats().PacketsReceived != each {
						return false
					}
				}
				return true
			})
			heard := map[string]bool{}
			deadline := time.Now().Add(3 * time.Second)
			for len(heard) < n && time.Now().Before(deadline) {
				heard[peer.next(time.Second).from.String()] = true
			}
			if len(heard) != n {
				t.Fatalf("the peer heard %d of %d sessions", len(heard), n)
			}
			for _, s := range sessions {
				if st := s.Stats(); st.SendErrors != 0 {
					t.Fatalf("%s: %d send errors", s.LocalAddr(), st.SendErrors)
				}
			}
		})
	}
}

// A ring that fails leaves its clock to system calls: the slot's sends go out in the same tick,
// and what the failed submit did not read is read at the next.
func TestAFailedRingLeavesTheClockToSystemCalls(t *testing.T) {
	r, err := newURing()
	if err != nil {
		t.Skipf("this kernel gives no io_uring: %v", err)
	}
	t.Cleanup(r.close)
	e := newTestEngine(t, 2, nil)
	s := openSession(t, e)
	peer := newTestPeer(t)
	startToward(t, s, peer)
	offClock(s)

	c := idleClock(t)
	broken := *r // the same rings, but io_uring_enter gets EBADF
	broken.fd = -1
	c.ring, c.batch = &broken, newRingBatch()
	c.add(s, nil)
	t.Cleanup(func() { c.remove(s) })
	peer.drain()
	peer.send(s.LocalAddr(), 77, 1, 160, silenceFrame(codec.PCMU))
	time.Sleep(50 * time.Millisecond) // the datagram is in the socket

	c.serve(s.slot)
	if c.ring != nil || c.failedRing != &broken {
		t.Fatal("the clock kept a ring that failed")
	}
	peer.next(time.Second) // sent in the tick the ring failed
	if got := s.Stats().PacketsReceived; got != 0 {
		t.Fatalf("received %d in the failed submit's tick", got)
	}
	c.serve(s.slot)
	if got := s.Stats().PacketsReceived; got != 1 {
		t.Fatalf("received %d at the next tick, want 1", got)
	}
	peer.next(time.Second)
}

// slotOfSessions is a clock the caller drives (its goroutine is not started) with n sessions in
// one slot, each sending silence toward a sink; the clock has a ring unless noRing.
func slotOfSessions(tb testing.TB, n int, noRing bool) (*sendClock, int) {
	tb.Helper()
	c := idleClock(tb)
	if !noRing {
		r, err := newURing()
		if err != nil {
			tb.Skipf("this kernel gives no io_uring: %v", err)
		}
		tb.Cleanup(r.close)
		c.ring, c.batch = r, newRingBatch()
	}
	sink := newSink(tb)
	e := newTestEngine(tb, n, nil)
	var first *Session
	for range n {
		s := benchSessionOn(tb, e, sink, 0)
		s.clock = c // so that add puts it beside first
		c.add(s, first)
		tb.Cleanup(func() { c.remove(s) })
		if first == nil {
			first = s
		}
	}
	return c, first.slot
}

// BenchmarkSlotTick is a clock's work for one session in one tick, in a slot of 50 (2,000 calls
// on two clocks): a read that finds nothing and a send, through the ring or a system call each.
func BenchmarkSlotTick(b *testing.B) {
	const n = 50
	for _, tc := range []struct {
		name   string
		noRing bool
	}{{"io_uring", false}, {"system_calls", true}} {
		b.Run(tc.name, func(b *testing.B) {
			c, slot := slotOfSessions(b, n, tc.noRing)
			b.ReportAllocs()
			for b.Loop() {
				c.serve(slot)
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/session")
		})
	}
}
