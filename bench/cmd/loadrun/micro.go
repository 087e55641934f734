package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
)

type MicroResult struct {
	Package   string  `json:"package"`
	Name      string  `json:"name"`
	NsOp      float64 `json:"ns_op"`
	BOp       int64   `json:"b_op"`
	AllocsOp  int64   `json:"allocs_op"`
	PerPacket bool    `json:"per_packet"`
	// Metrics are the benchmark's own b.ReportMetric figures by unit (speech's cpu-s/audio-s).
	Metrics map[string]float64 `json:"metrics,omitempty"`
}

// perPacket names the benchmarks on the path every RTP packet takes (send or receive, 50 a second per
// direction per call): they must show 0 allocs/op.
var perPacket = regexp.MustCompile(`^(SendPacket|BuildFrame|ReceivePacket|RecvFromAndReceive|EncodeFrame|DecodeFrame|Bridge|ParseTelephoneEvent)`)

// benchHead is a result line's name (without its -GOMAXPROCS suffix) and iterations; the value-unit
// pairs follow.
var benchHead = regexp.MustCompile(`^Benchmark(\S+?)(?:-\d+)?\s+\d+\s+(.*)$`)

func runMicro(ctx context.Context, o options, res *Result, resDir, work string) error {
	var pkgs []string
	seen := map[string]bool{}
	err := filepath.WalkDir(o.repo, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return nil
		}
		if d.IsDir() {
			n := d.Name()
			if p != o.repo && (strings.HasPrefix(n, ".") || n == "testdata" || n == "bench" || n == "node_modules" || n == "bin") {
				return filepath.SkipDir
			}
			if p == filepath.Join(o.repo, "speech") { // seconds an op: the speech mode runs it
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(p, "_test.go") {
			return nil
		}
		b, err := os.ReadFile(p)
		if err == nil && bytes.Contains(b, []byte("\nfunc Benchmark")) {
			rel, _ := filepath.Rel(o.repo, filepath.Dir(p))
			if !seen[rel] {
				seen[rel] = true
				pkgs = append(pkgs, "./"+rel)
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	sort.Strings(pkgs)
	var failed []string
	for _, pkg := range pkgs {
		name := strings.ReplaceAll(strings.TrimPrefix(pkg, "./"), "/", "_")
		cpu := filepath.Join(resDir, "micro-"+name+".cpu.pprof")
		mem := filepath.Join(resDir, "micro-"+name+".heap.pprof")
		c := exec.CommandContext(ctx, "go", "test", "-run", "^$", "-bench", ".", "-benchmem",
			"-benchtime", o.benchTime, "-cpuprofile", cpu, "-memprofile", mem,
			"-o", filepath.Join(work, name+".test"), pkg)
		c.Dir = o.repo
		out, err := c.CombinedOutput()
		if err != nil {
			failed = append(failed, pkg)
			fmt.Fprintf(os.Stderr, "%s: %v\n%s", pkg, err, out)
		}
		sc := bufio.NewScanner(bytes.NewReader(out))
		for sc.Scan() {
			r, ok := parseBenchLine(sc.Text())
			if !ok {
				continue
			}
			r.Package = strings.TrimPrefix(pkg, "./")
			res.Micro = append(res.Micro, r)
			if r.PerPacket && r.AllocsOp > 0 {
				res.MicroFlags = append(res.MicroFlags, fmt.Sprintf("%s.%s: %d allocs/op on the per-packet path", r.Package, r.Name, r.AllocsOp))
			}
		}
		if _, err := os.Stat(cpu); err == nil {
			rel, _ := filepath.Rel(o.repo, cpu)
			relm, _ := filepath.Rel(o.repo, mem)
			res.Profiles = append(res.Profiles, rel, relm)
		}
	}
	if len(failed) > 0 {
		return fmt.Errorf("benchmarks failed in %s", strings.Join(failed, ", "))
	}
	return nil
}

// parseBenchLine reads one result line of go test -bench: the name, the iterations, then value-unit
// pairs, ns/op first, the benchmark's own metrics (b.ReportMetric) next and B/op, allocs/op last.
func parseBenchLine(line string) (MicroResult, bool) {
	m := benchHead.FindStringSubmatch(line)
	if m == nil {
		return MicroResult{}, false
	}
	r := MicroResult{Name: m[1], PerPacket: perPacket.MatchString(m[1])}
	f := strings.Fields(m[2])
	for i := 0; i+1 < len(f); i += 2 {
		v, err := strconv.ParseFloat(f[i], 64)
		if err != nil {
			return MicroResult{}, false
		}
		switch unit := f[i+1]; unit {
		case "ns/op":
			r.NsOp = v
		case "B/op":
			r.BOp = int64(v)
		case "allocs/op":
			r.AllocsOp = int64(v)
		default:
			if r.Metrics == nil {
				r.Metrics = map[string]float64{}
			}
			r.Metrics[unit] = v
		}
	}
	return r, r.NsOp > 0 || len(r.Metrics) > 0
}
