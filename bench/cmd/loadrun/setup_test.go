package main

import "testing"

func TestDumpcapDroppedReadsItsClosingLine(t *testing.T) {
	for line, want := range map[string]int64{
		"Packets received/dropped on interface 'lo': 60539/0 (pcap:0/dumpcap:0/flushed:0/ps_ifdrop:0) (100.0%)":      0,
		"Packets received/dropped on interface 'lo': 60539/1234 (pcap:1234/dumpcap:0/flushed:0/ps_ifdrop:0) (98.0%)": 1234,
		"": -1, // dumpcap said nothing: unknown, not none
	} {
		if got := dumpcapDropped(line); got != want {
			t.Errorf("dumpcapDropped(%q) = %d, want %d", line, got, want)
		}
	}
}

func TestPivotTimesFromTheHistogram(t *testing.T) {
	const h = "pivotua_pivot_request_duration_seconds"
	m0 := map[string]float64{h + `_count{status="200"}`: 10, h + `_sum{status="200"}`: 0.01, h + `_bucket{status="200",le="0.01"}`: 10}
	m1 := map[string]float64{h + `_count{status="200"}`: 110, h + `_sum{status="200"}`: 0.31, h + `_bucket{status="200",le="0.01"}`: 100}
	mean, over := pivotTimes(m0, m1)
	if mean != 3 || over != 10 { // 0.3 s over 100 fetches; 10 of the 100 above 10 ms
		t.Errorf("pivotTimes = %v ms, %v %%; want 3 ms, 10 %%", mean, over)
	}
}
