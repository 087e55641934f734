package main

import (
	"math"
	"testing"
	"time"
)

func TestLeastSquaresFitsALine(t *testing.T) {
	slope, se := leastSquares([]float64{0, 1, 2, 3}, []float64{5, 7, 9, 11})
	if slope != 2 || se != 0 {
		t.Errorf("slope %v ± %v, want 2 ± 0", slope, se)
	}
}

// soakSamples are 30 minutes of samples every 30 s, 1000 calls: memory at base plus slope per
// minute, with a wobble of ±wobble KB sample to sample, goroutines and files flat.
func soakSamples(slopeKB, wobbleKB float64) []SoakSample {
	var out []SoakSample
	for i := range 61 {
		at := 30 * float64(i)
		kb := 200_000 + slopeKB*at/60 + wobbleKB*math.Sin(float64(i)*2.1)
		out = append(out, SoakSample{AtS: at, RSSKB: int64(kb), HeapLiveKB: int64(kb / 2), Goroutines: 1020 + i%3, FDs: 1030 - i%2})
	}
	return out
}

// The threshold is 2 KB a call over the soak: 66.7 KB a minute for 1000 calls and 30 minutes.
func TestSoakVerdict(t *testing.T) {
	for _, c := range []struct {
		name           string
		slope, wobble  float64
		rss, heap, all string
	}{
		{"flat with a wobble", 0, 2000, "flat", "flat", "flat"},
		{"a slow drift under the threshold", 50, 200, "flat", "flat", "flat"},
		{"a leak of 100 KB a minute", 100, 200, "growing", "flat", "growing"}, // the heap (half) grows 50 KB a minute
		{"a leak of 300 KB a minute", 300, 200, "growing", "growing", "growing"},
	} {
		series, verdict := soakVerdict(soakSamples(c.slope, c.wobble), 1000, 30*time.Minute)
		byName := map[string]SoakSeries{}
		for _, s := range series {
			byName[s.Name] = s
		}
		if byName["rss_kb"].Verdict != c.rss || byName["heap_live_kb"].Verdict != c.heap || verdict != c.all {
			t.Errorf("%s: rss %+v, heap %+v, verdict %s; want %s, %s, %s", c.name, byName["rss_kb"], byName["heap_live_kb"], verdict, c.rss, c.heap, c.all)
		}
		if g := byName["goroutines"]; g.Verdict != "flat" || g.First != 1020 || g.Max != 1022 {
			t.Errorf("%s: goroutines %+v", c.name, g)
		}
	}
	if _, verdict := soakVerdict(soakSamples(0, 0)[:5], 1000, 2*time.Minute); verdict != "too few samples" {
		t.Errorf("five samples: verdict %s", verdict)
	}
}
