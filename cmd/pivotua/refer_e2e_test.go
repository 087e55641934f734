package main

// End-to-end tests of call transfer: TwiML <Refer> sends the SIPp caller a REFER, follows the NOTIFY's
// sipfrag and reports to the action URL with Twilio's parameters; REFERs a peer sends pivotua are
// refused.

import (
	"fmt"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/pivotua/pivotua/internal/testkit"
	"github.com/pivotua/pivotua/internal/testkit/sipptest"
)

// referData fills testdata/sipp/uac_refer.xml.
type referData struct {
	RTPPort      int
	Expect       int    // the caller's answer to the REFER
	ReferTo      string // a regular expression the Refer-To header must match
	Sipfrag      string // the NOTIFY's body (sent only when Expect is 202)
	NotifyAnswer int    // pivotua's answer to the NOTIFY
}

// TestE2EReferReportsTheOutcomeToTheAction: the caller receives a REFER whose Refer-To is the <Sip>
// URI with its X- header, answers it, and (when it accepted) NOTIFYs a sipfrag; the action URL gets
// ReferCallStatus and ReferSipResponseCode as Twilio documents them, and its <Hangup/> ends the call.
func TestE2EReferReportsTheOutcomeToTheAction(t *testing.T) {
	needE2E(t)
	app := newTwiMLApp(t, map[string]func(int) string{
		"/voice": static(`<Response><Refer action="/after" method="POST"><Sip>sip:alice@example.com?X-Ticket=42</Sip></Refer><Say>not reached</Say></Response>`),
		"/after": static(`<Response><Hangup/></Response>`),
	})
	p := startPivotua(t, twimlFlow(app.URL+"/voice"))
	const referTo = `sip:alice@example\.com\?X-Ticket=42>`
	for _, tc := range []struct {
		name         string
		data         referData
		status, code string
	}{
		{"accepted and 200 in the NOTIFY", referData{Expect: 202, Sipfrag: "SIP/2.0 200 OK", NotifyAnswer: 200}, "completed", "200"},
		{"declined", referData{Expect: 603}, "failed", "603"},
		{"accepted and busy in the NOTIFY", referData{Expect: 202, Sipfrag: "SIP/2.0 486 Busy Here", NotifyAnswer: 200}, "failed", "486"},
		// A sipfrag that is not a status line gets 400; the subscription it ends gives no final status.
		{"garbage sipfrag", referData{Expect: 202, Sipfrag: "HELLO there", NotifyAnswer: 400}, "failed", "202"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			app.Reset()
			tc.data.RTPPort, tc.data.ReferTo = testkit.FreePort(t), referTo
			_, err := sipptest.Run(t, sipptest.Call{Scenario: "uac_refer.xml", Data: tc.data, Target: p.sipAddr(), PeerLogs: p.logs})
			if err != nil {
				t.Fatal(err)
			}
			reqs := app.received()
			if got := app.trail(); strings.Join(got, ",") != "POST /voice,POST /after" {
				t.Fatalf("requests %v, want POST /voice then POST /after", got)
			}
			first, after := reqs[0], reqs[1]
			assertSigned(t, after)
			for key, want := range map[string]string{
				"ReferCallStatus":      tc.status,
				"ReferSipResponseCode": tc.code,
				"CallSid":              first.Form.Get("CallSid"),
				"AccountSid":           e2eAccount,
				"CallStatus":           "in-progress",
				"Direction":            "inbound",
				"ApiVersion":           "2010-04-01",
			} {
				if got := after.Body.Get(key); got != want {
					t.Errorf("action %s = %q, want %q", key, got, want)
				}
			}
			if first.Form.Has("ReferCallStatus") || first.Form.Has("ReferSipResponseCode") {
				t.Errorf("the first request has Refer parameters: %v", first.Form)
			}
		})
	}
}

