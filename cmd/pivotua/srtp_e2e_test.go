package main

// SRTP with SDES keys (RFC 4568) against a peer pivotua did not write: baresip with
// mediaenc=srtp-mand offers RTP/SAVP with a=crypto and refuses anything else.

import (
	"context"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pivotua/pivotua/codec"
	"github.com/pivotua/pivotua/internal/testkit"
)

// srtpBaresipConfig prepares baresip in dir to call with SRTP mandatory (RTP/SAVP, a=crypto).
func srtpBaresipConfig(t *testing.T, in []int16) string {
	t.Helper()
	dir, port := t.TempDir(), testkit.FreePort(t)
	writeBaresipConfig(t, dir, port, "srtp", in)
	// The srtp module must load before account.so reads the account's mediaenc.
	conf, err := os.ReadFile(filepath.Join(dir, "config"))
	if err != nil {
		t.Fatal(err)
	}
	conf = []byte(strings.Replace(string(conf), "module account.so", "module srtp.so\nmodule account.so", 1))
	if err := os.WriteFile(filepath.Join(dir, "config"), conf, 0o644); err != nil {
		t.Fatal(err)
	}
	account := fmt.Sprintf("<sip:srtp@127.0.0.1:%d>;regint=0;answermode=auto;mediaenc=srtp-mand\n", port)
	if err := os.WriteFile(filepath.Join(dir, "accounts"), []byte(account), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

// startRTPCapture runs tshark on the loopback for every UDP datagram but p's SIP (pivotua's and
// the peer's RTP); stop ends it and returns each datagram's UDP payload.
func startRTPCapture(t *testing.T, p *pivotuaInstance) (stop func() [][]byte) {
	t.Helper()
	if _, err := exec.LookPath("tshark"); err != nil {
		t.Fatal("tshark is not installed: run `make deps` (Debian package tshark)")
	}
	pcap := filepath.Join(t.TempDir(), "rtp.pcap")
	cmd := exec.Command("tshark", "-q", "-i", "lo", "-f", fmt.Sprintf("udp and not port %d", p.sipPort), "-w", pcap)
	out := &testkit.SyncBuffer{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill() })
	// tshark says "Capturing on 'Loopback: lo'" once the capture is live.
	testkit.WaitFor(t, 10*time.Second, "tshark capturing", func() bool { return strings.Contains(out.String(), "Capturing on") })
	return func() [][]byte {
		time.Sleep(500 * time.Millisecond) // the last packets reach the capture file
		_ = cmd.Process.Signal(os.Interrupt)
		_ = cmd.Wait()
		fields, err := exec.Command("tshark", "-r", pcap, "-T", "fields", "-e", "udp.payload").Output()
		if err != nil {
			t.Fatalf("tshark -r: %v\n%s", err, out.String())
		}
		var payloads [][]byte
		for _, line := range strings.Split(strings.TrimSpace(string(fields)), "\n") {
			b, err := hex.DecodeString(strings.ReplaceAll(strings.TrimSpace(line), ":", ""))
			if err == nil && len(b) > 0 {
				payloads = append(payloads, b)
			}
		}
		return payloads
	}
}

// TestE2ESRTPBaresipMandatoryHearsThePrompt: baresip calls with SRTP mandatory; pivotua (rtp.srtp
// optional) answers RTP/SAVP, plays speech then a 1 kHz tone, and baresip's recording holds them.
// On the wire (tshark) every RTP datagram carries an authentication tag and no frame of the tone
// can be read as PCMU.
func TestE2ESRTPBaresipMandatoryHearsThePrompt(t *testing.T) {
	needE2E(t)
	hook := newWebhook(t, speechThenTone)
	p := startPivotua(t, pivotFlow(hook.URL+"/voice?app=e2e", nil), func(c *Config) { c.RTP.SRTP = "optional" })
	dir := srtpBaresipConfig(t, make([]int16, 8*codec.SampleRate))
	stop := startRTPCapture(t, p)
	heard := runBaresipIn(t, p, dir)
	wire := stop()

	assertSpeechThenTone(t, heard)
	rtpish, tagged, clearTone := 0, 0, 0
	for _, d := range wire {
		if len(d) < 12 || d[0]>>6 != 2 || d[1]&0x7f != 0 { // RTP version 2, PCMU
			continue
		}
		rtpish++
		// A G.711 frame of 20 ms is 160 bytes: plain RTP is 172 bytes, SRTP adds its tag.
		if len(d) == 12+codec.FrameSamples+10 {
			tagged++
		}
		pcm := make([]int16, codec.FrameSamples)
		n := codec.DecodeFrame(codec.PCMU, pcm, d[12:min(len(d), 12+codec.FrameSamples)])
		if testkit.ToneShare(pcm[:n], 1000) > 0.5 {
			clearTone++
		}
	}
	if rtpish < 200 {
		t.Fatalf("the capture holds %d RTP datagrams, want both directions of the call", rtpish)
	}
	if tagged != rtpish {
		t.Errorf("%d of %d RTP datagrams carry an 80-bit SRTP tag; every one should", tagged, rtpish)
	}
	if clearTone != 0 {
		t.Errorf("%d datagrams carry the 1 kHz tone readable as PCMU: media went out in the clear", clearTone)
	}
}

// TestE2ESRTPOffRefusesBaresipMandatory: with rtp.srtp off, baresip's RTP/SAVP offer gets 488.
func TestE2ESRTPOffRefusesBaresipMandatory(t *testing.T) {
	needE2E(t)
	hook := newWebhook(t, speechThenTone)
	p := startPivotua(t, pivotFlow(hook.URL+"/voice?app=e2e", nil), func(c *Config) { c.RTP.SRTP = "off" })
	dir := srtpBaresipConfig(t, make([]int16, 4*codec.SampleRate))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, _ := exec.CommandContext(ctx, "baresip", "-f", dir, "-e", fmt.Sprintf("/dial sip:3004@127.0.0.1:%d", p.sipPort), "-t", "6").CombinedOutput()
	if !strings.Contains(string(out), "488") {
		t.Errorf("baresip was not refused with 488:\n%s\npivotua:\n%s", out, p.logs())
	}
	if got := len(hook.received()); got != 0 {
		t.Errorf("the refused call fetched the voice document %d times", got)
	}
}
