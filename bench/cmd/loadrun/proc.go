package main

import (
	"bufio"
	"context"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

const clkTck = 100 // USER_HZ on Linux

// procSet remembers every process the harness started, so each is ended (by its own pid) on exit.
type procSet struct {
	mu    sync.Mutex
	procs map[int]*exec.Cmd
}

func newProcSet() *procSet { return &procSet{procs: map[int]*exec.Cmd{}} }

func (s *procSet) start(c *exec.Cmd) error {
	c.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := c.Start(); err != nil {
		return err
	}
	s.mu.Lock()
	s.procs[c.Process.Pid] = c
	s.mu.Unlock()
	return nil
}

func (s *procSet) forget(c *exec.Cmd) {
	s.mu.Lock()
	delete(s.procs, c.Process.Pid)
	s.mu.Unlock()
}

// stop ends one started process: SIGTERM to its own process group, SIGKILL after grace.
func (s *procSet) stop(c *exec.Cmd, grace time.Duration, done <-chan error) {
	if c.Process == nil {
		return
	}
	pid := c.Process.Pid
	_ = syscall.Kill(-pid, syscall.SIGTERM)
	select {
	case <-done:
	case <-time.After(grace):
		_ = syscall.Kill(-pid, syscall.SIGKILL)
		<-done
	}
	s.forget(c)
}

func (s *procSet) stopAll() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for pid := range s.procs {
		_ = syscall.Kill(-pid, syscall.SIGKILL)
	}
	s.procs = map[int]*exec.Cmd{}
}

// cpuTicks is utime+stime of one process.
func cpuTicks(pid int) (user, sys int64) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, 0
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0, 0
	}
	f := strings.Fields(s[i+1:]) // f[0] = state (field 3); utime = field 14, stime = field 15
	if len(f) < 13 {
		return 0, 0
	}
	u, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return u, st
}

// statusKB reads a "Key:   N kB" line of /proc/PID/status.
func statusKB(pid int, key string) int64 {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		l := sc.Text()
		if strings.HasPrefix(l, key+":") {
			fs := strings.Fields(l[len(key)+1:])
			if len(fs) > 0 {
				n, _ := strconv.ParseInt(fs[0], 10, 64)
				return n
			}
		}
	}
	return 0
}

func threads(pid int) int64 { return statusKB(pid, "Threads") }

// boxTicks is busy and total jiffies of the whole machine (all CPUs) from /proc/stat.
// boxTicks reads the machine's CPU ticks: busy (not idle, iowait or steal),
// all, and steal (time the hypervisor gave this VM's CPUs to someone else: a
// noisy neighbour the in-box figures cannot see).
func boxTicks() (busy, total, steal int64) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, 0, 0
	}
	line := strings.SplitN(string(b), "\n", 2)[0]
	f := strings.Fields(line)
	for i, v := range f[1:] {
		n, _ := strconv.ParseInt(v, 10, 64)
		if i >= 8 { // guest, guest_nice are already in user/nice
			break
		}
		total += n
		switch i {
		case 3, 4: // idle, iowait
		case 7:
			steal = n
		default:
			busy += n
		}
	}
	return busy, total, steal
}

func numCPU() int {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0
	}
	n := 0
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, "cpu") && len(l) > 3 && l[3] >= '0' && l[3] <= '9' {
			n++
		}
	}
	return n
}

// snapshot of the CPU counters used for one window.
type snapshot struct {
	at                        time.Time
	uaUser, uaSys             int64
	sipp, gen, echo           int64
	boxBusy, boxAll, boxSteal int64
}

// takeSnapshot reads the CPU counters of the server, SIPp, rtpgen and the streams level's echo
// application (a pid of 0: not running).
func takeSnapshot(uaPid, sippPid, genPid, echoPid int) snapshot {
	s := snapshot{at: time.Now()}
	s.uaUser, s.uaSys = cpuTicks(uaPid)
	if sippPid > 0 {
		u, st := cpuTicks(sippPid)
		s.sipp = u + st
	}
	if genPid > 0 {
		u, st := cpuTicks(genPid)
		s.gen = u + st
	}
	if echoPid > 0 {
		u, st := cpuTicks(echoPid)
		s.echo = u + st
	}
	s.boxBusy, s.boxAll, s.boxSteal = boxTicks()
	return s
}

// windowCPU turns two snapshots into % of one core for the server, SIPp, rtpgen, the echo application
// and everything else.
type windowCPU struct {
	Seconds     float64 `json:"seconds"`
	UACorePct   float64 `json:"server_core_pct"`
	UAUserS     float64 `json:"server_user_s"`
	UASysS      float64 `json:"server_sys_s"`
	SIPpCorePct float64 `json:"sipp_core_pct"`
	GenCorePct  float64 `json:"rtpgen_core_pct"`
	EchoCorePct float64 `json:"streamecho_core_pct,omitempty"` // the streams level's application
	OtherPct    float64 `json:"other_core_pct"`
	StealPct    float64 `json:"steal_core_pct"`
}