// TestE2EReferFromAPeerIsRefused: a REFER inside a call is refused with 403 (pivotua does not act on
// transfers a peer asks for), and one outside any dialog gets 481.
func TestE2EReferFromAPeerIsRefused(t *testing.T) {
	needE2E(t)
	app := newTwiMLApp(t, map[string]func(int) string{
		"/voice": static(`<Response><Play loop="0">/tone.wav</Play></Response>`),
	})
	p := startPivotua(t, twimlFlow(app.URL+"/voice"))
	if err := runSIPp(t, p, "uac_refer_in.xml", sipptest.Data{RTPPort: testkit.FreePort(t), Expect: 403}); err != nil {
		t.Fatal(err)
	}

	conn, err := net.Dial("udp", p.sipAddr())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	local := conn.LocalAddr().String()
	refer := fmt.Sprintf("REFER sip:pivotua@%s SIP/2.0\r\n"+
		"Via: SIP/2.0/UDP %s;branch=z9hG4bK-stranger-refer;rport\r\n"+
		"From: <sip:mallory@%s>;tag=m1\r\nTo: <sip:pivotua@%s>;tag=nope\r\n"+
		"Call-ID: stranger-refer@e2e\r\nCSeq: 1 REFER\r\nContact: <sip:mallory@%s>\r\n"+
		"Refer-To: <sip:evil@example.com>\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n",
		p.sipAddr(), local, local, p.sipAddr(), local)
	if _, err := conn.Write([]byte(refer)); err != nil {
		t.Fatal(err)
	}
	_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	buf := make([]byte, 4096)
	n, err := conn.Read(buf)
	if err != nil {
		t.Fatalf("no answer to a stranger's REFER: %v", err)
	}
	if line, _, _ := strings.Cut(string(buf[:n]), "\r\n"); line != "SIP/2.0 481 Call/Transaction Does Not Exist" {
		t.Errorf("stranger's REFER answered %q, want 481", line)
	}
	if res, err := http.Get(p.httpURL + "/healthz"); err != nil || res.StatusCode != 200 {
		t.Errorf("pivotua unhealthy after the REFERs: %v", err)
	}
}

// TestE2EReferWithoutNotifyFailsAfterTheWait: a caller that accepts the REFER and never NOTIFYs
// holds <Refer> for its bounded wait (30 s) only; the action then reports failed with the 202.
func TestE2EReferWithoutNotifyFailsAfterTheWait(t *testing.T) {
	needE2E(t)
	app := newTwiMLApp(t, map[string]func(int) string{
		"/voice": static(`<Response><Refer action="/after"><Sip>sip:alice@example.com</Sip></Refer></Response>`),
		"/after": static(`<Response><Hangup/></Response>`),
	})
	// This SIPp caller sends no RTP: the media timeout (15 s by default) must not end the call first.
	p := startPivotua(t, twimlFlow(app.URL+"/voice"), func(c *Config) { c.RTP.MediaTimeout = "60s" })
	start := time.Now()
	data := referData{RTPPort: testkit.FreePort(t), Expect: 202, ReferTo: `sip:alice@example\.com>`}
	if _, err := sipptest.Run(t, sipptest.Call{Scenario: "uac_refer.xml", Data: data, Target: p.sipAddr(), PeerLogs: p.logs}); err != nil {
		t.Fatal(err)
	}
	if took := time.Since(start); took < 29*time.Second || took > 38*time.Second {
		t.Errorf("the call took %v, want the 30 s wait", took)
	}
	after := app.Forms("/after")
	if len(after) != 1 {
		t.Fatalf("action requested %d times", len(after))
	}
	if got := after[0].Get("ReferCallStatus") + " " + after[0].Get("ReferSipResponseCode"); got != "failed 202" {
		t.Errorf("action got %q, want failed 202", got)
	}
}

// calleeReferData fills testdata/sipp/uas_refer.xml.
type calleeReferData struct {
	RTPPort   int
	Codec     int
	CodecName string
	Expect    int
}

// TestE2EReferFromADialedTrunkIsRefused: a bridged callee (a trunk) that sends REFER gets 403
// (sip.accept_refer is off), and the bridge goes on until it hangs up.
func TestE2EReferFromADialedTrunkIsRefused(t *testing.T) {
	needE2E(t)
	uas := sipptest.Start(t, sipptest.Call{Scenario: "uas_refer.xml", Data: calleeReferData{RTPPort: testkit.FreePort(t), Codec: 0, CodecName: "PCMU", Expect: 403}})
	app := newTwiMLApp(t, map[string]func(int) string{
		"/voice": static(fmt.Sprintf(`<Response><Dial timeout="10"><Sip>sip:bob@127.0.0.1:%d</Sip></Dial><Hangup/></Response>`, uas.Port)),
	})
	p := startPivotua(t, twimlFlow(app.URL+"/voice"))
	if err := runSIPp(t, p, "uac_call.xml", sipptest.Data{RTPPort: testkit.FreePort(t), Codec: 0}); err != nil {
		t.Fatal(err)
	}
	if err := uas.Wait(10 * time.Second); err != nil {
		t.Fatal(err)
	}
}
