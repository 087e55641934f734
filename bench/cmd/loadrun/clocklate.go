package main

import (
	"cmp"
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// ClockLate is pivotua's own account of its send clocks over a window: how late each served tick
// was, from the deltas of its pivotua_clock_tick_lateness_seconds histogram. rtpgen's pacing is
// what a caller hears; this says how much of it the clocks' own wake-ups explain.
type ClockLate struct {
	Ticks    uint64  `json:"ticks"`
	MeanUs   float64 `json:"mean_us"`
	Over1Pct float64 `json:"over_1ms_pct"`
	Over2Pct float64 `json:"over_2ms_pct"`
	Over5Pct float64 `json:"over_5ms_pct"`
	P99      string  `json:"p99_bucket"` // the bucket's upper bound that holds the 99th percentile
}

const lateName = "pivotua_clock_tick_lateness_seconds"

// clockLateness reads the histogram's window from two scrapes; nil when the server has none.
func clockLateness(m0, m1 map[string]float64) *ClockLate {
	type bucket struct {
		le float64
		n  float64
	}
	var bs []bucket
	for k, v1 := range m1 {
		le, ok := strings.CutPrefix(k, lateName+`_bucket{le="`)
		if !ok {
			continue
		}
		le = strings.TrimSuffix(le, `"}`)
		b, err := strconv.ParseFloat(le, 64)
		if err != nil {
			continue
		}
		bs = append(bs, bucket{b, v1 - m0[k]})
	}
	count := m1[lateName+"_count"] - m0[lateName+"_count"]
	if len(bs) == 0 || count <= 0 {
		return nil
	}
	slices.SortFunc(bs, func(a, b bucket) int { return cmp.Compare(a.le, b.le) })
	over := func(le float64) float64 {
		for _, b := range bs {
			if b.le >= le {
				return round(100*(count-b.n)/count, 3)
			}
		}
		return 0
	}
	l := &ClockLate{
		Ticks:    uint64(count),
		MeanUs:   round((m1[lateName+"_sum"]-m0[lateName+"_sum"])/count*1e6, 0),
		Over1Pct: over(0.001), Over2Pct: over(0.002), Over5Pct: over(0.005),
		P99: "inf",
	}
	for _, b := range bs {
		if b.n >= 0.99*count {
			l.P99 = fmt.Sprintf("%g ms", b.le*1000)
			break
		}
	}
	return l
}