func cpuBetween(a, b snapshot) windowCPU {
	wall := b.at.Sub(a.at).Seconds()
	w := windowCPU{Seconds: wall}
	if wall <= 0 {
		return w
	}
	uu := float64(b.uaUser-a.uaUser) / clkTck
	us := float64(b.uaSys-a.uaSys) / clkTck
	sp := float64(b.sipp-a.sipp) / clkTck
	gn := float64(b.gen-a.gen) / clkTck
	ec := float64(b.echo-a.echo) / clkTck
	busy := float64(b.boxBusy-a.boxBusy) / clkTck
	w.UAUserS, w.UASysS = round(uu, 2), round(us, 2)
	w.UACorePct = round(100*(uu+us)/wall, 1)
	w.SIPpCorePct = round(100*sp/wall, 1)
	w.GenCorePct = round(100*gn/wall, 1)
	w.EchoCorePct = round(100*ec/wall, 1)
	w.OtherPct = round(100*(busy-uu-us-sp-gn-ec)/wall, 1)
	w.StealPct = round(100*float64(b.boxSteal-a.boxSteal)/clkTck/wall, 1)
	return w
}

// udpDrops sums the drop counters of the UDP sockets bound to ip (IPv4, from
// /proc/net/udp): datagrams the kernel discarded because the socket's receive
// buffer was full. It tells whose socket lost packets: pivotua's or the peer's.
func udpDrops(ip string) int64 {
	b, err := os.ReadFile("/proc/net/udp")
	if err != nil {
		return 0
	}
	a, err := netip.ParseAddr(ip)
	if err != nil || !a.Is4() {
		return 0
	}
	v := a.As4()
	want := fmt.Sprintf("%02X%02X%02X%02X:", v[3], v[2], v[1], v[0]) // little-endian hex, as the kernel prints it
	var sum int64
	for _, line := range strings.Split(string(b), "\n")[1:] {
		f := strings.Fields(line)
		if len(f) < 13 || !strings.HasPrefix(f[1], want) {
			continue
		}
		n, _ := strconv.ParseInt(f[len(f)-1], 10, 64)
		sum += n
	}
	return sum
}

// runqStat is, per thread of a process, the time it spent runnable but
// waiting for a CPU and the number of times it got one (/proc/PID/task/TID/schedstat).
type runqStat map[int]struct{ waitNs, slices int64 }

func readRunq(pid int) runqStat {
	s := runqStat{}
	ents, err := os.ReadDir(fmt.Sprintf("/proc/%d/task", pid))
	if err != nil {
		return s
	}
	for _, e := range ents {
		tid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%d/schedstat", pid, tid))
		if err != nil {
			continue // exited
		}
		f := strings.Fields(string(b)) // run ns, run-queue wait ns, time slices
		if len(f) < 3 {
			continue
		}
		w, _ := strconv.ParseInt(f[1], 10, 64)
		n, _ := strconv.ParseInt(f[2], 10, 64)
		s[tid] = struct{ waitNs, slices int64 }{w, n}
	}
	return s
}

// RunqWait is how long a server's threads waited for a CPU while they could run.
type RunqWait struct {
	Pct        float64 `json:"core_pct"`     // summed over its threads, % of the wall time
	PerSliceUs float64 `json:"per_slice_us"` // mean wait before each time slice it got
}

// runqBetween compares two readings of the same process; threads born in
// between count from zero, threads gone by the second reading not at all.
func runqBetween(a, b runqStat, wall time.Duration) RunqWait {
	var wait, slices int64
	for tid, v := range b {
		u := a[tid]
		wait += v.waitNs - u.waitNs
		slices += v.slices - u.slices
	}
	var r RunqWait
	if wall > 0 {
		r.Pct = round(100*float64(wait)/float64(wall), 1)
	}
	if slices > 0 {
		r.PerSliceUs = round(float64(wait)/float64(slices)/1e3, 1)
	}
	return r
}

// peerCommand is the command line of a load generator or capture, under
// SCHED_FIFO at prio (chrt, util-linux) when prio > 0: with the server at a
// higher real-time priority, neither takes the CPU from the server, and the
// rest of the box cannot take it from them, as on separate machines.
func peerCommand(ctx context.Context, prio int, name string, args ...string) *exec.Cmd {
	if prio <= 0 {
		return exec.CommandContext(ctx, name, args...)
	}
	return exec.CommandContext(ctx, "chrt", append([]string{"-f", strconv.Itoa(prio), name}, args...)...)
}
