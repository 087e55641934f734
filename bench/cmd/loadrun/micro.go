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
}

// perPacket names the benchmarks on the path every RTP packet takes (send or receive, 50 a second per
// direction per call): they must show 0 allocs/op.
var perPacket = regexp.MustCompile(`^(SendPacket|BuildFrame|ReceivePacket|RecvFromAndReceive|EncodeFrame|DecodeFrame|Bridge|ParseTelephoneEvent)`)

var benchLine = regexp.MustCompile(`^Benchmark(\S+?)(?:-\d+)?\s+\d+\s+([\d.]+) ns/op(?:\s+(\d+) B/op\s+(\d+) allocs/op)?`)

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
			m := benchLine.FindStringSubmatch(sc.Text())
			if m == nil {
				continue
			}
			r := MicroResult{Package: strings.TrimPrefix(pkg, "./"), Name: m[1]}
			r.NsOp, _ = strconv.ParseFloat(m[2], 64)
			r.BOp, _ = strconv.ParseInt(m[3], 10, 64)
			r.AllocsOp, _ = strconv.ParseInt(m[4], 10, 64)
			r.PerPacket = perPacket.MatchString(r.Name)
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
