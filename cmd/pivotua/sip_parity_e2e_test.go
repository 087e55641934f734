package main

import (
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/pion/rtp"
	"github.com/pion/srtp/v3"
	"github.com/pivotua/pivotua/internal/testkit/sipptest"
)

// reinviteTimerData fills testdata/sipp/uac_session_timer_reinvite.xml.
type reinviteTimerData struct {
	Service string
	RTPPort int
	First   int // the answer to pivotua's first re-INVITE
}

// sippReceived splits SIPp's -trace_msg text into the messages it received.
func sippReceived(trace string) []string {
	var msgs []string
	for _, part := range strings.Split(strings.ReplaceAll(trace, "\r", ""), "----------") {
		// A date line, "UDP message received [n] bytes :", then the message.
		if !strings.Contains(part, "message received") {
			continue
		}
		if _, msg, ok := strings.Cut(part, "bytes :"); ok {
			msgs = append(msgs, strings.TrimSpace(msg))
		}
	}
	return msgs
}

var (
	originLine = regexp.MustCompile(`(?m)^o=pivotua \d+ \d+ .*$`)
	cseqLine   = regexp.MustCompile(`(?m)^CSeq: *(\d+) (\w+)`)
)

// TestE2EParitySessionTimerReInvite (issue 21 item 5): a caller whose INVITE does not allow UPDATE
// and asks for Session-Expires 90;refresher=uas is refreshed by pivotua with re-INVITEs at half the
// interval. Each offers pivotua's SDP unchanged, o= version included (RFC 3264 §8), and its 2xx is
// ACKed with the re-INVITE's CSeq. The callers run side by side (about 92 s): one answers 200, gets
// a second ACK for the 200 sent again (RFC 6026: a lost ACK), and the next refresh at 90 s, so the
// call outlived its first interval; 491 is retried within 2 s
// (RFC 3261 §14.1), 422 with its Min-SE; 481 ends the call with BYE, counted as an expired session.
// Before pivotua refreshed by re-INVITE, such a caller got no session timer at all (no
// Session-Expires in the 200: the scenario's first check failed).
func TestE2EParitySessionTimerReInvite(t *testing.T) {
	needE2E(t)
	hook := newWebhook(t, func(w *webhook) any {
		return map[string]any{"module": "play", "data": map[string]any{"id": w.URL + "/tone.wav", "loop_count": 70}}
	})
	// The callers send no RTP: no media timeout in the way.
	p := startPivotua(t, pivotFlow(hook.URL+"/voice", nil), func(c *Config) { c.RTP.MediaTimeout = "300s" })
	for _, tc := range []struct {
		name  string
		first int
	}{{"Answered200", 200}, {"Glare491", 491}, {"TooSmall422", 422}, {"Gone481", 481}} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			data := reinviteTimerData{Service: "3004", RTPPort: sipptest.NewCapture(t).Port(), First: tc.first}
			trace, err := sipptest.Run(t, sipptest.Call{Scenario: "uac_session_timer_reinvite.xml", Data: data,
				Target: p.sipAddr(), PeerLogs: p.logs, Within: 130 * time.Second, Args: []string{"-trace_msg"}})
			if err != nil {
				t.Fatal(err)
			}
			var answerOrigin string
			var reinvites []string
			acks := map[string]bool{}
			for _, m := range sippReceived(trace) {
				cseq := cseqLine.FindStringSubmatch(m)
				switch {
				case cseq == nil:
				case strings.HasPrefix(m, "SIP/2.0 200") && cseq[2] == "INVITE" && cseq[1] == "1":
					answerOrigin = originLine.FindString(m)
				case strings.HasPrefix(m, "INVITE "):
					if o := originLine.FindString(m); o != answerOrigin {
						t.Errorf("re-INVITE offers %q; the answer to the INVITE had %q (nothing changed: RFC 3264 §8)", o, answerOrigin)
					}
					reinvites = append(reinvites, cseq[1])
				case strings.HasPrefix(m, "ACK ") && cseq[2] == "ACK":
					acks[cseq[1]] = true
				}
			}
			if answerOrigin == "" || len(reinvites) == 0 {
				t.Fatalf("no o= line in pivotua's 200 (%q) or no re-INVITE (%v) in the trace", answerOrigin, reinvites)
			}
			if last := reinvites[len(reinvites)-1]; tc.first != 481 && !acks[last] {
				t.Errorf("the 200 to the re-INVITE with CSeq %s was not ACKed with that CSeq (ACKs seen: %v)", last, acks)
			}
		})
	}
	t.Cleanup(func() {
		if t.Failed() {
			return
		}
		if n := scrape(t, p, "pivotua_session_timer_expired_total"); n != 1 {
			t.Errorf("pivotua_session_timer_expired_total = %v, want 1 (the caller that answered 481)", n)
		}
	})
}

