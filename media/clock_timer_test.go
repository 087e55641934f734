package media

import (
	"testing"
	"time"
)

// The backstop's reader takes every expiry and ends when it is closed, so a
// stopped clock leaves no goroutine and no descriptor behind.
func TestBackstopDrainsExpiriesAndEndsOnClose(t *testing.T) {
	b, err := newBackstop()
	if err != nil {
		t.Fatal(err)
	}
	for range 5 {
		b.arm(monoNow() + int64(time.Millisecond))
		time.Sleep(3 * time.Millisecond)
	}
	b.arm(monoNow() + int64(time.Hour)) // pending when closed
	done := make(chan struct{})
	go func() {
		b.close()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("close did not end the backstop's reader")
	}
}

// A clock stops cleanly while its backstop is armed, and its Engine can be
// closed and another started at once.
func TestEngineCloseStopsBackstops(t *testing.T) {
	for range 3 {
		e := newTestEngine(t, 4, nil)
		peer := newTestPeer(t)
		s := openSession(t, e)
		startToward(t, s, peer)
		peer.next(5 * time.Second) // the clock is running and arming
		if err := e.Close(); err != nil {
			t.Fatal(err)
		}
	}
}
