//go:build linux

// Package rtprio puts the whole process under real-time scheduling
// (SCHED_FIFO), as Asterisk's -p and FreeSWITCH's -rp do, and starts child
// processes (TTS, lame) under normal scheduling so their work cannot delay
// the media.
//
// Why the whole process and not only the send clock: a Go goroutine needs a P
// to run, and the thread that fires its timer or hands it a P is whichever
// runtime thread gets there first. Raising one thread leaves it waiting on
// the others, which still queue behind every other busy task on a loaded box
// (a wake-up delayed by several milliseconds is what breaks RTP pacing).
// The kernel keeps 5 % of each second for normal tasks
// (/proc/sys/kernel/sched_rt_runtime_us), so a runaway cannot freeze the box.
package rtprio

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"sync/atomic"

	"golang.org/x/sys/unix"
)

// MaxPriority is the highest SCHED_FIFO priority.
const MaxPriority = 99

// raised is the priority Raise set, 0 when the process runs normally.
var raised atomic.Int32

// Raise sets SCHED_FIFO at prio (1..99) on every thread of the process.
// Threads the Go runtime starts later inherit it from the thread that
// clones them. It needs root or CAP_SYS_NICE (or an RLIMIT_RTPRIO of prio).
func Raise(prio int) error {
	if prio < 1 || prio > MaxPriority {
		return fmt.Errorf("rtprio: priority %d is not in 1..%d", prio, MaxPriority)
	}
	attr := fifo(int32(prio))
	done := map[int]bool{}
	// A thread cloned by one not yet raised is born normal: go over the
	// threads until a pass finds none new.
	for {
		tids, err := threads()
		if err != nil {
			return err
		}
		fresh := 0
		for _, tid := range tids {
			if done[tid] {
				continue
			}
			fresh++
			if err := unix.SchedSetAttr(tid, attr, 0); err != nil {
				if errors.Is(err, unix.ESRCH) { // the thread has exited
					continue
				}
				if errors.Is(err, unix.EPERM) {
					return fmt.Errorf("rtprio: SCHED_FIFO %d: %w (needs root, CAP_SYS_NICE or an RLIMIT_RTPRIO of at least %d)", prio, err, prio)
				}
				return fmt.Errorf("rtprio: SCHED_FIFO %d on thread %d: %w", prio, tid, err)
			}
			done[tid] = true
		}
		if fresh == 0 {
			break
		}
	}
	raised.Store(int32(prio))
	return nil
}

// Start starts cmd like cmd.Start, but under normal scheduling when the
// process has been raised: the calling thread drops to SCHED_OTHER while it
// forks, so the child is born normal (there is no window in which it runs at
// real-time priority), and is raised again after.
func Start(cmd *exec.Cmd) error {
	prio := raised.Load()
	if prio == 0 {
		return cmd.Start()
	}
	runtime.LockOSThread()
	normal := &unix.SchedAttr{Size: unix.SizeofSchedAttr, Policy: unix.SCHED_NORMAL}
	if err := unix.SchedSetAttr(0, normal, 0); err != nil {
		runtime.UnlockOSThread()
		return fmt.Errorf("rtprio: normal scheduling for %s: %w", cmd.Path, err)
	}
	err := cmd.Start()
	if unix.SchedSetAttr(0, fifo(prio), 0) == nil {
		runtime.UnlockOSThread()
	}
	// Otherwise the thread stays locked to this goroutine, so no other
	// goroutine runs on a thread left normal; the runtime ends the thread
	// when the goroutine exits.
	return err
}

// Run is Start and then cmd.Wait.
func Run(cmd *exec.Cmd) error {
	if err := Start(cmd); err != nil {
		return err
	}
	return cmd.Wait()
}

func fifo(prio int32) *unix.SchedAttr {
	return &unix.SchedAttr{Size: unix.SizeofSchedAttr, Policy: unix.SCHED_FIFO, Priority: uint32(prio)}
}

func threads() ([]int, error) {
	ents, err := os.ReadDir("/proc/self/task")
	if err != nil {
		return nil, fmt.Errorf("rtprio: %w", err)
	}
	tids := make([]int, 0, len(ents))
	for _, e := range ents {
		if tid, err := strconv.Atoi(e.Name()); err == nil {
			tids = append(tids, tid)
		}
	}
	return tids, nil
}
