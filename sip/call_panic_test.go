package sip

import (
	"bytes"
	"context"
	"log/slog"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/pivotua/pivotua/internal/testkit"
)

// callPeer is a raw UDP caller whose Contact is its own socket, so the
// server's BYE reaches it.
func callPeer(t *testing.T, srv *Server) *udpPeer {
	return newUDPPeer(t, srv.addr("udp"))
}

func (p *udpPeer) invite(callID string) {
	msg := strings.ReplaceAll(string(inviteRequest(callID, "")), "127.0.0.1:5999", p.local().String())
	p.send([]byte(msg))
}

// ack confirms a 2xx: a new transaction with the To tag of the answer.
func (p *udpPeer) ack(ok []byte, callID string) {
	to := testkit.SIPHeader(string(ok), "To")
	p.send([]byte("ACK sip:pivotua@" + p.to.String() + " SIP/2.0\r\n" +
		"Via: SIP/2.0/UDP " + p.local().String() + ";rport;branch=z9hG4bKack" + callID + "\r\n" +
		"Max-Forwards: 70\r\nFrom: <sip:caller@127.0.0.1>;tag=c1\r\nTo: " + to + "\r\n" +
		"Call-ID: " + callID + "\r\nCSeq: 1 ACK\r\nContent-Length: 0\r\n\r\n"))
}

// bye is the caller's BYE in the dialog its INVITE callID got ok for.
func (p *udpPeer) bye(ok []byte, callID string) []byte {
	return []byte("BYE sip:pivotua@" + p.to.String() + " SIP/2.0\r\n" +
		"Via: SIP/2.0/UDP " + p.local().String() + ";rport;branch=z9hG4bKbye" + callID + "\r\n" +
		"Max-Forwards: 70\r\nFrom: <sip:caller@127.0.0.1>;tag=c1\r\nTo: " + testkit.SIPHeader(string(ok), "To") + "\r\n" +
		"Call-ID: " + callID + "\r\nCSeq: 2 BYE\r\nContent-Length: 0\r\n\r\n")
}

// request waits for a request of method and answers it 200.
func (p *udpPeer) request(method string, wait time.Duration) []byte {
	deadline := time.Now().Add(wait)
	buf := make([]byte, 65536)
	for {
		_ = p.conn.SetReadDeadline(deadline)
		n, from, err := p.conn.ReadFromUDP(buf)
		if err != nil {
			return nil
		}
		msg := append([]byte(nil), buf[:n]...)
		if !bytes.HasPrefix(msg, []byte(method+" ")) {
			continue
		}
		var res bytes.Buffer
		res.WriteString("SIP/2.0 200 OK\r\n")
		for _, h := range []string{"Via", "From", "To", "Call-ID", "CSeq"} {
			res.WriteString(h + ": " + testkit.SIPHeader(string(msg), h) + "\r\n")
		}
		res.WriteString("Content-Length: 0\r\n\r\n")
		_, _ = p.conn.WriteToUDP(res.Bytes(), from)
		return msg
	}
}

// TestPanicInOneCallCostsThatCallOnly: a handler that panics before answering
// gets 500, one that panics after answering gets BYE, both are logged with
// their call_id, and a call answered before them goes on untouched.
func TestPanicInOneCallCostsThatCallOnly(t *testing.T) {
	lines := &logLines{}
	local := netip.MustParseAddrPort("127.0.0.1:40002")
	srv := startTestServer(t, Config{Logger: slog.New(lines)}, func(c *InboundCall) {
		switch c.Info().CallID {
		case "panic-before":
			panic("boom before answer")
		case "panic-after":
			if _, err := c.Answer(context.Background(), local); err != nil {
				return
			}
			panic("boom after answer")
		default:
			if _, err := c.Answer(context.Background(), local); err != nil {
				return
			}
			<-c.Done()
		}
	})

	steady := callPeer(t, srv)
	steady.invite("steady")
	ok := steady.final(3 * time.Second)
	if statusOf(ok) != 200 {
		t.Fatalf("steady call: %s", ok)
	}
	steady.ack(ok, "steady")

	before := callPeer(t, srv)
	before.invite("panic-before")
	res := before.final(3 * time.Second)
	if statusOf(res) != 500 {
		t.Fatalf("a panic before answering: %q, want 500", firstLine(res))
	}
	// RFC 3261 §17.1.1.3: the ACK for a non-2xx is part of the INVITE transaction.
	before.send([]byte("ACK sip:3004@127.0.0.1 SIP/2.0\r\nVia: " + testkit.SIPHeader(string(res), "Via") + "\r\n" +
		"Max-Forwards: 70\r\nFrom: <sip:caller@127.0.0.1>;tag=c1\r\nTo: " + testkit.SIPHeader(string(res), "To") + "\r\n" +
		"Call-ID: panic-before\r\nCSeq: 1 ACK\r\nContent-Length: 0\r\n\r\n"))

	after := callPeer(t, srv)
	after.invite("panic-after")
	ok2 := after.final(3 * time.Second)
	if statusOf(ok2) != 200 {
		t.Fatalf("panic-after call: %s", ok2)
	}
	after.ack(ok2, "panic-after")
	if bye := after.request("BYE", 3*time.Second); bye == nil {
		t.Fatal("a panic after answering sent no BYE")
	}

	// The steady call is still up: no BYE for it, and our BYE ends it normally.
	if bye := steady.request("BYE", 300*time.Millisecond); bye != nil {
		t.Fatalf("the steady call was hung up by the others' panics:\n%s", bye)
	}
	waitActive(t, srv, 1)
	steady.send(steady.bye(ok, "steady"))
	if res := steady.final(3 * time.Second); statusOf(res) != 200 {
		t.Fatalf("BYE on the steady call: %q", firstLine(res))
	}

	panics := map[string]bool{}
	for _, r := range lines.atOrAbove(slog.LevelError) {
		if r.Message != "call handler panicked" {
			continue
		}
		r.Attrs(func(a slog.Attr) bool {
			if a.Key == "call_id" {
				panics[a.Value.String()] = true
			}
			return true
		})
	}
	if !panics["panic-before"] || !panics["panic-after"] {
		t.Errorf("panics logged for call_ids %v, want panic-before and panic-after", panics)
	}
	waitActive(t, srv, 0)
}

func waitActive(t *testing.T, srv *Server, want int) {
	t.Helper()
	deadline := time.Now().Add(3 * time.Second)
	for srv.ActiveCalls() != want && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if n := srv.ActiveCalls(); n != want {
		srv.mu.Lock()
		var ids []string
		for id := range srv.calls {
			ids = append(ids, id)
		}
		srv.mu.Unlock()
		t.Errorf("%d active calls (%v), want %d", n, ids, want)
	}
}
