package main

import (
	"context"
	"fmt"
	"io"
	"math"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
)

// The soak (BENCH_MODES=soak): the concurrency level's load (N calls playing the shared prompt, RTP
// both ways with rtpgen, each call replaced when it ends) held for BENCH_SOAK, with pivotua's memory,
// goroutines and open files sampled every soakEvery. A leak per call shows as a slope: at 1000 calls
// held 25 s, 2400 calls start and end every minute.

// soakEvery is the sampling period.
const soakEvery = 30 * time.Second

// Growth over the soak that counts as growing, per live call: memory may not grow by more than 2 KB
// a call (a 16th of issue 26's 32 KB budget, and at 1000 calls held 25 s a leak of about 30 bytes per
// call placed over 30 minutes); goroutines and open files by more than one per 100 calls (one per
// 1000 calls placed leaks 2.4 a minute).
const (
	soakMemGrowthKB   = 2.0
	soakCountGrowth   = 0.01
	soakSignificance  = 3.0 // and the slope must be this many standard errors above zero
	soakMinSecondHalf = 4   // samples the slope needs
)

// SoakSample is one reading of the server during the soak.
type SoakSample struct {
	AtS         float64 `json:"at_s"`     // seconds since SIPp started
	CallsUp     int     `json:"calls_up"` // SIPp's CurrentCall
	RSSKB       int64   `json:"rss_kb"`
	RSSFileKB   int64   `json:"rss_file_kb"`  // of RSS, pages of files: the binary's code as it runs, not the calls
	HeapLiveKB  int64   `json:"heap_live_kb"` // HeapAlloc right after a forced collection
	HeapInuseKB int64   `json:"heap_inuse_kb"`
	StackKB     int64   `json:"stack_kb"`
	Goroutines  int     `json:"goroutines"`
	FDs         int     `json:"fds"`
	Threads     int64   `json:"threads"`
	CorePct     float64 `json:"server_core_pct"` // since the previous sample
	// rtpgen's figures since the previous sample: the server's pacing and loss do not drift either.
	DevP99Ms float64 `json:"dev_p99_ms"`
	Lost     int     `json:"rtp_lost"`
	Expected int     `json:"rtp_expected"`
}

// SoakSeries is one figure over the soak: its first, last and largest samples, and its slope over
// the second half (least squares, per minute) against the threshold that makes it growing.
type SoakSeries struct {
	Name        string  `json:"name"`
	First       float64 `json:"first"`
	Last        float64 `json:"last"`
	Max         float64 `json:"max"`
	SlopePerMin float64 `json:"slope_per_min"`
	SlopeErr    float64 `json:"slope_stderr"` // standard error of the slope
	Threshold   float64 `json:"threshold_per_min"`
	Verdict     string  `json:"verdict"` // flat, growing, or "too few samples"
}

// SoakResult is the soak's report.
type SoakResult struct {
	N            int     `json:"n"`
	DurationS    float64 `json:"duration_s"`
	HoldS        float64 `json:"hold_s"`
	Rate         int     `json:"sipp_rate"`
	CallsPlanned int     `json:"calls_planned"`
	// The server idle, before the first call.
	IdleRSSKB      int64 `json:"idle_rss_kb"`
	IdleRSSFileKB  int64 `json:"idle_rss_file_kb"`
	IdleHeapKB     int64 `json:"idle_heap_live_kb"`
	IdleGoroutines int   `json:"idle_goroutines"`
	IdleFDs        int   `json:"idle_fds"`
	// Per call at the last sample: (RSS - idle RSS) / N, (live heap - idle live heap) / N.
	RSSKBPerCall  float64      `json:"rss_kb_per_call"`
	HeapKBPerCall float64      `json:"heap_kb_per_call"`
	Samples       []SoakSample `json:"samples"`
	Series        []SoakSeries `json:"series"`
	Verdict       string       `json:"verdict"` // flat when every series is
	CPU           windowCPU    `json:"cpu"`     // from the first sample to the last
	Pacing        *Pacing      `json:"pacing,omitempty"`
	Successful    int          `json:"successful_calls"`
	Failed        int          `json:"failed_calls"`
	SIPpExit      int          `json:"sipp_exit"`
	Notes         []string     `json:"notes,omitempty"`
}