// srtpCallerData fills testdata/sipp/uac_srtp_call.xml.
type srtpCallerData struct {
	Service string
	RTPPort int
	Key     string // base64 of the 16-byte master key and 14-byte salt (RFC 4568 §6.1 inline:)
}

var answerMedia = regexp.MustCompile(`(?s)SIP/2.0 200 OK.*?c=IN IP4 (\S+).*?m=audio (\d+) RTP/SAVP`)

// pivotuaRTPOf waits for the 200 in a running SIPp's message trace and returns the RTP address of its SDP.
func pivotuaRTPOf(t *testing.T, r *sipptest.Running) *net.UDPAddr {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		logs, _ := filepath.Glob(filepath.Join(r.Dir, "*_messages.log"))
		for _, l := range logs {
			b, _ := os.ReadFile(l)
			if m := answerMedia.FindSubmatch(b); m != nil {
				addr, err := net.ResolveUDPAddr("udp", net.JoinHostPort(string(m[1]), string(m[2])))
				if err != nil {
					t.Fatal(err)
				}
				return addr
			}
		}
	}
	t.Fatal("no 200 with an RTP/SAVP answer in SIPp's trace")
	return nil
}

// sendCallerRTP sends 20 ms PCMU packets of silence from conn to dst until stop closes or d has
// passed, each protected by ctx (nil: plain RTP), and returns when it sent the last one.
func sendCallerRTP(t *testing.T, conn *net.UDPConn, dst *net.UDPAddr, ctx *srtp.Context, d time.Duration, stop <-chan struct{}) time.Time {
	payload := make([]byte, 160)
	for i := range payload {
		payload[i] = 0xff // PCMU silence
	}
	pkt := rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 0, SSRC: 0x5eed1e55}, Payload: payload}
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	var last time.Time
	for end := time.Now().Add(d); time.Now().Before(end); {
		select {
		case <-stop:
			return last
		case <-tick.C:
		}
		pkt.SequenceNumber++
		pkt.Timestamp += 160
		raw, err := pkt.Marshal()
		if err != nil {
			t.Error(err)
			return last
		}
		if ctx != nil {
			if raw, err = ctx.EncryptRTP(nil, raw, nil); err != nil {
				t.Error(err)
				return last
			}
		}
		if _, err := conn.WriteToUDP(raw, dst); err != nil {
			t.Error(err)
			return last
		}
		last = time.Now()
	}
	return last
}

// TestE2EParitySRTPMediaTimeout (issue 21 item 2): on an SRTP call the media timeout works as on
// plain RTP. A caller (SIPp offering RTP/SAVP with the test's key, the test's Go sender for its
// media) whose SRTP packets keep the call alive for 6 s, three media timeouts, is hung up about 3 s
// after it goes silent. One that sends plain RTP into the SRTP session, so every packet fails
// authentication, is hung up 3 s after the call started although its packets never stop: forged
// packets do not keep a call alive.
func TestE2EParitySRTPMediaTimeout(t *testing.T) {
	needE2E(t)
	hook := newWebhook(t, func(w *webhook) any {
		return map[string]any{"module": "play", "data": map[string]any{"id": w.URL + "/tone.wav", "loop_count": 20}}
	})
	const timeout = 3 * time.Second
	p := startPivotua(t, pivotFlow(hook.URL+"/voice", nil), func(c *Config) {
		c.RTP.SRTP = "optional"
		c.RTP.MediaTimeout = timeout.String()
	})
	call := func(t *testing.T) (*sipptest.Running, *net.UDPConn, *net.UDPAddr, *srtp.Context) {
		conn, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { conn.Close() })
		key := make([]byte, 30)
		_, _ = rand.Read(key)
		ctx, err := srtp.CreateContext(key[:16], key[16:], srtp.ProtectionProfileAes128CmHmacSha1_80)
		if err != nil {
			t.Fatal(err)
		}
		data := srtpCallerData{Service: "3004", RTPPort: conn.LocalAddr().(*net.UDPAddr).Port, Key: base64.StdEncoding.EncodeToString(key)}
		r := sipptest.Start(t, sipptest.Call{Scenario: "uac_srtp_call.xml", Data: data, Target: p.sipAddr(), PeerLogs: p.logs,
			Args: []string{"-trace_msg"}})
		return r, conn, pivotuaRTPOf(t, r), ctx
	}
	t.Run("SilentAfterSRTP", func(t *testing.T) {
		t.Parallel()
		r, conn, dst, ctx := call(t)
		last := sendCallerRTP(t, conn, dst, ctx, 2*timeout, nil)
		if err := r.Wait(15 * time.Second); err != nil {
			t.Fatal(err)
		}
		if quiet := time.Since(last); quiet < timeout-500*time.Millisecond || quiet > timeout+2500*time.Millisecond {
			t.Errorf("BYE %v after the caller's last SRTP packet; want about the %v media timeout", quiet, timeout)
		}
	})
	t.Run("PlainRTPIntoSRTP", func(t *testing.T) {
		t.Parallel()
		r, conn, dst, _ := call(t)
		start := time.Now()
		stop := make(chan struct{})
		sent := make(chan time.Time, 1)
		go func() { sent <- sendCallerRTP(t, conn, dst, nil, 5*timeout, stop) }()
		err := r.Wait(20 * time.Second)
		took := time.Since(start)
		close(stop)
		last := <-sent
		if err != nil {
			t.Fatal(err)
		}
		if took > timeout+2500*time.Millisecond || time.Since(last) > time.Second {
			t.Errorf("BYE %v into the call, %v after the last forged packet; want about the %v media timeout while they still came", took, time.Since(last), timeout)
		}
	})
	t.Cleanup(func() {
		if n := strings.Count(p.logs(), "rtp media timeout"); n != 2 && !t.Failed() {
			t.Errorf("%d media timeouts logged, want 2:\n%s", n, lastLines(p.logs(), 30))
		}
	})
}

