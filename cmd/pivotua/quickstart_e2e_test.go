package main

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/pivotua/pivotua/codec"
)

// TestE2EQuickStartFromAFreshClone does what the README's quick start says, as a newcomer would:
// in a fresh clone, inside a network namespace of its own (so 5060 and 8000 are free whatever
// else runs), `make run`, then each way of calling the demo the README shows, with the commands
// taken from the README itself. What each caller heard is judged: the spoken welcome, the chime
// and the goodbye. It clones HEAD: uncommitted changes are not in the clone.
func TestE2EQuickStartFromAFreshClone(t *testing.T) {
	needE2E(t)
	if os.Geteuid() != 0 {
		t.Skip("a network namespace needs root; CI runs as root")
	}
	for _, tool := range []string{"git", "make", "ip", "baresip"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s is not installed: run `make deps`", tool)
		}
	}
	commands := quickStartCommands(t)

	top, err := exec.Command("git", "rev-parse", "--show-toplevel").Output()
	if err != nil {
		t.Fatalf("not in a git checkout: %v", err)
	}
	clone := filepath.Join(t.TempDir(), "pivotua")
	if out, err := exec.Command("git", "clone", "-q", strings.TrimSpace(string(top)), clone).CombinedOutput(); err != nil {
		t.Fatalf("git clone: %v\n%s", err, out)
	}
	ns := fmt.Sprintf("pivotua-qs-%d", os.Getpid())
	if out, err := exec.Command("ip", "netns", "add", ns).CombinedOutput(); err != nil {
		t.Fatalf("ip netns add: %v\n%s", err, out)
	}
	t.Cleanup(func() { _ = exec.Command("ip", "netns", "delete", ns).Run() })
	if out, err := exec.Command("ip", "-n", ns, "link", "set", "lo", "up").CombinedOutput(); err != nil {
		t.Fatalf("lo up: %v\n%s", err, out)
	}
	inNS := func(ctx context.Context, command string) *exec.Cmd {
		cmd := exec.CommandContext(ctx, "ip", "netns", "exec", ns, "sh", "-c", command)
		cmd.Dir = clone
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true} // make and its pivotua end together
		cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
		return cmd
	}

	// make run: build, then serve until the banner says what to call.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	server := inNS(ctx, commands["make run"])
	out, err := server.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	server.Stderr = server.Stdout
	if err := server.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = syscall.Kill(-server.Process.Pid, syscall.SIGTERM)
		_ = server.Wait()
	})
	var serverLog strings.Builder
	ready := make(chan bool, 1)
	go func() {
		sc := bufio.NewScanner(out)
		signalled := false
		for sc.Scan() {
			serverLog.WriteString(sc.Text() + "\n")
			if !signalled && strings.Contains(sc.Text(), "call        sip:3004@127.0.0.1:5060") {
				ready <- true
				signalled = true
			}
		}
		if !signalled {
			ready <- false
		}
	}()
	select {
	case ok := <-ready:
		if !ok {
			t.Fatalf("make run ended before its banner:\n%s", serverLog.String())
		}
	case <-time.After(4 * time.Minute):
		t.Fatalf("make run printed no banner in 4 minutes:\n%s", serverLog.String())
	}

	run := func(name string) {
		t.Helper()
		cctx, ccancel := context.WithTimeout(ctx, 60*time.Second)
		defer ccancel()
		start := time.Now()
		b, err := inNS(cctx, commands[name]).CombinedOutput()
		if err != nil {
			t.Fatalf("%s: %v after %s\n%s", commands[name], err, time.Since(start).Round(time.Millisecond), b)
		}
		if d := time.Since(start); d < 12*time.Second {
			t.Errorf("%s ended after %s; the demo lasts about 14 s\n%s", commands[name], d.Round(time.Millisecond), b)
		}
	}

	run("./bin/pivotua call")
	assertHeardDemo(t, "pivotua call", readWAV(t, filepath.Join(clone, "heard.wav")))

	run("sipp") // exit 0: one call, successful, that stayed on the line until pivotua's BYE

	run("baresip")
	heard, _ := filepath.Glob(filepath.Join(clone, "heard", "*-dec.wav"))
	if len(heard) != 1 {
		t.Fatalf("baresip wrote %v, want one recording of what it heard", heard)
	}
	assertHeardDemo(t, "baresip", readWAV(t, heard[0]))
}

// quickStartCommands reads the README's quick start: the commands a newcomer types, by what they
// start with. A README that drops or renames one fails here rather than going stale.
func quickStartCommands(t *testing.T) map[string]string {
	t.Helper()
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	text := string(readme)
	start := strings.Index(text, "## Quick start")
	if start < 0 {
		t.Fatal("README.md has no '## Quick start'")
	}
	section := text[start+1:]
	if end := strings.Index(section, "\n## "); end >= 0 {
		section = section[:end]
	}
	found := map[string]string{}
	inBlock := false
	for _, line := range strings.Split(section, "\n") {
		if strings.HasPrefix(line, "```") {
			inBlock = !inBlock
			continue
		}
		if !inBlock {
			continue
		}
		cmd := strings.TrimPrefix(line, "$ ")
		if i := strings.Index(cmd, "  #"); i >= 0 { // the README's trailing comments
			cmd = cmd[:i]
		}
		cmd = strings.TrimSpace(cmd)
		for _, prefix := range []string{"make run", "./bin/pivotua call", "sipp", "mkdir -p heard && baresip"} {
			if strings.HasPrefix(cmd, prefix) {
				key := strings.TrimPrefix(prefix, "mkdir -p heard && ")
				if _, dup := found[key]; !dup {
					found[key] = cmd
				}
			}
		}
	}
	for _, key := range []string{"make run", "./bin/pivotua call", "sipp", "baresip"} {
		if found[key] == "" {
			t.Fatalf("README's quick start has no %q command", key)
		}
	}
	// SIPp's statistics screen needs a terminal; the rest of the command is the README's.
	found["sipp"] += " -nostdin"
	return found
}

func readWAV(t *testing.T, path string) []int16 {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	pcm, rate, err := codec.DecodeWAV(data)
	if err != nil || rate != codec.SampleRate {
		t.Fatalf("%s: rate %d, %v", path, rate, err)
	}
	return pcm
}
