package main

// End-to-end tests of Dial: SIPp calls pivotua (the A leg), pivotua calls a
// SIPp UAS or baresip (the B leg) and bridges them. Each party's audio is a
// Go RTP peer that sends a tone and records what it hears on one socket
// (symmetric RTP latches pivotua to it), so audio is judged both ways.

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pion/rtp"

	"github.com/pivotua/pivotua/codec"
	"github.com/pivotua/pivotua/internal/testkit"
	"github.com/pivotua/pivotua/internal/testkit/sipptest"
)

// dialPeer is one party's phone audio: it sends a tone in law to whoever
// sent it RTP first (pivotua), from the socket it receives on, and keeps
// what it hears.
type dialPeer struct {
	conn   *net.UDPConn
	law    codec.Law
	freq   float64
	remote atomic.Pointer[netip.AddrPort]
	digit  chan byte // keys to send as RFC 4733 events (PT 101)

	mu   sync.Mutex
	pkts []sipptest.Packet
	done chan struct{}
}

func newDialPeer(t *testing.T, law codec.Law, freq float64) *dialPeer {
	t.Helper()
	conn, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	p := &dialPeer{conn: conn, law: law, freq: freq, digit: make(chan byte, 4), done: make(chan struct{})}
	go p.read()
	go p.send()
	t.Cleanup(func() { close(p.done); conn.Close() })
	return p
}

func (p *dialPeer) port() int { return p.conn.LocalAddr().(*net.UDPAddr).Port }

func (p *dialPeer) read() {
	buf := make([]byte, 1500)
	for {
		n, from, err := p.conn.ReadFromUDPAddrPort(buf)
		if err != nil {
			return
		}
		var pkt rtp.Packet
		if pkt.Unmarshal(buf[:n]) != nil {
			continue
		}
		if p.remote.Load() == nil {
			p.remote.Store(&from)
		}
		p.mu.Lock()
		p.pkts = append(p.pkts, sipptest.Packet{At: time.Now(), Header: pkt.Header, Payload: append([]byte(nil), pkt.Payload...)})
		p.mu.Unlock()
	}
}

// send streams the tone every 20 ms once pivotua's address is known; a key
// in digit replaces the audio with an RFC 4733 event (5 packets and 3 ends).
func (p *dialPeer) send() {
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	seq, ts, ssrc := uint16(1), uint32(0), uint32(0x5eed0000+p.freq)
	var pos int
	tone := testkit.Sine(p.freq, codec.SampleRate, testkit.Samples(time.Second, codec.SampleRate), 0.4)
	frame := make([]byte, codec.FrameSamples)
	var event []byte
	var eventTS uint32
	eventPkts := 0
	for {
		select {
		case <-p.done:
			return
		case <-tick.C:
		}
		to := p.remote.Load()
		if to == nil {
			continue
		}
		h := rtp.Header{Version: 2, SSRC: ssrc, SequenceNumber: seq, Timestamp: ts, PayloadType: uint8(p.law)}
		payload := frame
		if eventPkts == 0 {
			select {
			case k := <-p.digit:
				code := map[byte]byte{'*': 10, '#': 11}[k]
				if k >= '0' && k <= '9' {
					code = k - '0'
				}
				event, eventTS, eventPkts = []byte{code, 10, 0, 0}, ts, 8
				h.Marker = true
			default:
			}
		}
		if eventPkts > 0 {
			i := 8 - eventPkts
			dur := uint16(min(i+1, 5) * codec.FrameSamples)
			event[1] = 10
			if i >= 5 {
				event[1] |= 0x80
			}
			event[2], event[3] = byte(dur>>8), byte(dur)
			h.PayloadType, h.Timestamp, payload = 101, eventTS, event
			eventPkts--
		} else {
			for i := range frame {
				frame[i] = 0
			}
			codec.EncodeFrame(p.law, frame, tone[pos:pos+codec.FrameSamples])
			pos = (pos + codec.FrameSamples) % (len(tone) - codec.FrameSamples)
		}
		b, _ := (&rtp.Packet{Header: h, Payload: payload}).Marshal()
		_, _ = p.conn.WriteToUDPAddrPort(b, *to)
		seq++
		ts += codec.FrameSamples
	}
}

