package sipptest

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"text/template"
	"time"

	"github.com/pivotua/pivotua/internal/testkit"
)

// Data fills the uac_*.xml templates of testdata/sipp.
type Data struct {
	Service   string // the number called; 3004 when empty
	RTPPort   int
	Codec     int
	CodecName string // PCMU or PCMA from Codec when empty
	Expect    int
	PCAP      string // for uac_pcap.xml: the caller's RTP to replay
	NoEvents  bool   // for uac_pcap.xml: offer no telephone-event (DTMF only in-band)
}

// ScenarioDir is the repository's testdata/sipp, found from this file so that any package's
// tests may render its scenarios.
var ScenarioDir = func() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..", "..", "testdata", "sipp")
}()

// RenderScenario writes ScenarioDir/<name>, rendered with data, into dir and returns its path.
func RenderScenario(t testing.TB, dir, name string, data any) string {
	t.Helper()
	scen, err := WriteScenario(dir, name, data)
	if err != nil {
		t.Fatal(err)
	}
	return scen
}

// WriteScenario is RenderScenario for a goroutine other than the test's: it returns its error.
func WriteScenario(dir, name string, data any) (string, error) {
	tmpl, err := template.ParseFiles(filepath.Join(ScenarioDir, name))
	if err != nil {
		return "", err
	}
	scen := filepath.Join(dir, name)
	f, err := os.Create(scen)
	if err != nil {
		return "", err
	}
	defer f.Close()
	return scen, tmpl.Execute(f, data)
}

// Call is one SIPp run of one call.
type Call struct {
	Dir      string        // where the scenario is rendered and SIPp leaves its traces; t.TempDir() when empty
	Scenario string        // a file of ScenarioDir
	Data     any           // the template's data
	Target   string        // host:port to call; empty for a callee
	Port     int           // SIPp's SIP port; a free one when 0
	Args     []string      // more SIPp options
	PeerLogs func() string // the peer's log, added to a failure (optional)
	Within   time.Duration // how long the run may take; 60 s when 0 (SIPp's own -timeout follows it)
}

func (c *Call) within() time.Duration {
	if c.Within > 0 {
		return c.Within
	}
	return 60 * time.Second
}

func (c *Call) prepare(t testing.TB) []string {
	t.Helper()
	if c.Dir == "" {
		c.Dir = t.TempDir()
	}
	if c.Port == 0 {
		c.Port = testkit.FreePort(t)
	}
	if d, ok := c.Data.(Data); ok {
		if d.Service == "" {
			d.Service = "3004"
		}
		if d.CodecName == "" {
			d.CodecName = map[int]string{0: "PCMU", 8: "PCMA"}[d.Codec]
		}
		c.Data = d
	}
	scen := RenderScenario(t, c.Dir, c.Scenario, c.Data)
	var args []string
	if c.Target != "" {
		args = append(args, c.Target)
	}
	args = append(args, "-sf", scen, "-m", "1", "-i", "127.0.0.1", "-p", strconv.Itoa(c.Port),
		"-mi", "127.0.0.1", "-mp", strconv.Itoa(testkit.FreeMediaPort(t)),
		"-nostdin", "-trace_err", "-timeout", fmt.Sprintf("%ds", int((c.within()-15*time.Second)/time.Second)), "-timeout_error")
	return append(args, c.Args...)
}

// failure explains a failed run: SIPp's output, its error log and the peer's log.
func (c *Call) failure(who string, err error, out string, lines int) error {
	var details strings.Builder
	errLogs, _ := filepath.Glob(filepath.Join(c.Dir, "*_errors.log"))
	for _, l := range errLogs {
		b, _ := os.ReadFile(l)
		details.Write(b)
	}
	peer := ""
	if c.PeerLogs != nil {
		peer = "\npeer log:\n" + c.PeerLogs()
	}
	return fmt.Errorf("%s %s: %v\n%s\nerrors log:\n%s%s", who, c.Scenario, err, LastLines(out, lines), details.String(), peer)
}

// Run runs c to its end (at most c.Within) and returns the text of SIPp's message traces (written
// with -trace_msg); an error says why the scenario failed.
func Run(t testing.TB, c Call) (string, error) {
	t.Helper()
	args := c.prepare(t)
	ctx, cancel := context.WithTimeout(context.Background(), c.within())
	defer cancel()
	cmd := exec.CommandContext(ctx, "sipp", args...)
	cmd.Dir = c.Dir
	out, err := cmd.CombinedOutput()
	if err != nil {
		return "", c.failure("sipp", err, string(out), 30)
	}
	var traces strings.Builder
	logs, _ := filepath.Glob(filepath.Join(c.Dir, "*_messages.log"))
	for _, l := range logs {
		b, _ := os.ReadFile(l)
		traces.Write(b)
	}
	return traces.String(), nil
}

// Running is a SIPp run in the background, typically a callee.
type Running struct {
	Port int    // its SIP port
	Dir  string // its folder, with its traces
	done chan error
}

// Start runs c in the background (at most 60 s, killed when t ends) and returns once SIPp has had
// time to bind its socket.
func Start(t testing.TB, c Call) *Running {
	t.Helper()
	args := c.prepare(t)
	r := &Running{Port: c.Port, Dir: c.Dir, done: make(chan error, 1)}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	cmd := exec.CommandContext(ctx, "sipp", args...)
	cmd.Dir = c.Dir
	var out testkit.SyncBuffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		cancel()
		t.Fatal(err)
	}
	go func() {
		err := cmd.Wait()
		cancel()
		if err != nil {
			err = c.failure("sipp", err, out.String(), 20)
		}
		r.done <- err
	}()
	t.Cleanup(func() { _ = cmd.Process.Kill() })
	time.Sleep(300 * time.Millisecond) // SIPp binds its socket
	return r
}

// Wait returns the run's result (nil: the scenario passed), or an error after within.
func (r *Running) Wait(within time.Duration) error {
	select {
	case err := <-r.done:
		return err
	case <-time.After(within):
		return fmt.Errorf("sipp still running after %v", within)
	}
}

// LastLines is the last n lines of s, for failure messages.
func LastLines(s string, n int) string {
	lines := strings.Split(s, "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
