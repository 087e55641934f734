package media

import (
	"math/rand/v2"
	"sync"
	"testing"
	"time"
)

// TestCloseNeverSendsOnAReusedSocket churns sessions: each is opened, sends to
// one peer for a moment and is closed while the clock may be serving it, while
// other sessions are opened at once and get the closed descriptors' numbers
// back. A send issued after Close closed the descriptor would leave from
// another session's socket: the peer would see an SSRC from a port that is not
// its session's.
func TestCloseNeverSendsOnAReusedSocket(t *testing.T) {
	e := newTestEngine(t, 200, nil)
	peer := newTestPeer(t)

	var mu sync.Mutex
	portOf := map[uint32]uint16{} // SSRC -> the session's port
	var wg sync.WaitGroup
	deadline := time.Now().Add(2 * time.Second)
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for time.Now().Before(deadline) {
				s, err := e.Open()
				if err != nil {
					t.Errorf("Open: %v", err)
					return
				}
				mu.Lock()
				portOf[s.ssrc] = s.local.Port()
				mu.Unlock()
				if err := s.Start(Params{Remote: peer.addr(), Law: 0}); err != nil {
					t.Errorf("Start: %v", err)
				}
				time.Sleep(time.Duration(rand.IntN(45)) * time.Millisecond)
				s.Close()
			}
		}()
	}
	wg.Wait()
	time.Sleep(50 * time.Millisecond) // the last datagrams reach the peer

	mu.Lock()
	defer mu.Unlock()
	checked := 0
	for {
		select {
		case p := <-peer.packets:
			port, ok := portOf[p.header.SSRC]
			if !ok {
				t.Fatalf("packet with unknown SSRC %08x from %s", p.header.SSRC, p.from)
			}
			if p.from.Port() != port {
				t.Fatalf("SSRC %08x of the session on port %d arrived from port %d: sent on a reused socket", p.header.SSRC, port, p.from.Port())
			}
			checked++
		default:
			if checked < 500 {
				t.Fatalf("only %d packets reached the peer", checked)
			}
			t.Logf("%d packets from %d sessions, each from its own session's port", checked, len(portOf))
			return
		}
	}
}

// TestAfterDoneRunsOnceUnlessStopped: what AfterDone arranges runs once the session ends, on a
// goroutine of its own, and at once when it has ended already; stopped before, it does not run, and
// stop reports whether it kept it from running.
func TestAfterDoneRunsOnceUnlessStopped(t *testing.T) {
	e := newTestEngine(t, 4, nil)
	open := func() *Session {
		s, err := e.Open()
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	ran := make(chan string, 4)
	expect := func(want string) {
		t.Helper()
		select {
		case got := <-ran:
			if got != want {
				t.Fatalf("ran %q, want %q", got, want)
			}
		case <-time.After(2 * time.Second):
			t.Fatalf("%q did not run within 2 s", want)
		}
	}
	s := open()
	stop := s.AfterDone(func() { ran <- "first" })
	s.Close()
	s.Close()
	expect("first")
	if stop() {
		t.Error("stop after the run reports it kept it from running")
	}
	s.AfterDone(func() { ran <- "late" }) // the session has ended: at once
	expect("late")

	s = open()
	stop = s.AfterDone(func() { ran <- "stopped" })
	if !stop() {
		t.Error("stop before the end reports it did not keep it from running")
	}
	s.Close()
	select {
	case got := <-ran:
		t.Fatalf("%q ran though stopped", got)
	case <-time.After(100 * time.Millisecond):
	}
}