// heard decodes the audio packets pivotua sent this party (payload type pt).
func (p *dialPeer) heard(pt uint8) []int16 {
	p.mu.Lock()
	defer p.mu.Unlock()
	var pcm []int16
	frame := make([]int16, 480)
	for _, pk := range p.pkts {
		if pk.Header.PayloadType == pt {
			n := codec.DecodeFrame(codec.Law(pt), frame, pk.Payload)
			pcm = append(pcm, frame[:n]...)
		}
	}
	return pcm
}

// events returns the RFC 4733 event codes pivotua sent this party on pt, one per event.
func (p *dialPeer) events(pt uint8) []byte {
	p.mu.Lock()
	defer p.mu.Unlock()
	var keys []byte
	var lastTS uint32
	for i, pk := range p.pkts {
		if pk.Header.PayloadType != pt || len(pk.Payload) < 4 {
			continue
		}
		if len(keys) == 0 || pk.Header.Timestamp != lastTS || i == 0 {
			keys = append(keys, pk.Payload[0])
			lastTS = pk.Header.Timestamp
		}
	}
	return keys
}

// newTwiMLHook answers each path of docs with its TwiML document, and 404 otherwise.
func newTwiMLHook(t *testing.T, docs map[string]string) *testkit.Webhook {
	t.Helper()
	typed := map[string][2]string{}
	for path, doc := range docs {
		typed[path] = [2]string{"text/xml", doc}
	}
	return testkit.NewWebhook(t, testkit.ServeDocs(typed))
}

func dialTwiMLFlow(voiceURL string) map[string]any {
	return map[string]any{"module": "pivot", "data": map[string]any{"voice_url": voiceURL, "method": "get", "req_format": "twiml", "req_timeout_ms": 3000}}
}

// uasData fills the uas_*.xml templates.
type uasData struct {
	RTPPort       int
	Codec         int
	CodecName     string
	HangupAfterMs int
	RingMs        int    // how long the callee rings (uas_answer: default 300) or plays early media
	InfoKey       string // uas_answer with HangupAfterMs: a key the callee sends by SIP INFO first
	Transport     string // "tcp" runs the callee over TCP; default UDP
	Username      string
	Password      string
}

// sippUAS is a SIPp callee running in the background.
type sippUAS struct {
	*sipptest.Running
	port int
}

// startUAS runs one call of testdata/sipp/<name> as a callee on a free port.
func startUAS(t *testing.T, name string, data uasData) *sippUAS {
	t.Helper()
	if data.CodecName == "" {
		data.CodecName = map[int]string{0: "PCMU", 8: "PCMA"}[data.Codec]
	}
	var args []string
	if data.Transport == "tcp" {
		args = append(args, "-t", "t1")
	}
	r := sipptest.Start(t, sipptest.Call{Scenario: name, Data: data, Args: args})
	return &sippUAS{Running: r, port: r.Port}
}

// wait returns the callee's result (nil: the scenario passed).
func (u *sippUAS) wait(t *testing.T, within time.Duration) error {
	t.Helper()
	return u.Wait(within)
}

