package main

// SRTP with SDES keys (RFC 4568) against a peer pivotua did not write: baresip with
// mediaenc=srtp-mand offers RTP/SAVP with a=crypto and refuses anything else.

import (
	"bytes"
	"context"
	"encoding/hex"
	"fmt"
	"net"
	"net/http"
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

// wireCapture is what tshark saw on the loopback: each UDP datagram's and each TCP segment's payload.
type wireCapture struct {
	udp, tcp [][]byte
}

// startRTPCapture runs tshark on the loopback for p's RTP both ways; stop ends it and returns each
// datagram's UDP payload.
func startRTPCapture(t *testing.T, p *pivotuaInstance) (stop func() [][]byte) {
	t.Helper()
	stopWire := startWireCapture(t, p.rtpFilter())
	return func() [][]byte { return stopWire().udp }
}

// startWireCapture captures the loopback with the capture filter filter; stop ends it and returns
// the payloads it saw.
func startWireCapture(t *testing.T, filter string) (stop func() wireCapture) {
	t.Helper()
	c := testkit.StartTshark(t, filter)
	return func() wireCapture {
		pcap := c.Stop()
		fields, err := exec.Command("tshark", "-r", pcap, "-T", "fields", "-E", "separator=/t", "-e", "udp.payload", "-e", "tcp.payload").Output()
		if err != nil {
			t.Fatalf("tshark -r %s: %v", pcap, err)
		}
		var w wireCapture
		for _, line := range strings.Split(strings.TrimRight(string(fields), "\n"), "\n") {
			cols := strings.SplitN(line, "\t", 2)
			for i, col := range cols {
				b, err := hex.DecodeString(strings.ReplaceAll(strings.TrimSpace(col), ":", ""))
				if err != nil || len(b) == 0 {
					continue
				}
				if i == 0 {
					w.udp = append(w.udp, b)
				} else {
					w.tcp = append(w.tcp, b)
				}
			}
		}
		return w
	}
}

// assertSRTPOnWire fails unless the capture holds both directions of a call's RTP, every RTP
// datagram carries an 80-bit SRTP tag and none carries a frame of a toneHz tone readable as PCMU.
func assertSRTPOnWire(t *testing.T, datagrams [][]byte, toneHz float64) {
	t.Helper()
	rtpish, tagged, clearTone := 0, 0, 0
	for _, d := range datagrams {
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
		if testkit.ToneShare(pcm[:n], toneHz) > 0.5 {
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
		t.Errorf("%d datagrams carry the %v Hz tone readable as PCMU: media went out in the clear", clearTone, toneHz)
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
	assertSRTPOnWire(t, wire, 1000)
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

// srtpOverTLS starts pivotua listening on tls:// (a certificate for 127.0.0.1 from a throwaway CA)
// with rtp.srtp set to mode, and prepares baresip (SRTP mandatory) to trust that CA; it returns
// the URI baresip dials: 3004 over TLS.
func srtpOverTLS(t *testing.T, hook *webhook, mode string) (p *pivotuaInstance, dir, uri string) {
	t.Helper()
	ca := testkit.NewCA(t, "pivotua e2e CA")
	certFile, keyFile := ca.Issue(t, t.TempDir(), "sip", "127.0.0.1", "localhost")
	port := testkit.FreePort(t)
	p = startPivotua(t, pivotFlow(hook.URL+"/voice?app=e2e", nil), func(c *Config) {
		c.SIP.Listen = []string{fmt.Sprintf("tls://127.0.0.1:%d", port)}
		c.SIP.TLS.CertFile, c.SIP.TLS.KeyFile = certFile, keyFile
		c.RTP.SRTP = mode
	})
	dir = srtpBaresipConfig(t, make([]int16, 8*codec.SampleRate))
	f, err := os.OpenFile(filepath.Join(dir, "config"), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := fmt.Fprintf(f, "sip_cafile %s\n", ca.File); err != nil {
		t.Fatal(err)
	}
	f.Close()
	return p, dir, fmt.Sprintf("sip:3004@127.0.0.1:%d;transport=tls", port)
}

// TestE2ESRTPOverTLSHearsThePromptAndHidesItsKeys: baresip calls over TLS with SRTP mandatory and
// hears speech then the tone. tshark on the loopback sees the TLS connection and the RTP: no segment
// or datagram holds readable SIP or the SDES key, and every RTP datagram is SRTP.
func TestE2ESRTPOverTLSHearsThePromptAndHidesItsKeys(t *testing.T) {
	needE2E(t)
	hook := newWebhook(t, speechThenTone)
	p, dir, uri := srtpOverTLS(t, hook, "mandatory")
	stop := startWireCapture(t, fmt.Sprintf("tcp port %d or (%s)", p.sipPort, p.rtpFilter()))
	heard := runBaresipDial(t, p, dir, uri)
	wire := stop()

	assertSpeechThenTone(t, heard)
	assertSRTPOnWire(t, wire.udp, 1000)
	if len(wire.tcp) < 4 {
		t.Fatalf("the capture holds %d TCP segments with payload on the TLS port: the call did not go over TLS", len(wire.tcp))
	}
	for _, seg := range append(wire.tcp, wire.udp...) {
		for _, s := range []string{"INVITE sip:", "SIP/2.0", "a=crypto", "inline:", "RTP/SAVP"} {
			if bytes.Contains(seg, []byte(s)) {
				t.Errorf("%q is readable on the wire", s)
			}
		}
	}
}

// TestE2ESRTPOverTLSOffRefusesMandatory: the same call over TLS with rtp.srtp off gets 488 (pivotua
// listens on tls:// only, so the answer crossed TLS).
func TestE2ESRTPOverTLSOffRefusesMandatory(t *testing.T) {
	needE2E(t)
	hook := newWebhook(t, speechThenTone)
	p, dir, uri := srtpOverTLS(t, hook, "off")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, _ := exec.CommandContext(ctx, "baresip", "-f", dir, "-e", "/dial "+uri, "-t", "6").CombinedOutput()
	if !strings.Contains(string(out), "488") {
		t.Errorf("baresip was not refused with 488 over TLS:\n%s\npivotua:\n%s", out, p.logs())
	}
	if got := len(hook.received()); got != 0 {
		t.Errorf("the refused call fetched the voice document %d times", got)
	}
}

// TestE2ESRTPDialToPlainCalleeBridgesAudioBothWays: baresip (SRTP mandatory, a 1 kHz tone as its
// voice) calls a TwiML flow that Dials a SIPp callee offering and answering plain RTP/AVP (a 600 Hz
// tone), with rtp.srtp optional on pivotua. The callee hangs up after 4 s; each side heard the
// other's tone across the SRTP/RTP bridge.
func TestE2ESRTPDialToPlainCalleeBridgesAudioBothWays(t *testing.T) {
	needE2E(t)
	callee := newDialPeer(t, codec.PCMU, 600)
	uas := startUAS(t, "uas_answer.xml", uasData{RTPPort: callee.port(), Codec: 0, HangupAfterMs: 4000})
	hook := newTwiMLHook(t, map[string]string{
		"/voice": fmt.Sprintf(`<Response><Dial timeout="10"><Sip>sip:bob@127.0.0.1:%d</Sip></Dial></Response>`, uas.port),
	})
	p := startPivotua(t, dialTwiMLFlow(hook.URL+"/voice"), func(c *Config) { c.RTP.SRTP = "optional" })
	dir := srtpBaresipConfig(t, testkit.Sine(1000, codec.SampleRate, testkit.Samples(10*time.Second, codec.SampleRate), 0.4))
	heard := runBaresipIn(t, p, dir)
	if err := uas.wait(t, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	// 4 s of bridge is 200 frames; the first few go to latching and jitter buffers.
	if n := testkit.CountTone(callee.heard(0), 1000); n < 120 {
		t.Errorf("the plain RTP callee heard %d frames of the SRTP caller's 1 kHz tone, want most of the 4 s bridge (200)\npivotua:\n%s", n, p.logs())
	}
	if n := testkit.CountTone(heard, 600); n < 120 {
		t.Errorf("the SRTP caller heard %d frames of the callee's 600 Hz tone, want most of the 4 s bridge (200)\npivotua:\n%s", n, p.logs())
	}
}

// TestE2ESRTPRecordHoldsTheCallersTone: a TwiML <Record> of baresip calling with SRTP mandatory
// (1 s of silence, 2 s of an 800 Hz tone, then silence) holds the tone: the recording is made from
// the decrypted media.
func TestE2ESRTPRecordHoldsTheCallersTone(t *testing.T) {
	needE2E(t)
	app := newTwiMLApp(t, map[string]func(int) string{
		"/voice":    static(`<Response><Record timeout="2" playBeep="false" action="/recorded"/></Response>`),
		"/recorded": static(`<Response><Hangup/></Response>`),
	})
	p := startPivotua(t, twimlFlow(app.URL+"/voice"), func(c *Config) { c.RTP.SRTP = "mandatory" })
	in := append(make([]int16, codec.SampleRate), codec.Tone(800, 2*time.Second, 0.4)...)
	dir := srtpBaresipConfig(t, append(in, make([]int16, 6*codec.SampleRate)...))
	runBaresipIn(t, p, dir)

	reqs := app.received()
	if len(reqs) != 2 || reqs[1].Path != "/recorded" {
		t.Fatalf("requests %q\npivotua:\n%s", app.trail(), p.logs())
	}
	recURL := reqs[1].Form.Get("RecordingUrl")
	res, wav := testkit.Get(t, http.MethodGet, recURL, "")
	if res.StatusCode != 200 {
		t.Fatalf("GET RecordingUrl %q: %d", recURL, res.StatusCode)
	}
	pcm, rate, err := codec.DecodeWAV(wav)
	if err != nil || rate != codec.SampleRate {
		t.Fatalf("recording: rate %d, %v", rate, err)
	}
	if n := testkit.CountKind(testkit.Classify(pcm, 800), testkit.ToneFrame); n < 90 {
		t.Errorf("the recording holds %d frames of the caller's 800 Hz tone, want about 100 (2 s)", n)
	}
}

// TestE2ESRTPGatherCatchesAKeyInsideSRTP: baresip (SRTP mandatory) presses 5 during a <Gather>; the
// key travels as an RFC 4733 event inside SRTP and reaches the action as Digits=5. baresip's cons
// module takes the key press (its menu's /sndcode command) over UDP.
func TestE2ESRTPGatherCatchesAKeyInsideSRTP(t *testing.T) {
	needE2E(t)
	app := newTwiMLApp(t, map[string]func(int) string{
		"/voice":    static(`<Response><Gather numDigits="1" timeout="10" action="/gathered"/></Response>`),
		"/gathered": static(`<Response><Hangup/></Response>`),
	})
	p := startPivotua(t, twimlFlow(app.URL+"/voice"), func(c *Config) { c.RTP.SRTP = "mandatory" })
	dir := srtpBaresipConfig(t, make([]int16, 8*codec.SampleRate))
	// baresip listens for SIP over TLS on the port after its SIP port, which the band hands out
	// next: cons takes the one after.
	consPort := testkit.FreePorts(t, "127.0.0.1", 2) + 1
	f, err := os.OpenFile(filepath.Join(dir, "config"), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := fmt.Fprintf(f, "module cons.so\ncons_listen 127.0.0.1:%d\n", consPort); err != nil {
		t.Fatal(err)
	}
	f.Close()
	said := make(chan string, 1)
	go func() {
		defer close(said)
		time.Sleep(3 * time.Second) // the call is up and the Gather listening
		c, err := net.Dial("udp", fmt.Sprintf("127.0.0.1:%d", consPort))
		if err != nil {
			said <- err.Error()
			return
		}
		defer c.Close()
		_, _ = c.Write([]byte("/sndcode 5\n"))
		buf := make([]byte, 4000)
		_ = c.SetReadDeadline(time.Now().Add(time.Second))
		n, _ := c.Read(buf)
		said <- string(buf[:n])
	}()
	runBaresipIn(t, p, dir)
	if reply := <-said; !strings.Contains(reply, "send DTMF digit: '5'") {
		t.Errorf("baresip's console answered %q to /sndcode 5: the key was not pressed", reply)
	}

	reqs := app.received()
	if len(reqs) != 2 || reqs[1].Path != "/gathered" {
		t.Fatalf("requests %q\npivotua:\n%s", app.trail(), p.logs())
	}
	if got := reqs[1].Form.Get("Digits"); got != "5" {
		t.Errorf("Digits = %q, want the 5 baresip pressed", got)
	}
}
