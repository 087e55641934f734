package main

import (
	"bufio"
	"context"
	"fmt"
	"math"
	"os"
	"os/exec"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Pacing is measured outside the server: rtpgen's kernel receive times of what the server sent
// it, or (the cross-check) capture timestamps of the same packets.
type Pacing struct {
	Source     string  `json:"source"` // rtpgen or capture
	Streams    int     `json:"streams"`
	Packets    int     `json:"packets"`
	Deltas     int     `json:"deltas"`
	MeanMs     float64 `json:"mean_delta_ms"`
	DevP50Ms   float64 `json:"dev_p50_ms"`
	DevP99Ms   float64 `json:"dev_p99_ms"`
	DevP999Ms  float64 `json:"dev_p999_ms"`
	MaxDeltaMs float64 `json:"max_delta_ms"`
	Expected   int     `json:"expected"`
	Lost       int     `json:"lost"`
	LossPct    float64 `json:"loss_pct"`
	Dropped    string  `json:"capture_dropped,omitempty"`
}

// capture runs dumpcap on lo for d, server -> rtpgen only, headers only.
func capture(ctx context.Context, prio int, path string, d time.Duration) (string, error) {
	return captureFilter(ctx, prio, path, d, fmt.Sprintf("udp and src host %s and dst host %s and dst port %d", uaIP, genIP, genPort), 64)
}

func captureFilter(ctx context.Context, prio int, path string, d time.Duration, filter string, snap int) (string, error) {
	if snap <= 0 {
		snap = 65535
	}
	c := peerCommand(ctx, prio, "dumpcap", "-i", "lo", "-f", filter, "-s", strconv.Itoa(snap),
		"-a", fmt.Sprintf("duration:%d", int(d.Seconds())), "-w", path)
	var out strings.Builder
	c.Stdout, c.Stderr = &out, &out
	if err := live.start(c); err != nil {
		return "", err
	}
	done := make(chan error, 1)
	go func() { done <- c.Wait() }()
	select {
	case err := <-done:
		live.forget(c)
		if err != nil {
			return out.String(), fmt.Errorf("dumpcap: %v: %s", err, out.String())
		}
	case <-time.After(d + 15*time.Second):
		live.stop(c, 2*time.Second, done)
		return out.String(), fmt.Errorf("dumpcap did not stop")
	}
	dropped := ""
	for _, l := range strings.Split(out.String(), "\n") {
		if strings.Contains(l, "dropped") {
			dropped = strings.TrimSpace(l)
		}
	}
	return dropped, nil
}

type pkt struct {
	t   float64
	seq int
}

// pacing reads the capture with tshark and computes per-stream (source port + SSRC) deltas, pooled.
func pacing(ctx context.Context, path string) (*Pacing, error) {
	c := exec.CommandContext(ctx, "tshark", "-r", path, "-d", fmt.Sprintf("udp.port==%d,rtp", genPort),
		"-T", "fields", "-e", "frame.time_epoch", "-e", "udp.srcport", "-e", "rtp.ssrc", "-e", "rtp.seq", "-e", "rtp.p_type")
	c.Stderr = os.Stderr
	out, err := c.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := c.Start(); err != nil {
		return nil, err
	}
	streams := map[string][]pkt{}
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		f := strings.Split(sc.Text(), "\t")
		if len(f) < 5 || f[2] == "" {
			continue
		}
		if pt, _ := strconv.Atoi(f[4]); pt != 0 && pt != 8 { // audio only; telephone-events have their own timing
			continue
		}
		t, err1 := strconv.ParseFloat(f[0], 64)
		seq, err2 := strconv.Atoi(f[3])
		if err1 != nil || err2 != nil {
			continue
		}
		k := f[1] + "/" + f[2]
		streams[k] = append(streams[k], pkt{t, seq})
	}
	if err := c.Wait(); err != nil {
		return nil, fmt.Errorf("tshark: %w", err)
	}
	p := &Pacing{Source: "capture", Streams: len(streams)}
	var devs []float64
	sum := 0.0
	for _, s := range streams {
		p.Packets += len(s)
		// loss: sequence numbers expected between first and last (unwrapped) minus distinct ones seen
		seen := map[int]bool{}
		base, prev, hi, lo := 0, -1, 0, 0
		for i, x := range s {
			if prev >= 0 {
				d := (x.seq - prev) & 0xffff
				if d > 0x8000 {
					d -= 0x10000
				}
				base += d
			}
			prev = x.seq
			seen[base] = true
			if i == 0 || base > hi {
				hi = base
			}
			if i == 0 || base < lo {
				lo = base
			}
			if i > 0 {
				d := (x.t - s[i-1].t) * 1000
				sum += d
				devs = append(devs, math.Abs(d-20))
				if d > p.MaxDeltaMs {
					p.MaxDeltaMs = d
				}
			}
		}
		p.Expected += hi - lo + 1
		p.Lost += hi - lo + 1 - len(seen)
	}
	p.Deltas = len(devs)
	if len(devs) > 0 {
		sort.Float64s(devs)
		p.MeanMs = round(sum/float64(len(devs)), 3)
		p.DevP50Ms = round(pct(devs, 50), 3)
		p.DevP99Ms = round(pct(devs, 99), 3)
		p.DevP999Ms = round(pct(devs, 99.9), 3)
	}
	p.MaxDeltaMs = round(p.MaxDeltaMs, 2)
	if p.Expected > 0 {
		p.LossPct = round(100*float64(p.Lost)/float64(p.Expected), 4)
	}
	return p, nil
}