// TestE2EDialSipBridgesAudioBothWaysWithTranscodingAndDTMF: a PCMU caller is bridged to a PCMA-only
// callee, which hangs up after 3 s; each hears the other's tone, the caller's key reaches the callee
// as an RFC 4733 event, and the action URL gets the Dial's result before the flow hangs up.
func TestE2EDialSipBridgesAudioBothWaysWithTranscodingAndDTMF(t *testing.T) {
	needE2E(t)
	callee := newDialPeer(t, codec.PCMA, 600)
	uas := startUAS(t, "uas_answer.xml", uasData{RTPPort: callee.port(), Codec: 8, HangupAfterMs: 3000})
	hook := newTwiMLHook(t, map[string]string{
		"/voice": fmt.Sprintf(`<Response><Dial action="/after" timeout="10"><Sip>sip:bob@127.0.0.1:%d</Sip></Dial><Say>not reached</Say></Response>`, uas.port),
		"/after": `<Response><Hangup/></Response>`,
	})
	p := startPivotua(t, dialTwiMLFlow(hook.URL+"/voice"))
	caller := newDialPeer(t, codec.PCMU, 1000)
	go func() {
		time.Sleep(2 * time.Second)
		caller.digit <- '5'
	}()
	if err := runSIPp(t, p, "uac_call.xml", sipptest.Data{RTPPort: caller.port(), Codec: 0}); err != nil {
		t.Fatal(err)
	}
	if err := uas.wait(t, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	if n := testkit.CountTone(callee.heard(8), 1000); n < 80 {
		t.Errorf("the PCMA callee heard %d frames of the caller's 1 kHz tone, want most of the 3 s bridge (150)", n)
	}
	if n := testkit.CountTone(caller.heard(0), 600); n < 80 {
		t.Errorf("the PCMU caller heard %d frames of the callee's 600 Hz tone, want most of the 3 s bridge (150)", n)
	}
	if keys := callee.events(101); len(keys) != 1 || keys[0] != 5 {
		t.Errorf("the callee got telephone-events %v, want the caller's one key 5", keys)
	}
	after := hook.Forms("/after")
	if len(after) != 1 {
		t.Fatalf("action URL got %d requests, want 1\n%s", len(after), p.log.String())
	}
	q := after[0]
	if q.Get("DialCallStatus") != "completed" || q.Get("DialCallSid") == "" || q.Get("DialCallSid") == q.Get("CallSid") {
		t.Errorf("action params: DialCallStatus=%q DialCallSid=%q (CallSid %q)", q.Get("DialCallStatus"), q.Get("DialCallSid"), q.Get("CallSid"))
	}
	if d, _ := strconv.Atoi(q.Get("DialCallDuration")); d < 2 || d > 5 {
		t.Errorf("DialCallDuration = %q, want about 3", q.Get("DialCallDuration"))
	}
}

// TestE2EDialFailuresReachTheActionURL: busy (486) and no answer (180, then our CANCEL after the ring
// timeout, answered 487) are reported as DialCallStatus, and the call goes on.
func TestE2EDialFailuresReachTheActionURL(t *testing.T) {
	needE2E(t)
	for _, tc := range []struct {
		scenario, want string
		timeout        int
	}{{"uas_busy.xml", "busy", 10}, {"uas_noanswer.xml", "no-answer", 2}} {
		t.Run(tc.want, func(t *testing.T) {
			uas := startUAS(t, tc.scenario, uasData{})
			hook := newTwiMLHook(t, map[string]string{
				"/voice": fmt.Sprintf(`<Response><Dial action="/after" timeout="%d"><Sip>sip:bob@127.0.0.1:%d</Sip></Dial></Response>`, tc.timeout, uas.port),
				"/after": `<Response><Hangup/></Response>`,
			})
			p := startPivotua(t, dialTwiMLFlow(hook.URL+"/voice"))
			caller := sipptest.NewCapture(t)
			start := time.Now()
			if err := runSIPp(t, p, "uac_call.xml", sipptest.Data{RTPPort: caller.Port(), Codec: 0}); err != nil {
				t.Fatal(err)
			}
			if err := uas.wait(t, 10*time.Second); err != nil {
				t.Fatal(err)
			}
			after := hook.Forms("/after")
			if len(after) != 1 || after[0].Get("DialCallStatus") != tc.want {
				t.Fatalf("action requests %v, want DialCallStatus=%s", after, tc.want)
			}
			if took := time.Since(start); tc.want == "no-answer" && took > 6*time.Second {
				t.Errorf("the 2 s ring timeout took %v to give up", took)
			}
		})
	}
}

// TestE2EDialCallerHangupEndsTheCallee: the caller hangs up 1.5 s into the bridge; the callee (which
// waits for a BYE) must get it at once, and the action URL still hears how the Dial ended, as Twilio's
// does (what it returns is not run: the caller is gone).
func TestE2EDialCallerHangupEndsTheCallee(t *testing.T) {
	needE2E(t)
	callee := newDialPeer(t, codec.PCMU, 600)
	uas := startUAS(t, "uas_answer.xml", uasData{RTPPort: callee.port(), Codec: 0})
	hook := newTwiMLHook(t, map[string]string{
		"/voice": fmt.Sprintf(`<Response><Dial answerOnBridge="true" action="/after"><Sip>sip:bob@127.0.0.1:%d</Sip></Dial></Response>`, uas.port),
		"/after": `<Response><Say>nobody hears this</Say></Response>`,
	})
	p := startPivotua(t, dialTwiMLFlow(hook.URL+"/voice"))
	caller := newDialPeer(t, codec.PCMU, 1000)
	q := callerHangsUpMidDial(t, p, caller, uas, hook)
	if n := testkit.CountTone(callee.heard(0), 1000); n < 30 {
		t.Errorf("the callee heard %d frames of the caller's tone during the 1.5 s bridge", n)
	}
	if q.Get("DialCallStatus") != "completed" || q.Get("CallStatus") != "completed" || q.Get("DialCallDuration") == "" {
		t.Errorf("action params after the caller's hangup: DialCallStatus=%q CallStatus=%q DialCallDuration=%q",
			q.Get("DialCallStatus"), q.Get("CallStatus"), q.Get("DialCallDuration"))
	}
	if strings.Contains(p.log.String(), "nobody hears this") {
		t.Error("the document returned after the caller hung up was run")
	}
}

// callerHangsUpMidDial runs uac_caller_bye.xml (the caller hangs up 1.5 s after pivotua answers it)
// while the Dial runs, checks that the callee, waiting for a BYE, gets it within 500 ms, and returns
// the action URL's one request, made after the hangup.
func callerHangsUpMidDial(t *testing.T, p *pivotuaInstance, caller *dialPeer, uas *sippUAS, hook *testkit.Webhook) url.Values {
	t.Helper()
	if err := runSIPp(t, p, "uac_caller_bye.xml", sipptest.Data{RTPPort: caller.port(), Codec: 0}); err != nil {
		t.Fatal(err)
	}
	callerGone := time.Now()
	if err := uas.wait(t, 5*time.Second); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(callerGone); d > 500*time.Millisecond {
		t.Errorf("the callee's BYE came %v after the caller's; want within 500 ms", d)
	}
	for deadline := time.Now().Add(3 * time.Second); len(hook.Forms("/after")) == 0 && time.Now().Before(deadline); {
		time.Sleep(20 * time.Millisecond)
	}
	after := hook.Forms("/after")
	if len(after) != 1 {
		t.Fatalf("action URL got %d requests after the caller hung up, want 1\n%s", len(after), p.log.String())
	}
	return after[0]
}

// TestE2EDialRelaysSIPInfoKeys: keys sent by SIP INFO cross the bridge as RFC 4733 events, both ways:
// the caller's 4, 3, 2, 1 reach the callee and the callee's 7 reaches the caller.
func TestE2EDialRelaysSIPInfoKeys(t *testing.T) {
	needE2E(t)
	callee := newDialPeer(t, codec.PCMU, 600)
	uas := startUAS(t, "uas_answer.xml", uasData{RTPPort: callee.port(), Codec: 0, HangupAfterMs: 3000, InfoKey: "7"})
	hook := newTwiMLHook(t, map[string]string{
		"/voice": fmt.Sprintf(`<Response><Dial answerOnBridge="true"><Sip>sip:bob@127.0.0.1:%d</Sip></Dial></Response>`, uas.port),
	})
	p := startPivotua(t, dialTwiMLFlow(hook.URL+"/voice"))
	caller := newDialPeer(t, codec.PCMU, 1000)
	if err := runSIPp(t, p, "uac_info.xml", sipptest.Data{RTPPort: caller.port(), Codec: 0}); err != nil {
		t.Fatal(err)
	}
	if err := uas.wait(t, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	if keys := callee.events(101); string(keys) != "\x04\x03\x02\x01" {
		t.Errorf("the callee got telephone-events %v, want the caller's INFO keys [4 3 2 1]", keys)
	}
	if keys := caller.events(101); len(keys) != 1 || keys[0] != 7 {
		t.Errorf("the caller got telephone-events %v, want the callee's INFO key [7]", keys)
	}
}

// TestE2EDialFirstAnswerWinsRecordsDualAndHangupOnStar: two <Sip> nouns ring at once; one never
// answers and must get CANCEL when the other (over TCP, PCMA) answers. The bridge is recorded on two
// channels from the answer; the caller's * ends it (the callee gets BYE, the caller stays) and the
// action URL gets the result and a RecordingUrl whose left channel is the caller, the right the callee.
func TestE2EDialFirstAnswerWinsRecordsDualAndHangupOnStar(t *testing.T) {
	needE2E(t)
	loser := startUAS(t, "uas_noanswer.xml", uasData{})
	callee := newDialPeer(t, codec.PCMA, 600)
	winner := startUAS(t, "uas_answer.xml", uasData{RTPPort: callee.port(), Codec: 8, RingMs: 800, Transport: "tcp"})
	hook := newTwiMLHook(t, map[string]string{
		"/voice": fmt.Sprintf(`<Response><Dial action="/after" hangupOnStar="true" record="record-from-answer-dual">`+
			`<Sip>sip:carol@127.0.0.1:%d</Sip><Sip>sip:bob@127.0.0.1:%d;transport=tcp</Sip></Dial></Response>`, loser.port, winner.port),
		"/after": `<Response><Hangup/></Response>`,
	})
	p := startPivotua(t, dialTwiMLFlow(hook.URL+"/voice"))
	caller := newDialPeer(t, codec.PCMU, 1000)
	go func() {
		time.Sleep(3500 * time.Millisecond) // about 2.5 s into the bridge
		caller.digit <- '*'
	}()
	if err := runSIPp(t, p, "uac_call.xml", sipptest.Data{RTPPort: caller.port(), Codec: 0}); err != nil {
		t.Fatal(err)
	}
	if err := loser.wait(t, 5*time.Second); err != nil {
		t.Errorf("the target that never answered: %v", err)
	}
	if err := winner.wait(t, 5*time.Second); err != nil {
		t.Errorf("the target that answered (it must get BYE after *): %v", err)
	}
	after := hook.Forms("/after")
	if len(after) != 1 {
		t.Fatalf("action URL got %d requests, want 1\n%s", len(after), sipptest.LastLines(p.log.String(), 30))
	}
	q := after[0]
	if d, _ := strconv.Atoi(q.Get("DialCallDuration")); q.Get("DialCallStatus") != "completed" || d < 1 || d > 4 {
		t.Errorf("action params: DialCallStatus=%q DialCallDuration=%q, want completed after about 2.5 s", q.Get("DialCallStatus"), q.Get("DialCallDuration"))
	}
	res, err := http.Get(q.Get("RecordingUrl"))
	if err != nil {
		t.Fatalf("RecordingUrl %q: %v", q.Get("RecordingUrl"), err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	left, right, err := splitStereoWAV(body)
	if err != nil {
		t.Fatalf("RecordingUrl %q (%d): %v", q.Get("RecordingUrl"), res.StatusCode, err)
	}
	if n := testkit.CountTone(left, 1000); n < 80 {
		t.Errorf("left channel: %d frames of the caller's 1 kHz tone in about 2.5 s, want most of 125", n)
	}
	if n := testkit.CountTone(right, 600); n < 80 {
		t.Errorf("right channel: %d frames of the callee's 600 Hz tone in about 2.5 s, want most of 125", n)
	}
	if n := testkit.CountTone(left, 600) + testkit.CountTone(right, 1000); n > 5 {
		t.Errorf("%d frames of one party's tone on the other's channel", n)
	}
}

// splitStereoWAV reads a 16-bit two-channel WAV file into its channels.
func splitStereoWAV(b []byte) (left, right []int16, err error) {
	if len(b) < 12 || string(b[:4]) != "RIFF" || string(b[8:12]) != "WAVE" {
		return nil, nil, fmt.Errorf("not a WAV file (%d bytes)", len(b))
	}
	channels, bits := 0, 0
	for off := 12; off+8 <= len(b); {
		id, size := string(b[off:off+4]), int(binary.LittleEndian.Uint32(b[off+4:]))
		body := b[off+8 : min(len(b), off+8+size)]
		switch id {
		case "fmt ":
			if len(body) < 16 {
				return nil, nil, fmt.Errorf("short fmt chunk")
			}
			channels, bits = int(binary.LittleEndian.Uint16(body[2:])), int(binary.LittleEndian.Uint16(body[14:]))
		case "data":
			if channels != 2 || bits != 16 {
				return nil, nil, fmt.Errorf("%d channels of %d bits, want 2 of 16", channels, bits)
			}
			for i := 0; i+4 <= len(body); i += 4 {
				left = append(left, int16(binary.LittleEndian.Uint16(body[i:])))
				right = append(right, int16(binary.LittleEndian.Uint16(body[i+2:])))
			}
			return left, right, nil
		}
		off += 8 + size + size%2
	}
	return nil, nil, fmt.Errorf("no data chunk")
}

// TestE2EDialAnswerOnBridgePassesEarlyMedia: with answerOnBridge the caller stays unanswered while the
// callee sends 183 with SDP and plays 2.5 s of early media, then turns the call down (486). The caller
// must hear that early media (it was never answered, so nothing else could carry the callee's tone),
// and the action URL gets busy.
func TestE2EDialAnswerOnBridgePassesEarlyMedia(t *testing.T) {
	needE2E(t)
	hook := dialEarlyMediaThenBusy(t, "uac_refused.xml", "the unanswered caller")
	after := hook.Forms("/after")
	if len(after) != 1 || after[0].Get("DialCallStatus") != "busy" {
		t.Errorf("action requests %v, want one with DialCallStatus=busy", after)
	}
}

// dialEarlyMediaThenBusy runs a caller (the SIPp scenario, expecting 480) into a Dial with
// answerOnBridge whose SIPp callee sends 183 with 2.5 s of a 600 Hz tone as early media and then 486,
// and checks the caller heard that tone; it returns the webhook, whose /after got the Dial's action.
func dialEarlyMediaThenBusy(t *testing.T, scenario, who string) *testkit.Webhook {
	t.Helper()
	callee := newDialPeer(t, codec.PCMU, 600)
	uas := startUAS(t, "uas_early_busy.xml", uasData{RTPPort: callee.port(), Codec: 0, RingMs: 2500})
	hook := newTwiMLHook(t, map[string]string{
		"/voice": fmt.Sprintf(`<Response><Dial answerOnBridge="true" action="/after"><Sip>sip:bob@127.0.0.1:%d</Sip></Dial></Response>`, uas.port),
		"/after": `<Response><Hangup/></Response>`,
	})
	p := startPivotua(t, dialTwiMLFlow(hook.URL+"/voice"))
	caller := newDialPeer(t, codec.PCMU, 1000)
	if err := runSIPp(t, p, scenario, sipptest.Data{RTPPort: caller.port(), Codec: 0, Expect: 480}); err != nil {
		t.Fatalf("%v\n%s", err, sipptest.LastLines(p.log.String(), 30))
	}
	if err := uas.wait(t, 5*time.Second); err != nil {
		t.Fatal(err)
	}
	if n := testkit.CountTone(caller.heard(0), 600); n < 80 {
		t.Errorf("%s heard %d frames of the callee's 600 Hz early media, want most of 2.5 s (125)", who, n)
	}
	return hook
}

// TestE2EDialRingbackThenSendDigits: an answered caller (Twilio's default, no answerOnBridge) hears the
// US ringback (440+480 Hz) while the trunk's callee rings for 2.5 s, then the callee's audio; the
// callee gets <Number sendDigits="1w2"> as RFC 4733 events once it answers.
func TestE2EDialRingbackThenSendDigits(t *testing.T) {
	needE2E(t)
	callee := newDialPeer(t, codec.PCMU, 600)
	uas := startUAS(t, "uas_answer.xml", uasData{RTPPort: callee.port(), Codec: 0, RingMs: 2500, HangupAfterMs: 2000})
	hook := newTwiMLHook(t, map[string]string{
		"/voice": `<Response><Dial><Number sendDigits="1w2">+14155550100</Number></Dial></Response>`,
	})
	p := startPivotua(t, dialTwiMLFlow(hook.URL+"/voice"), func(c *Config) {
		c.Trunks = []TrunkConfig{{Name: "carrier", URI: fmt.Sprintf("sip:127.0.0.1:%d", uas.port)}}
	})
	caller := newDialPeer(t, codec.PCMU, 1000)
	if err := runSIPp(t, p, "uac_call.xml", sipptest.Data{RTPPort: caller.port(), Codec: 0}); err != nil {
		t.Fatal(err)
	}
	if err := uas.wait(t, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	pcm := caller.heard(0)
	lastRing, firstCallee, rings := -1, -1, 0
	for i := 0; i+codec.FrameSamples <= len(pcm); i += codec.FrameSamples {
		f := pcm[i : i+codec.FrameSamples]
		if testkit.ToneShare(f, 440)+testkit.ToneShare(f, 480) > 0.8 {
			rings++
			lastRing = i / codec.FrameSamples
		}
		if firstCallee < 0 && testkit.ToneShare(f, 600) > 0.8 {
			firstCallee = i / codec.FrameSamples
		}
	}
	if rings < 80 {
		t.Errorf("the caller heard %d frames of 440+480 Hz ringback while the callee rang 2.5 s, want the first 2 s burst (100)", rings)
	}
	if firstCallee < 0 || lastRing > firstCallee {
		t.Errorf("ringback frames end at %d, the callee's tone starts at %d: the ringback must stop when the callee answers", lastRing, firstCallee)
	}
	if keys := callee.events(101); len(keys) != 2 || keys[0] != 1 || keys[1] != 2 {
		t.Errorf("the callee got telephone-events %v, want sendDigits 1 then 2", keys)
	}
}

// TestE2EDialNumberThroughDigestTrunk: a number goes to the configured trunk, which challenges with 401;
// pivotua answers with the trunk's credentials and the call is bridged.
func TestE2EDialNumberThroughDigestTrunk(t *testing.T) {
	needE2E(t)
	callee := newDialPeer(t, codec.PCMU, 600)
	uas := startUAS(t, "uas_auth.xml", uasData{RTPPort: callee.port(), Username: "pivot", Password: "s3cret"})
	hook := newTwiMLHook(t, map[string]string{
		"/voice": `<Response><Dial action="/after" timeLimit="2">+14155550100</Dial></Response>`,
		"/after": `<Response><Hangup/></Response>`,
	})
	p := startPivotua(t, dialTwiMLFlow(hook.URL+"/voice"), func(c *Config) {
		c.Trunks = []TrunkConfig{{Name: "carrier", URI: fmt.Sprintf("sip:127.0.0.1:%d", uas.port), Username: "pivot", Password: "s3cret"}}
	})
	caller := newDialPeer(t, codec.PCMU, 1000)
	if err := runSIPp(t, p, "uac_call.xml", sipptest.Data{RTPPort: caller.port(), Codec: 0}); err != nil {
		t.Fatal(err)
	}
	if err := uas.wait(t, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	after := hook.Forms("/after")
	if len(after) != 1 || after[0].Get("DialCallStatus") != "completed" {
		t.Fatalf("action requests %v, want completed", after)
	}
	if n := testkit.CountTone(caller.heard(0), 600); n < 40 {
		t.Errorf("the caller heard %d frames of the callee's tone in the 2 s (timeLimit) bridge", n)
	}
}

// TestE2EDialKazooSipURIToBaresip: the Kazoo sip_uri module bridges the caller to baresip, which answers
// by itself, plays its WAV (a 700 Hz tone) and hangs up at its end; each side heard the other.
func TestE2EDialKazooSipURIToBaresip(t *testing.T) {
	needE2E(t)
	if _, err := exec.LookPath("baresip"); err != nil {
		t.Fatal("baresip is not installed: run `make deps` (Debian package baresip-core)")
	}
	bs := startBaresipCallee(t, testkit.Sine(700, codec.SampleRate, testkit.Samples(3*time.Second, codec.SampleRate), 0.4))
	flow := map[string]any{"module": "sip_uri", "data": map[string]any{"uri": fmt.Sprintf("sip:bob@127.0.0.1:%d", bs.port), "timeout": 10}}
	p := startPivotua(t, flow)
	caller := newDialPeer(t, codec.PCMU, 1000)
	if err := runSIPp(t, p, "uac_call.xml", sipptest.Data{RTPPort: caller.port(), Codec: 0}); err != nil {
		t.Fatal(err)
	}
	if n := testkit.CountTone(caller.heard(0), 700); n < 60 {
		t.Errorf("the caller heard %d frames of baresip's 700 Hz tone, want most of 3 s", n)
	}
	if n := testkit.CountTone(bs.heard(t), 1000); n < 60 {
		t.Errorf("baresip heard %d frames of the caller's 1 kHz tone", n)
	}
}

type baresipCallee struct {
	port int
	dir  string
	cmd  *exec.Cmd
	out  *testkit.SyncBuffer
}

// startBaresipCallee runs baresip as an auto-answering phone whose voice is in.
func startBaresipCallee(t *testing.T, in []int16) *baresipCallee {
	t.Helper()
	dir := t.TempDir()
	b := &baresipCallee{port: testkit.FreePort(t), dir: dir, out: &testkit.SyncBuffer{}}
	writeBaresipConfig(t, dir, b.port, "bob", in)
	b.cmd = exec.Command("baresip", "-f", dir, "-t", "40")
	pr, pw := io.Pipe()
	b.cmd.Stdout, b.cmd.Stderr = pw, pw
	if err := b.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	ready := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(pr)
		sc.Split(scanLinesOrStatus)
		once := sync.Once{}
		for sc.Scan() {
			line := sc.Text()
			b.out.Write([]byte(line + "\n"))
			if strings.Contains(line, "useragent registered") || strings.Contains(line, "baresip is ready") {
				once.Do(func() { close(ready) })
			}
		}
	}()
	t.Cleanup(func() {
		_ = b.cmd.Process.Signal(os.Interrupt)
		done := make(chan struct{})
		go func() { _ = b.cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(3 * time.Second):
			_ = b.cmd.Process.Kill()
		}
		pw.Close()
	})
	select {
	case <-ready:
	case <-time.After(5 * time.Second):
		t.Logf("baresip did not say it is ready; going on:\n%s", b.out.String())
	}
	return b
}

// heard is what baresip recorded hearing (its sndfile *-dec.wav).
func (b *baresipCallee) heard(t *testing.T) []int16 {
	t.Helper()
	var files []string
	for range 30 { // the file is complete once baresip closes the call
		files, _ = filepath.Glob(filepath.Join(b.dir, "rec", "*-dec.wav"))
		if len(files) == 1 {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if len(files) != 1 {
		t.Fatalf("baresip recorded %v:\n%s", files, b.out.String())
	}
	return readWAV(t, files[0])
}