// runSoak holds n calls for o.soak and samples the server every soakEvery.
func runSoak(ctx context.Context, o options, bin, genBin, work, resDir string, n int) (*SoakResult, error) {
	dir := filepath.Join(work, fmt.Sprintf("soak-%d", n))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	rate, ramp := holdRate(o, n)
	first := ramp + o.warm
	last := first + o.soak
	end := last + time.Second
	bound := end + o.hold + 30*time.Second

	rg, err := startRig(ctx, o, bin, genBin, dir, bound+time.Minute, "")
	if err != nil {
		return nil, err
	}
	defer rg.stop()
	gen, p := rg.gen, rg.ua
	time.Sleep(time.Second)
	r := &SoakResult{N: n, DurationS: o.soak.Seconds(), HoldS: o.hold.Seconds(), Rate: rate,
		CallsPlanned: plannedCalls(n, rate, o.hold, end)}
	idle, err := p.sampleMemory()
	if err != nil {
		return nil, fmt.Errorf("idle sample: %w", err)
	}
	r.IdleRSSKB, r.IdleRSSFileKB, r.IdleHeapKB, r.IdleGoroutines, r.IdleFDs = idle.RSSKB, idle.RSSFileKB, idle.HeapLiveKB, idle.Goroutines, idle.FDs

	sp, err := startSIPp(o.repo, filepath.Join(dir, "sipp"), sippArgs{limit: n, rate: rate, calls: r.CallsPlanned,
		hold: o.hold, timeout: bound - 5*time.Second, prio: o.peerPrio})
	if err != nil {
		return nil, err
	}
	t0 := time.Now()
	fmt.Printf("   SIPp: %d calls, limit %d, %d calls/s, hold %s; samples every %s from +%s to +%s, bound %s\n",
		r.CallsPlanned, n, rate, o.hold, soakEvery, first.Round(time.Second), last.Round(time.Second), bound.Round(time.Second))
	sleepUntil := func(d time.Duration) error { return sp.runUntil(ctx, t0.Add(d)) }
	if err := sleepUntil(first); err != nil {
		sp.wait(time.Second)
		return r, err
	}
	if _, err := gen.mark(); err != nil { // rtpgen's windows start here
		sp.wait(time.Second)
		return r, err
	}
	start := takeSnapshot(p.pid(), sp.pid(), gen.pid(), 0)
	prev := start
	var worst *Pacing
	var lost, expected int
	for at := first; at <= last; at += soakEvery {
		if at > first {
			if err := sleepUntil(at); err != nil {
				r.Notes = append(r.Notes, err.Error())
				break
			}
		}
		s, err := p.sampleMemory()
		if err != nil {
			r.Notes = append(r.Notes, fmt.Sprintf("sample at +%s: %v", at.Round(time.Second), err))
			continue
		}
		now := takeSnapshot(p.pid(), sp.pid(), gen.pid(), 0)
		s.AtS = round(now.at.Sub(t0).Seconds(), 1)
		s.CallsUp = statInt(sp.lastStat(), "CurrentCall")
		if at > first {
			s.CorePct = cpuBetween(prev, now).UACorePct
			if w, err := gen.mark(); err == nil {
				gp := genPacing(w)
				s.DevP99Ms, s.Lost, s.Expected = gp.DevP99Ms, gp.Lost, gp.Expected
				lost, expected = lost+gp.Lost, expected+gp.Expected
				if worst == nil || gp.DevP99Ms > worst.DevP99Ms {
					worst = gp
				}
			}
		}
		prev = now
		r.Samples = append(r.Samples, s)
		fmt.Printf("   +%5.0fs  calls %4d  RSS %6.1f MB (%4.1f of files)  heap %6.1f MB live, %6.1f in use  stacks %5.1f MB  goroutines %5d  fds %5d  core %5.1f %%  p99 %.2f ms  lost %d/%d\n",
			s.AtS, s.CallsUp, float64(s.RSSKB)/1024, float64(s.RSSFileKB)/1024, float64(s.HeapLiveKB)/1024, float64(s.HeapInuseKB)/1024,
			float64(s.StackKB)/1024, s.Goroutines, s.FDs, s.CorePct, s.DevP99Ms, s.Lost, s.Expected)
	}
	r.CPU = cpuBetween(start, prev)
	if worst != nil {
		worst.Lost, worst.Expected = lost, expected // the loss over the whole soak beside the worst window's pacing
		if expected > 0 {
			worst.LossPct = round(100*float64(lost)/float64(expected), 4)
		}
		r.Pacing = worst
	}
	if k := len(r.Samples); k > 0 {
		l := r.Samples[k-1]
		r.RSSKBPerCall = round(float64(l.RSSKB-r.IdleRSSKB)/float64(n), 1)
		r.HeapKBPerCall = round(float64(l.HeapLiveKB-r.IdleHeapKB)/float64(n), 1)
	}
	r.Series, r.Verdict = soakVerdict(r.Samples, n, o.soak)
	if err := p.heap(filepath.Join(resDir, fmt.Sprintf("soak-%d", n))); err != nil {
		r.Notes = append(r.Notes, "heap profile: "+err.Error())
	}

	code, werr := sp.wait(time.Until(t0.Add(bound)) + 5*time.Second)
	st := sp.lastStat()
	r.Successful, r.Failed, r.SIPpExit = statInt(st, "SuccessfulCall(C)"), statInt(st, "FailedCall(C)"), code
	if r.Failed > 0 || code != 0 {
		r.Notes = append(r.Notes, "SIPp: "+tail(sp.errorsTail(), 600))
	}
	return r, werr
}

