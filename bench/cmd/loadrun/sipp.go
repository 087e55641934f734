package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"
)

// sipp is one bounded SIPp run: the UAC (signalling only; its SDP names rtpgen) or the reference UAS.
type sipp struct {
	cmd  *exec.Cmd
	done chan error
	dir  string
	stat string
	out  bytes.Buffer
}

type sippArgs struct {
	limit, rate, calls int
	hold               time.Duration
	timeout            time.Duration
	rtt                bool
	target             int    // UAC: the server's SIP port (default pivotua's)
	uas                bool   // run the reference UAS instead of the UAC
	callee             bool   // run the Calls API's callee: answer with rtpgen's address, wait for BYE
	pcap               string // UAS: the prompt pcap it replays per call
	prio               int    // SCHED_FIFO priority, 0 for normal scheduling
}

func startSIPp(repo, dir string, a sippArgs) (*sipp, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	scenName := "uac_play_bye.xml"
	switch {
	case a.uas:
		scenName = "uas_play_wait_bye.xml"
	case a.callee:
		scenName = "uas_answer_wait_bye.xml"
	}
	src, err := os.ReadFile(filepath.Join(repo, "bench", "scenarios", scenName))
	if err != nil {
		return nil, err
	}
	scen := filepath.Join(dir, scenName)
	if err := os.WriteFile(scen, src, 0o644); err != nil {
		return nil, err
	}
	s := &sipp{dir: dir, stat: filepath.Join(dir, "stat.csv"), done: make(chan error, 1)}
	if a.target == 0 {
		a.target = uaPort
	}
	var args []string
	switch {
	case a.callee:
		args = []string{"-sf", scen, "-i", sippIP, "-p", strconv.Itoa(calleePort), "-mi", sippIP, "-mp", strconv.Itoa(calleeMP),
			"-key", "gen_ip", genIP, "-key", "gen_port", strconv.Itoa(genPort), // the SDP names rtpgen's socket
			"-m", strconv.Itoa(a.calls), "-nostdin", "-trace_err", "-trace_stat", "-stf", s.stat, "-fd", "1",
			"-timeout", fmt.Sprintf("%ds", int(a.timeout.Seconds())), "-max_socket", "65000"}
	case a.uas:
		args = []string{"-sf", scen, "-i", uaIP, "-p", strconv.Itoa(refPort), "-mi", uaIP, "-mp", "30000",
			"-key", "audio_pcap", a.pcap, "-m", strconv.Itoa(a.calls), "-nostdin", "-trace_err",
			"-timeout", fmt.Sprintf("%ds", int(a.timeout.Seconds())), "-max_socket", "65000"}
	default:
		args = []string{fmt.Sprintf("%s:%d", uaIP, a.target), "-sf", scen,
			"-i", sippIP, "-p", strconv.Itoa(sipPort), "-mi", sippIP, "-mp", strconv.Itoa(sippMP),
			"-key", "gen_ip", genIP, "-key", "gen_port", strconv.Itoa(genPort), // the SDP names rtpgen's socket
			"-l", strconv.Itoa(a.limit), "-r", strconv.Itoa(a.rate), "-m", strconv.Itoa(a.calls),
			"-d", strconv.Itoa(int(a.hold / time.Millisecond)),
			"-nostdin", "-trace_err", "-trace_stat", "-stf", s.stat, "-fd", "1",
			"-timeout", fmt.Sprintf("%ds", int(a.timeout.Seconds())), "-timeout_error",
			"-max_socket", "65000"}
		if a.rtt {
			args = append(args, "-trace_rtt", "-rtt_freq", "100")
		}
	}
	c := peerCommand(context.Background(), a.prio, "sipp", args...)
	c.Dir, c.Stdout, c.Stderr = dir, &s.out, &s.out
	if err := live.start(c); err != nil {
		return nil, err
	}
	s.cmd = c
	go func() { s.done <- c.Wait() }()
	return s, nil
}

func (s *sipp) pid() int { return s.cmd.Process.Pid }

// wait waits for SIPp to finish by itself; past the bound it is ended. It returns SIPp's exit code.
func (s *sipp) wait(bound time.Duration) (int, error) {
	select {
	case err := <-s.done:
		live.forget(s.cmd)
		if ee, ok := err.(*exec.ExitError); ok {
			return ee.ExitCode(), nil
		}
		return 0, err
	case <-time.After(bound):
		live.stop(s.cmd, 3*time.Second, s.done)
		return -1, fmt.Errorf("SIPp still running after %s: ended", bound)
	}
}

// lastStat is the newest line of SIPp's -trace_stat CSV, by column name.
func (s *sipp) lastStat() map[string]string {
	b, err := os.ReadFile(s.stat)
	if err != nil {
		return nil
	}
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	if len(lines) < 2 {
		return nil
	}
	head := strings.Split(lines[0], ";")
	vals := strings.Split(lines[len(lines)-1], ";")
	m := map[string]string{}
	for i, h := range head {
		if i < len(vals) {
			m[h] = vals[i]
		}
	}
	return m
}

func statInt(m map[string]string, k string) int {
	n, _ := strconv.Atoi(strings.TrimSpace(m[k]))
	return n
}

// rtts reads the INVITE->200 response times (ms) SIPp wrote with -trace_rtt.
func (s *sipp) rtts() []float64 {
	files, _ := filepath.Glob(filepath.Join(s.dir, "*_rtt.csv"))
	var out []float64
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		for _, l := range strings.Split(string(b), "\n") {
			fs := strings.Split(strings.TrimSpace(l), ";")
			if len(fs) < 2 {
				continue
			}
			v, err := strconv.ParseFloat(fs[1], 64)
			if err == nil {
				out = append(out, v)
			}
		}
	}
	sort.Float64s(out)
	return out
}

func (s *sipp) errorsTail() string {
	files, _ := filepath.Glob(filepath.Join(s.dir, "*_errors.log"))
	var b strings.Builder
	for _, f := range files {
		d, _ := os.ReadFile(f)
		if len(d) > 600 {
			d = d[:600]
		}
		b.Write(d)
	}
	return b.String()
}

// pct is the p-th percentile (0..100) of sorted values, nearest rank.
func pct(sorted []float64, p float64) float64 {
	if len(sorted) == 0 {
		return 0
	}
	i := int(p/100*float64(len(sorted))+0.5) - 1
	if i < 0 {
		i = 0
	}
	if i >= len(sorted) {
		i = len(sorted) - 1
	}
	return sorted[i]
}

func round(v float64, d int) float64 {
	p := 1.0
	for i := 0; i < d; i++ {
		p *= 10
	}
	if v < 0 {
		return -float64(int64(-v*p+0.5)) / p
	}
	return float64(int64(v*p+0.5)) / p
}

// runUntil waits until at while SIPp runs: an error if ctx ends first or SIPp ends early (its exit
// stays on done for whoever waits for it next).
func (sp *sipp) runUntil(ctx context.Context, at time.Time) error {
	select {
	case <-time.After(time.Until(at)):
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case err := <-sp.done:
		sp.done <- err
		return fmt.Errorf("SIPp ended early (%v): %s", err, tail(sp.out.String(), 800))
	}
}
