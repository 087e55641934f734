package testkit

import (
	"testing"
	"time"
)

// WaitFor polls cond until it holds, failing t after timeout with what it waited for. The timeout
// is a bound on a hang, not a timing assertion: pick it generously.
func WaitFor(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	// Poll often for short waits, less often for long ones, so a slow wait does not spin.
	every := min(max(timeout/1000, time.Millisecond), 20*time.Millisecond)
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(every)
	}
}