var memstatField = regexp.MustCompile(`(?m)^# (HeapAlloc|HeapInuse|Stack) = (\d+)`)

// sampleMemory reads the server's memory after a forced collection (the pprof listener's
// /debug/pprof/heap?gc=1 collects before it reads the runtime's statistics), its goroutines, and
// from /proc its RSS, open files and threads.
func (p *pivotua) sampleMemory() (SoakSample, error) {
	var s SoakSample
	heap, err := getText(p.pprofURL + "/debug/pprof/heap?debug=1&gc=1")
	if err != nil {
		return s, err
	}
	for _, m := range memstatField.FindAllStringSubmatch(heap, -1) {
		v, _ := strconv.ParseInt(m[2], 10, 64)
		switch m[1] {
		case "HeapAlloc":
			s.HeapLiveKB = v >> 10
		case "HeapInuse":
			s.HeapInuseKB = v >> 10
		case "Stack":
			s.StackKB = v >> 10
		}
	}
	g, err := getText(p.pprofURL + "/debug/pprof/goroutine?debug=1")
	if err != nil {
		return s, err
	}
	first, _, _ := strings.Cut(g, "\n")
	if s.Goroutines, err = strconv.Atoi(strings.TrimPrefix(first, "goroutine profile: total ")); err != nil {
		return s, fmt.Errorf("goroutine profile starts %q", first)
	}
	pid := p.pid()
	s.RSSKB, s.RSSFileKB, s.Threads = statusKB(pid, "VmRSS"), statusKB(pid, "RssFile"), threads(pid)
	fds, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	if err != nil {
		return s, err
	}
	s.FDs = len(fds)
	return s, nil
}

func getText(url string) (string, error) {
	c := http.Client{Timeout: 20 * time.Second}
	resp, err := c.Get(url)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		return "", fmt.Errorf("%s: %s", url, resp.Status)
	}
	b, err := io.ReadAll(resp.Body)
	return string(b), err
}

