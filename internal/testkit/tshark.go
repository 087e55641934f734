package testkit

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Tshark is a capture of the loopback by tshark into a pcap file, a judge of
// what crossed the wire that pivotua did not write.
type Tshark struct {
	cmd  *exec.Cmd
	path string
	out  SyncBuffer
	once sync.Once
}

// StartTshark captures what on lo matches the capture filter (BPF, e.g. "tcp port
// 5061") and returns once tshark is capturing. The test's cleanup stops it too.
// tshark runs in a process group of its own and is stopped with its dumpcap
// child: a dumpcap left behind would keep every descriptor the test inherited,
// such as the lock that serialises the end-to-end runs, held for everyone.
func StartTshark(t testing.TB, filter string) *Tshark {
	t.Helper()
	if _, err := exec.LookPath("tshark"); err != nil {
		t.Fatal("tshark is not installed: run `make deps` (Debian package tshark)")
	}
	c := &Tshark{path: filepath.Join(t.TempDir(), "capture.pcap")}
	c.cmd = exec.Command("tshark", "-q", "-i", "lo", "-f", filter, "-w", c.path)
	c.cmd.Stdout, c.cmd.Stderr = &c.out, &c.out
	c.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := c.cmd.Start(); err != nil {
		t.Fatalf("tshark: %v", err)
	}
	t.Cleanup(func() { c.Stop() })
	WaitFor(t, 10*time.Second, "tshark capturing", func() bool { return strings.Contains(c.out.String(), "Capturing on") })
	return c
}

// Stop ends the capture (once; later calls return the same) and returns the pcap's path.
func (c *Tshark) Stop() string {
	c.once.Do(func() {
		time.Sleep(300 * time.Millisecond) // the last packets reach the file
		pg := -c.cmd.Process.Pid
		_ = syscall.Kill(pg, syscall.SIGINT)
		done := make(chan struct{})
		go func() { _ = c.cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			_ = syscall.Kill(pg, syscall.SIGKILL)
			<-done
		}
	})
	return c.path
}

// TsharkFields reads a pcap: the value of field in each frame that passes the display filter
// (empty: every frame), one per frame that has it.
func TsharkFields(t testing.TB, pcap, displayFilter, field string) []string {
	t.Helper()
	args := []string{"-r", pcap, "-T", "fields", "-e", field}
	if displayFilter != "" {
		args = append(args, "-Y", displayFilter)
	}
	out, err := exec.Command("tshark", args...).Output()
	if err != nil {
		t.Fatalf("tshark %s: %v", strings.Join(args, " "), err)
	}
	return strings.Fields(string(out))
}

// AssertTLSOnly judges a capture of a TLS port: at least minRecords TLS application data
// records, nothing tshark decodes as SIP, and none of clear in the raw bytes.
func AssertTLSOnly(t testing.TB, pcap, what string, minRecords int, clear ...string) {
	t.Helper()
	raw, err := os.ReadFile(pcap)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range append([]string{"SIP/2.0"}, clear...) {
		if bytes.Contains(raw, []byte(c)) {
			t.Errorf("the capture of %s holds %q in clear", what, c)
		}
	}
	if n := len(TsharkFields(t, pcap, "tls.app_data", "frame.number")); n < minRecords {
		t.Errorf("tshark found %d TLS application data records on %s, want at least %d", n, what, minRecords)
	}
	if sip := TsharkFields(t, pcap, "sip", "frame.number"); len(sip) != 0 {
		t.Errorf("tshark decoded SIP on %s (frames %v)", what, sip)
	}
}
