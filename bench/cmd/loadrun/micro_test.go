package main

import "testing"

// A benchmark that reports its own metric (b.ReportMetric) prints it between ns/op and B/op: the
// parser keeps it, and still reads B/op and allocs/op after it.
func TestParseBenchLineKeepsCustomMetrics(t *testing.T) {
	line := "BenchmarkPocketsphinx/parallel=2/hints=false-2         \t       1\t6130955271 ns/op\t         0.3211 cpu-s/audio-s\t         1.104 wall-s/audio-s\t  529888 B/op\t    2167 allocs/op"
	r, ok := parseBenchLine(line)
	if !ok {
		t.Fatal("line not parsed")
	}
	if r.Name != "Pocketsphinx/parallel=2/hints=false" || r.NsOp != 6130955271 {
		t.Errorf("name %q ns/op %v", r.Name, r.NsOp)
	}
	if r.Metrics["cpu-s/audio-s"] != 0.3211 || r.Metrics["wall-s/audio-s"] != 1.104 {
		t.Errorf("metrics %v, want cpu-s/audio-s 0.3211 and wall-s/audio-s 1.104", r.Metrics)
	}
	if r.BOp != 529888 || r.AllocsOp != 2167 {
		t.Errorf("B/op %d allocs/op %d, want 529888 and 2167", r.BOp, r.AllocsOp)
	}

	r, ok = parseBenchLine("BenchmarkSendPacket-2   \t  262489\t      4520 ns/op\t       0 B/op\t       0 allocs/op")
	if !ok || r.NsOp != 4520 || r.BOp != 0 || r.AllocsOp != 0 || len(r.Metrics) != 0 || !r.PerPacket {
		t.Errorf("plain line: %+v %v", r, ok)
	}
	r, ok = parseBenchLine("BenchmarkBridgeRoomPartyTick/parties=100-2   1000000   812.5 ns/op   16 B/op   0 allocs/op")
	if !ok || r.Name != "BridgeRoomPartyTick/parties=100" || r.NsOp != 812.5 || r.BOp != 16 {
		t.Errorf("sub-benchmark line: %+v %v", r, ok)
	}
	if _, ok := parseBenchLine("PASS"); ok {
		t.Error("PASS parsed as a result")
	}
}