// TestE2EParitySipURIHeaders (issue 24): headers written into a <Sip> URI, as Twilio's <Sip> page
// shows them, reach the callee (SIPp, which checks them) as header fields of its INVITE, and its
// Request-URI carries none; the same through a Kazoo sip_uri. Before, they stayed in the
// Request-URI and the callee's checks failed.
func TestE2EParitySipURIHeaders(t *testing.T) {
	needE2E(t)
	const headers = "?x-mycustomheader=foo&x-myotherheader=bar&User-to-User=56a390f3%3Bencoding%3Dhex"
	for _, format := range []string{"twiml", "kazoo"} {
		t.Run(format, func(t *testing.T) {
			uas := startUAS(t, "uas_sip_headers.xml", uasData{})
			uri := fmt.Sprintf("sip:bob@127.0.0.1:%d%s", uas.port, headers)
			var flow map[string]any
			if format == "twiml" {
				hook := newTwiMLHook(t, map[string]string{
					"/voice": `<Response><Dial><Sip>` + strings.ReplaceAll(uri, "&", "&amp;") + `</Sip></Dial></Response>`,
				})
				flow = dialTwiMLFlow(hook.URL + "/voice")
			} else {
				flow = map[string]any{"module": "sip_uri", "data": map[string]any{"uri": uri, "timeout": 5}}
			}
			p := startPivotua(t, flow)
			// The callee answers 486. TwiML answered the caller before dialling and hangs up after the
			// Dial; Kazoo's sip_uri bridges on answer, so its caller is refused (with what does not
			// matter here: the callee's checks are the test).
			err := runSIPp(t, p, "uac_call.xml", sipptest.Data{RTPPort: sipptest.NewCapture(t).Port(), Codec: 0})
			if format == "twiml" && err != nil {
				t.Error(err)
			}
			if err := uas.wait(t, 10*time.Second); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// TestE2EParitySipHeaderParams (issue 24): the X- headers of the caller's INVITE reach the TwiML
// document's webhook as SipHeader_<name>, as Twilio passes them (uac_call.xml sends X-Test-Header).
func TestE2EParitySipHeaderParams(t *testing.T) {
	needE2E(t)
	hook := newTwiMLHook(t, map[string]string{"/voice": `<Response><Say>Hello.</Say></Response>`})
	p := startPivotua(t, dialTwiMLFlow(hook.URL+"/voice"))
	if err := runSIPp(t, p, "uac_call.xml", sipptest.Data{RTPPort: sipptest.NewCapture(t).Port(), Codec: 0}); err != nil {
		t.Fatal(err)
	}
	forms := hook.Forms("/voice")
	if len(forms) == 0 {
		t.Fatal("no pivot request")
	}
	if got := forms[0].Get("SipHeader_X-Test-Header"); got != "hello" {
		t.Errorf("SipHeader_X-Test-Header = %q, want hello (the INVITE's X-Test-Header); params %v", got, forms[0])
	}
}
