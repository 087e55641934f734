//go:build linux

package rtprio

import (
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// The checks run in a child test process: raising the test binary itself
// would put the rest of the package's tests under SCHED_FIFO.
const childEnv = "RTPRIO_TEST_CHILD"

func TestRaiseEveryThreadAndStartChildrenNormal(t *testing.T) {
	if os.Getenv(childEnv) == "1" {
		raiseChild(t)
		return
	}
	if os.Geteuid() != 0 {
		err := Raise(1)
		if err == nil || !strings.Contains(err.Error(), "CAP_SYS_NICE") {
			t.Fatalf("Raise as a normal user: %v, want an error naming CAP_SYS_NICE", err)
		}
		t.Skip("SCHED_FIFO needs root or CAP_SYS_NICE; CI runs as root")
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestRaiseEveryThreadAndStartChildrenNormal$", "-test.v")
	cmd.Env = append(os.Environ(), childEnv+"=1")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("child: %v\n%s", err, out)
	}
	t.Logf("child:\n%s", out)
}

func raiseChild(t *testing.T) {
	if err := Raise(7); err != nil {
		t.Fatal(err)
	}
	if raised.Load() != 7 {
		t.Fatalf("raised = %d after Raise(7)", raised.Load())
	}
	checkThreads(t, "after Raise")

	// Threads the runtime starts afterwards: goroutines locked to threads and
	// blocked force new ones.
	before, _ := threads()
	var wg sync.WaitGroup
	release := make(chan struct{})
	for range 6 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			runtime.LockOSThread()
			<-release
		}()
	}
	after, _ := threads()
	for len(after) <= len(before) {
		runtime.Gosched()
		after, _ = threads()
	}
	checkThreads(t, "with new threads")
	close(release)
	wg.Wait()

	// A child process is born normal, and the thread that started it is
	// real-time again.
	out, err := runOutput(exec.Command("cat", "/proc/self/stat"))
	if err != nil {
		t.Fatal(err)
	}
	policy, prio, err := schedOf(out)
	if err != nil {
		t.Fatal(err)
	}
	if policy != 0 || prio != 0 {
		t.Fatalf("child started by Run: policy %d priority %d, want SCHED_OTHER (0) at 0", policy, prio)
	}
	checkThreads(t, "after Run")
}

func runOutput(cmd *exec.Cmd) (string, error) {
	var b strings.Builder
	cmd.Stdout = &b
	err := Run(cmd)
	return b.String(), err
}

// checkThreads fails unless every thread of the process is SCHED_FIFO at 7.
func checkThreads(t *testing.T, when string) {
	t.Helper()
	tids, err := threads()
	if err != nil {
		t.Fatal(err)
	}
	for _, tid := range tids {
		stat, err := os.ReadFile(fmt.Sprintf("/proc/self/task/%d/stat", tid))
		if err != nil {
			continue // exited
		}
		policy, prio, err := schedOf(string(stat))
		if err != nil {
			t.Fatal(err)
		}
		if policy != 1 || prio != 7 {
			t.Fatalf("%s: thread %d of %d has policy %d priority %d, want SCHED_FIFO (1) at 7", when, tid, len(tids), policy, prio)
		}
	}
	t.Logf("%s: %d threads, all SCHED_FIFO 7", when, len(tids))
}

// schedOf reads rt_priority (field 40) and policy (field 41) from a
// /proc/<pid>/stat line.
func schedOf(stat string) (policy, prio int, err error) {
	i := strings.LastIndexByte(stat, ')')
	if i < 0 {
		return 0, 0, fmt.Errorf("stat without a comm: %q", stat)
	}
	f := strings.Fields(stat[i+1:]) // f[0] is field 3
	if len(f) < 41-2 {
		return 0, 0, fmt.Errorf("short stat: %q", stat)
	}
	if prio, err = strconv.Atoi(f[40-3]); err != nil {
		return 0, 0, err
	}
	policy, err = strconv.Atoi(f[41-3])
	return policy, prio, err
}
