package sip

import (
	"errors"
	"strings"
	"testing"
	"time"
)

// TestDialRefusesControlCharacters: a CR, LF, NUL, other C0 or DEL in any
// value Dial puts into the INVITE fails the Dial before anything is sent,
// with ErrControlCharacter naming the field (issue 18 item 6).
func TestDialRefusesControlCharacters(t *testing.T) {
	caller := newTestServer(t, func(c *InboundCall) {})
	callee := newUDPPeer(t, caller.Listeners()[0].Addr)
	target := "sip:bob@" + callee.local().String()
	inject := "1\r\nP-Asserted-Identity: <sip:boss@example.com>"
	for _, tc := range []struct {
		field string
		req   OutboundRequest
	}{
		{"target", OutboundRequest{Target: "sip:bob@" + callee.local().String() + ";x=\r\nX-Evil: 1"}},
		{"target", OutboundRequest{Target: "sip:b\x00ob@" + callee.local().String()}},
		{"from user", OutboundRequest{Target: target, FromUser: inject}},
		{"from display name", OutboundRequest{Target: target, FromDisplay: inject}},
		{"from display name", OutboundRequest{Target: target, FromDisplay: "tab\there"}},
		{"from display name", OutboundRequest{Target: target, FromDisplay: "del\x7f"}},
		{"username", OutboundRequest{Target: target, Username: "u\nX: y"}},
	} {
		tc.req.LocalRTP = testRTP
		_, err := caller.Dial(t.Context(), tc.req)
		if !errors.Is(err, ErrControlCharacter) || !errors.Is(err, ErrDeclined) {
			t.Errorf("%s: err = %v, want ErrControlCharacter and ErrDeclined", tc.field, err)
			continue
		}
		if !strings.Contains(err.Error(), tc.field) {
			t.Errorf("error %q does not name %s", err, tc.field)
		}
	}
	if msg := callee.anything(300 * time.Millisecond); msg != nil {
		t.Fatalf("the callee got %q", firstLine(msg))
	}
}

// anything returns the next datagram the peer receives within wait (nil: none).
func (p *udpPeer) anything(wait time.Duration) []byte {
	buf := make([]byte, 65536)
	_ = p.conn.SetReadDeadline(time.Now().Add(wait))
	n, _, err := p.conn.ReadFromUDP(buf)
	if err != nil {
		return nil
	}
	return buf[:n]
}

func TestRejectRefusesControlCharactersInTheReason(t *testing.T) {
	errs := make(chan error, 1)
	srv := startTestServer(t, Config{}, func(c *InboundCall) {
		errs <- c.Reject(486, "Busy\r\nX-Evil: 1")
		_ = c.Reject(486, "Busy Here")
	})
	p := newUDPPeer(t, srv.addr("udp"))
	if code := p.ask(inviteRequest("reject-crlf", ""), 2*time.Second); code != 486 {
		t.Fatalf("INVITE: %d, want 486", code)
	}
	if err := <-errs; !errors.Is(err, ErrControlCharacter) || !strings.Contains(err.Error(), "reason phrase") {
		t.Fatalf("Reject with CRLF: %v", err)
	}
}