// soakVerdict turns the samples into one series per figure; the soak is flat when every series is.
func soakVerdict(samples []SoakSample, n int, soak time.Duration) ([]SoakSeries, string) {
	minutes := soak.Minutes()
	memLimit := soakMemGrowthKB * float64(n) / minutes
	countLimit := soakCountGrowth * float64(n) / minutes
	figures := []struct {
		name  string
		limit float64
		of    func(SoakSample) float64
	}{
		{"rss_kb", memLimit, func(s SoakSample) float64 { return float64(s.RSSKB) }},
		{"heap_live_kb", memLimit, func(s SoakSample) float64 { return float64(s.HeapLiveKB) }},
		{"goroutines", countLimit, func(s SoakSample) float64 { return float64(s.Goroutines) }},
		{"fds", countLimit, func(s SoakSample) float64 { return float64(s.FDs) }},
	}
	verdict := "flat"
	var out []SoakSeries
	for _, f := range figures {
		ser := SoakSeries{Name: f.name, Threshold: round(f.limit, 2), Verdict: "too few samples"}
		var ts, vs []float64
		for i, s := range samples {
			v := f.of(s)
			if i == 0 {
				ser.First, ser.Max = v, v
			}
			ser.Last, ser.Max = v, max(ser.Max, v)
			if s.AtS >= (samples[0].AtS+samples[len(samples)-1].AtS)/2 {
				ts, vs = append(ts, s.AtS/60), append(vs, v)
			}
		}
		if len(ts) >= soakMinSecondHalf {
			slope, se := leastSquares(ts, vs)
			ser.SlopePerMin, ser.SlopeErr = round(slope, 2), round(se, 2)
			ser.Verdict = "flat"
			if slope > f.limit && slope > soakSignificance*se {
				ser.Verdict = "growing"
			}
		}
		if ser.Verdict != "flat" && verdict != "growing" {
			verdict = ser.Verdict
		}
		out = append(out, ser)
	}
	return out, verdict
}

// leastSquares is the slope of the line that best fits (x, y), and its standard error.
func leastSquares(x, y []float64) (slope, stderr float64) {
	n := float64(len(x))
	var mx, my float64
	for i := range x {
		mx, my = mx+x[i], my+y[i]
	}
	mx, my = mx/n, my/n
	var sxx, sxy float64
	for i := range x {
		sxx += (x[i] - mx) * (x[i] - mx)
		sxy += (x[i] - mx) * (y[i] - my)
	}
	if sxx == 0 {
		return 0, 0
	}
	slope = sxy / sxx
	var ssr float64
	for i := range x {
		e := y[i] - (my + slope*(x[i]-mx))
		ssr += e * e
	}
	if len(x) > 2 {
		stderr = math.Sqrt(ssr / (n - 2) / sxx)
	}
	return slope, stderr
}

func printSoak(r *SoakResult) {
	if r == nil {
		return
	}
	fmt.Printf("soak: %d calls for %s (hold %.0f s, %d calls placed), idle RSS %.1f MB (%.1f of files), live heap %.1f MB, last %.1f KB/call of RSS and %.1f of live heap; server %.1f %% of a core; %d/%d calls failed\n",
		r.N, time.Duration(r.DurationS*float64(time.Second)), r.HoldS, r.CallsPlanned, float64(r.IdleRSSKB)/1024, float64(r.IdleRSSFileKB)/1024, float64(r.IdleHeapKB)/1024,
		r.RSSKBPerCall, r.HeapKBPerCall, r.CPU.UACorePct, r.Failed, r.Successful+r.Failed)
	if p := r.Pacing; p != nil {
		fmt.Printf("  rtpgen: loss %d/%d over the soak, worst 30 s p99 %.2f ms (p99.9 %.2f, max Δ %.2f)\n",
			p.Lost, p.Expected, p.DevP99Ms, p.DevP999Ms, p.MaxDeltaMs)
	}
	w := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(w, "figure\tfirst\tlast\tmax\tslope/min (2nd half)\t± stderr\tthreshold/min\tverdict\t")
	for _, s := range r.Series {
		fmt.Fprintf(w, "%s\t%.0f\t%.0f\t%.0f\t%.2f\t%.2f\t%.2f\t%s\t\n", s.Name, s.First, s.Last, s.Max, s.SlopePerMin, s.SlopeErr, s.Threshold, s.Verdict)
	}
	w.Flush()
	fmt.Println("soak verdict:", r.Verdict)
	for _, n := range r.Notes {
		fmt.Println("  note:", n)
	}
	fmt.Println()
}
