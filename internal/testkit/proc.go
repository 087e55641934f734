package testkit

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"
)

// WaitPIDFile waits up to 5 s for a fake tool (a shell script standing in for flite or lame) to
// write its PID to pidFile and returns it; what names the tool in the failure.
func WaitPIDFile(t testing.TB, pidFile, what string) int {
	t.Helper()
	for range 500 {
		if b, err := os.ReadFile(pidFile); err == nil {
			pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
			if err != nil {
				t.Fatal(err)
			}
			return pid
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("%s never started", what)
	return 0
}

// ProcessExists reports whether pid is a live process (or a zombie not yet reaped).
func ProcessExists(pid int) bool {
	_, err := os.Stat(fmt.Sprintf("/proc/%d", pid))
	return err == nil
}

// WaitGone waits up to 10 s (a bound on a hang, not a timing assertion) for pid to be gone; why
// says what should have ended it.
func WaitGone(t testing.TB, pid int, why string) {
	t.Helper()
	for range 1000 {
		if !ProcessExists(pid) {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("process %d still runs 10 s after %s", pid, why)
}
