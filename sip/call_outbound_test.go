package sip

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pivotua/pivotua/internal/testkit"
)

// newTestServer listens on an ephemeral UDP and TCP port of 127.0.0.1 with handler h.
func newTestServer(t *testing.T, h Handler) *Server {
	t.Helper()
	return startTestServer(t, Config{Logger: slog.New(slog.DiscardHandler)}, h)
}

func targetOf(s *Server, user string) string {
	return fmt.Sprintf("sip:%s@%s", user, s.Listeners()[0].Addr)
}

var testRTP = netip.MustParseAddrPort("127.0.0.1:40000")

func TestDialAnsweredThenCalleeHangsUp(t *testing.T) {
	var got atomic.Pointer[CallInfo]
	callee := newTestServer(t, func(c *InboundCall) {
		info := c.Info()
		got.Store(&info)
		_ = c.Ring()
		// A callee rings before answering; a 180 overtaken by the 200 need not be reported.
		time.Sleep(100 * time.Millisecond)
		md, err := c.Answer(context.Background(), netip.MustParseAddrPort("127.0.0.1:41000"))
		if err != nil || md.Addr != testRTP {
			t.Errorf("callee answer: %v %v", md, err)
		}
		time.Sleep(200 * time.Millisecond)
		_ = c.Hangup(context.Background())
	})
	caller := newTestServer(t, func(c *InboundCall) {})
	var rang atomic.Int32
	oc, err := caller.Dial(t.Context(), OutboundRequest{
		Target: targetOf(callee, "bob"), FromUser: "alice", FromDisplay: "Alice", LocalRTP: testRTP,
		OnProgress: func(p Progress) {
			if p.Code == 180 {
				rang.Add(1)
			}
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	if md := oc.Media(); md.Addr != netip.MustParseAddrPort("127.0.0.1:41000") || md.PayloadType != PayloadPCMU || md.EventPayloadType != 101 {
		t.Errorf("negotiated %+v", md)
	}
	if rang.Load() != 1 {
		t.Errorf("180 reported %d times", rang.Load())
	}
	select {
	case <-oc.Done():
	case <-time.After(3 * time.Second):
		t.Fatal("the callee's BYE did not end the outbound call")
	}
	if info := got.Load(); info == nil || info.FromUser != "alice" || info.FromDisplay != "Alice" || info.RequestUser != "bob" || info.CallID != oc.CallID() {
		t.Errorf("callee saw %+v", info)
	}
}

func TestDialWeHangUp(t *testing.T) {
	ended := make(chan struct{})
	callee := newTestServer(t, func(c *InboundCall) {
		_, _ = c.Answer(context.Background(), netip.MustParseAddrPort("127.0.0.1:41000"))
		<-c.Done()
		close(ended)
	})
	caller := newTestServer(t, func(c *InboundCall) {})
	oc, err := caller.Dial(t.Context(), OutboundRequest{Target: targetOf(callee, "bob"), FromUser: "alice", LocalRTP: testRTP})
	if err != nil {
		t.Fatal(err)
	}
	if err := oc.Hangup(t.Context()); err != nil {
		t.Fatal(err)
	}
	select {
	case <-ended:
	case <-time.After(2 * time.Second):
		t.Fatal("callee did not see our BYE")
	}
	<-oc.Done()
}

func TestDialFailuresMapToKinds(t *testing.T) {
	for _, tc := range []struct {
		code int
		want error
	}{{486, ErrBusy}, {600, ErrBusy}, {480, ErrNoAnswer}, {404, ErrDeclined}, {503, ErrDeclined}} {
		t.Run(fmt.Sprint(tc.code), func(t *testing.T) {
			callee := newTestServer(t, func(c *InboundCall) { _ = c.Reject(tc.code, "Nope") })
			caller := newTestServer(t, func(c *InboundCall) {})
			_, err := caller.Dial(t.Context(), OutboundRequest{Target: targetOf(callee, "bob"), FromUser: "alice", LocalRTP: testRTP})
			var de *DialError
			if !errors.Is(err, tc.want) || !errors.As(err, &de) || de.Code != tc.code {
				t.Errorf("err = %v, want %v with code %d", err, tc.want, tc.code)
			}
		})
	}
}

func TestDialRingTimeoutCancels(t *testing.T) {
	cancelled := make(chan struct{})
	callee := newTestServer(t, func(c *InboundCall) {
		_ = c.Ring()
		<-c.Done()
		close(cancelled)
	})
	caller := newTestServer(t, func(c *InboundCall) {})
	start := time.Now()
	_, err := caller.Dial(t.Context(), OutboundRequest{Target: targetOf(callee, "bob"), FromUser: "alice", LocalRTP: testRTP, RingTimeout: 300 * time.Millisecond})
	if !errors.Is(err, ErrNoAnswer) {
		t.Fatalf("err = %v, want no answer", err)
	}
	if took := time.Since(start); took > 2*time.Second {
		t.Errorf("dial took %v with a 300 ms ring timeout", took)
	}
	select {
	case <-cancelled:
	case <-time.After(2 * time.Second):
		t.Fatal("the callee never saw the CANCEL")
	}
}

func TestDialContextCancelIsCanceled(t *testing.T) {
	callee := newTestServer(t, func(c *InboundCall) {
		_ = c.Ring()
		<-c.Done()
	})
	caller := newTestServer(t, func(c *InboundCall) {})
	ctx, cancel := context.WithTimeout(t.Context(), 200*time.Millisecond)
	defer cancel()
	_, err := caller.Dial(ctx, OutboundRequest{Target: targetOf(callee, "bob"), FromUser: "alice", LocalRTP: testRTP})
	if !errors.Is(err, ErrCanceled) {
		t.Fatalf("err = %v, want canceled", err)
	}
}

func TestDialEarlyMediaReported(t *testing.T) {
	callee := newTestServer(t, func(c *InboundCall) {
		if _, err := c.EarlyMedia(netip.MustParseAddrPort("127.0.0.1:41002")); err != nil {
			t.Error(err)
		}
		time.Sleep(100 * time.Millisecond)
		_ = c.Reject(486, "Busy Here")
	})
	caller := newTestServer(t, func(c *InboundCall) {})
	early := make(chan Progress, 4)
	_, err := caller.Dial(t.Context(), OutboundRequest{Target: targetOf(callee, "bob"), FromUser: "alice", LocalRTP: testRTP,
		OnProgress: func(p Progress) { early <- p }})
	if !errors.Is(err, ErrBusy) {
		t.Fatalf("err = %v", err)
	}
	select {
	case p := <-early:
		if p.Code != 183 || p.EarlyMedia == nil || p.EarlyMedia.Addr.Port() != 41002 {
			t.Errorf("progress %+v", p)
		}
	default:
		t.Fatal("no 183 reported")
	}
}

func TestDialBadTarget(t *testing.T) {
	caller := newTestServer(t, func(c *InboundCall) {})
	if _, err := caller.Dial(t.Context(), OutboundRequest{Target: "sip:", LocalRTP: testRTP}); !errors.Is(err, ErrDeclined) {
		t.Errorf("err = %v", err)
	}
}

// calleePeer is a raw UDP callee for Dial: it answers the INVITE itself and
// sends in-dialog requests as a trunk or phone would.
type calleePeer struct {
	*udpPeer
	invite []byte
	cseq   int
}

// answer waits for Dial's INVITE, calls early (the INVITE is out, nothing
// answered yet), then answers 200 with SDP.
func (p *calleePeer) answer(early func(callID string)) { p.answerAs(early, p.local().String()) }

// answerWithContact answers like answer, naming contact (host:port) as its Contact.
func (p *calleePeer) answerWithContact(contact string) { p.answerAs(func(string) {}, contact) }

func (p *calleePeer) answerAs(early func(callID string), contact string) {
	deadline := time.Now().Add(3 * time.Second)
	buf := make([]byte, 65536)
	for p.invite == nil {
		_ = p.conn.SetReadDeadline(deadline)
		n, _, err := p.conn.ReadFromUDP(buf)
		if err != nil {
			p.t.Fatalf("no INVITE: %v", err)
		}
		if bytes.HasPrefix(buf[:n], []byte("INVITE ")) {
			p.invite = append([]byte(nil), buf[:n]...)
		}
	}
	early(testkit.SIPHeader(string(p.invite), "Call-ID"))
	body := "v=0\r\no=- 2 2 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 41000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n"
	p.send([]byte("SIP/2.0 200 OK\r\n" +
		"Via: " + testkit.SIPHeader(string(p.invite), "Via") + "\r\nFrom: " + testkit.SIPHeader(string(p.invite), "From") + "\r\n" +
		"To: " + testkit.SIPHeader(string(p.invite), "To") + ";tag=callee\r\nCall-ID: " + testkit.SIPHeader(string(p.invite), "Call-ID") + "\r\n" +
		"CSeq: " + testkit.SIPHeader(string(p.invite), "CSeq") + "\r\nContact: <sip:bob@" + contact + ">\r\n" +
		"Content-Type: application/sdp\r\nContent-Length: " + fmt.Sprint(len(body)) + "\r\n\r\n" + body))
}

// inDialog is a request of the callee within the dialog.
func (p *calleePeer) inDialog(method, extra string) []byte {
	p.cseq++
	target := strings.Trim(testkit.SIPHeader(string(p.invite), "Contact"), "<>")
	return []byte(method + " " + target + " SIP/2.0\r\n" +
		fmt.Sprintf("Via: SIP/2.0/UDP %s;rport;branch=z9hG4bKdlg%d\r\n", p.local(), p.cseq) +
		"Max-Forwards: 70\r\nFrom: " + testkit.SIPHeader(string(p.invite), "To") + ";tag=callee\r\nTo: " + testkit.SIPHeader(string(p.invite), "From") + "\r\n" +
		"Call-ID: " + testkit.SIPHeader(string(p.invite), "Call-ID") + "\r\n" + fmt.Sprintf("CSeq: %d %s\r\n", 100+p.cseq, method) +
		"Contact: <sip:bob@" + p.local().String() + ">\r\n" + extra)
}

// dialed is the outcome of a Dial started by dialAsync.
type dialed struct {
	oc  *OutboundCall
	err error
}

// dialAsync starts caller's Dial of req, whose callee the test answers meanwhile; the outcome comes on
// the channel returned.
func dialAsync(t *testing.T, caller *Server, req OutboundRequest) <-chan dialed {
	done := make(chan dialed, 1)
	go func() {
		oc, err := caller.Dial(t.Context(), req)
		done <- dialed{oc, err}
	}()
	return done
}

// TestOutboundInDialogRequestsAreNotRateLimited: a Dial leg's Call-ID is
// exempt from the source's rate limit from the moment its INVITE leaves until
// the dialog ends, so the callee's INFO, OPTIONS, UPDATE and BYE always get
// through, while its out-of-dialog requests are still limited.
func TestOutboundInDialogRequestsAreNotRateLimited(t *testing.T) {
	caller := startTestServer(t, Config{Guard: GuardConfig{RateLimit: RateLimit{Requests: 2, Window: 10 * time.Second, Block: time.Minute}}}, rejectAll(486))
	callee := &calleePeer{udpPeer: newUDPPeer(t, caller.addr("udp"))}
	done := dialAsync(t, caller, OutboundRequest{Target: "sip:bob@" + callee.local().String(), FromUser: "alice", LocalRTP: testRTP})
	loopback := netip.MustParseAddr("127.0.0.1")
	callee.answer(func(callID string) {
		ourTag := tagParam(testkit.SIPHeader(string(callee.invite), "From"))
		if caller.guard.counted(requestKey{method: "UPDATE", callID: callID, fromTag: "callee", toTag: ourTag, src: loopback}) {
			t.Error("an early in-dialog request of the outbound call would be rate-counted")
		}
	})
	d := <-done
	if d.err != nil {
		t.Fatal(d.err)
	}
	dtmf := func(key string) string {
		return "Content-Type: application/dtmf-relay\r\nContent-Length: 24\r\n\r\nSignal=" + key + "\r\nDuration=160\r\n"
	}
	for i, tc := range []struct {
		req  []byte
		want int
	}{
		{callee.inDialog("INFO", dtmf("5")), 200},
		{callee.inDialog("INFO", dtmf("6")), 200},
		{callee.inDialog("OPTIONS", "Content-Length: 0\r\n\r\n"), 200},
		{callee.inDialog("UPDATE", "Content-Length: 0\r\n\r\n"), 200}, // a session refresh (RFC 4028)
		{callee.inDialog("INFO", dtmf("7")), 200},
	} {
		if code := callee.ask(tc.req, 2*time.Second); code != tc.want {
			t.Fatalf("in-dialog request %d (%s) over a limit of 2: %d, want %d", i, firstLine(tc.req), code, tc.want)
		}
	}
	for i := range 3 {
		want, wait := 200, 2*time.Second
		if i == 2 {
			want, wait = -1, 200*time.Millisecond
		}
		if code := callee.ask(optionsRequest(fmt.Sprintf("ood-%d", i), ""), wait); code != want {
			t.Fatalf("out-of-dialog OPTIONS %d: %d, want %d", i, code, want)
		}
	}
	if code := callee.ask(callee.inDialog("BYE", "Content-Length: 0\r\n\r\n"), 2*time.Second); code != 200 {
		t.Fatalf("the callee's BYE: %d", code)
	}
	<-d.oc.Done()
	// The ended dialog's Call-ID counts again.
	for deadline := time.Now().Add(2 * time.Second); !caller.guard.counted(requestKey{method: "INFO", callID: d.oc.CallID(), fromTag: "callee", toTag: tagParam(testkit.SIPHeader(string(callee.invite), "From")), src: loopback}); {
		if time.Now().After(deadline) {
			t.Fatal("the ended outbound call's Call-ID is still exempt")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestFailedDialForgetsItsCallID: a Dial that gets no 2xx leaves no Call-ID
// behind, neither for in-dialog routing nor as a rate-limit exemption.
func TestFailedDialForgetsItsCallID(t *testing.T) {
	callee := newTestServer(t, rejectAll(486))
	caller := newTestServer(t, func(c *InboundCall) {})
	if _, err := caller.Dial(t.Context(), OutboundRequest{Target: targetOf(callee, "bob"), FromUser: "alice", LocalRTP: testRTP}); !errors.Is(err, ErrBusy) {
		t.Fatalf("err = %v, want busy", err)
	}
	for deadline := time.Now().Add(2 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		caller.mu.Lock()
		outbound := len(caller.outbound)
		caller.mu.Unlock()
		caller.guard.mu.Lock()
		live := len(caller.guard.live)
		caller.guard.mu.Unlock()
		if outbound == 0 && live == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("after a 486: %d outbound calls, %d exempt Call-IDs left", outbound, live)
		}
	}
}
