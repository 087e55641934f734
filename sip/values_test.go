package sip

import (
	"errors"
	"net/url"
	"strings"
	"testing"
	"time"

	sipgosip "github.com/emiago/sipgo/sip"
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

// TestDialKeepsCallerIDInsideItsHeader: a display name with quotes and users
// with '>', '@' or spaces cannot rewrite the INVITE's From or To address.
func TestDialKeepsCallerIDInsideItsHeader(t *testing.T) {
	caller := newTestServer(t, func(c *InboundCall) {})
	callee := newUDPPeer(t, caller.Listeners()[0].Addr)
	go func() {
		_, _ = caller.Dial(t.Context(), OutboundRequest{
			Target:      "sip:bob>;x=<sip:ev>il@" + callee.local().String(), // sipgo: user "bob>;x=<sip", password "ev>il"
			FromUser:    "1000@bank.example>;y=",
			FromDisplay: `Alice" <sip:boss@bank.example>;z="`,
			LocalRTP:    testRTP, RingTimeout: time.Second,
		})
	}()
	msg := callee.anything(2 * time.Second)
	if msg == nil {
		t.Fatal("no INVITE")
	}
	h, err := scanRequest(msg, 100)
	if err != nil {
		t.Fatal(err)
	}
	from, to := h.first("from"), h.first("to")
	if got := nameAddrURI(from); !strings.HasPrefix(got, "sip:1000%40bank.example%3E%3By=@") {
		t.Errorf("From address %q (From: %s)", got, from)
	}
	if strings.Contains(nameAddrURI(from), "boss") || !strings.HasPrefix(from, `"Alice\" <sip:boss@bank.example>;z=\"" <`) {
		t.Errorf("From: %s", from)
	}
	if got := nameAddrURI(to); !strings.HasPrefix(got, "sip:bob%3E%3Bx=%3Csip@") {
		t.Errorf("To address %q (To: %s)", got, to)
	}
	if !strings.HasPrefix(h.uri, "sip:bob%3E%3Bx=%3Csip:ev%3Eil@") {
		t.Errorf("Request-URI %s", h.uri)
	}
	if f := checkRequest(h); f != nil {
		t.Errorf("the INVITE itself is malformed: %s", f.warning)
	}
}

func TestEscapeUser(t *testing.T) {
	for in, want := range map[string]string{
		"+14155550100": "+14155550100", "alice": "alice", "a%23b": "a%23b", "a%2": "a%252",
		"a b": "a%20b", "a@b": "a%40b", "a>b": "a%3Eb", "a:b": "a%3Ab",
		// RFC 3261's user-unreserved has ';', '?' and '/', but a reader that looks for
		// parameters, headers or a path before the '@' would split there (issue 18).
		"x;y=1?z/": "x%3By=1%3Fz%2F", "&=+$,": "&=+$,",
	} {
		if got := escapeUser(in); got != want {
			t.Errorf("escapeUser(%q) = %q, want %q", in, got, want)
		}
	}
}

// FuzzEscapeUserRoundTrips: whatever a caller or webhook chose, the user part
// escapeUser builds holds only RFC 3261 §25.1 unreserved characters, "&=+$,"
// and escapes, so a URI built with it, read back by sipgo or by a generic
// RFC 3986 reader (which ends the authority at '/' and starts the query at
// '?'), has the same host, no parameters or headers it did not have, and a
// user that decodes to what was given (a valid escape in the input stays one).
func FuzzEscapeUserRoundTrips(f *testing.F) {
	for _, s := range []string{"+14155550100", "alice", "1000;transport=tcp", "x?Subject=hi", "a/b", "a@evil.example",
		"bob>;x=<sip", "a%3Bb", "a%2", "a:b", "\x00\r\n", "é", "&=+$,-_.!~*'()"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		user := escapeUser(s)
		for i := 0; i < len(user); i++ {
			c := user[i]
			if c == '%' && i+2 < len(user) && isHex(user[i+1]) && isHex(user[i+2]) {
				i += 2
				continue
			}
			if !isUnreservedUser(c) {
				t.Fatalf("escapeUser(%q) = %q: %q at byte %d is outside unreserved and \"&=+$,\"", s, user, c, i)
			}
		}
		built := (&sipgosip.Uri{Scheme: "sip", User: user, Host: "example.com", Port: 5060}).String()
		var back sipgosip.Uri
		if err := sipgosip.ParseUri(built, &back); err != nil {
			t.Fatalf("%s (from %q) does not parse: %v", built, s, err)
		}
		if back.User != user || back.Password != "" || back.Host != "example.com" || back.Port != 5060 ||
			(back.UriParams != nil && back.UriParams.Length() > 0) || (back.Headers != nil && back.Headers.Length() > 0) {
			t.Fatalf("%s (from %q) reads back as user %q password %q host %q port %d params %v headers %v",
				built, s, back.User, back.Password, back.Host, back.Port, back.UriParams, back.Headers)
		}
		generic, err := url.Parse("sip://" + user + "@example.com:5060")
		if err != nil {
			t.Fatalf("%s (from %q): RFC 3986 reader: %v", built, s, err)
		}
		got := generic.User.Username() // decoded
		if generic.Host != "example.com:5060" || generic.RawQuery != "" || generic.Path != "" || got != unescapeValid(s) {
			t.Fatalf("%s (from %q): RFC 3986 reader sees user %q host %q path %q query %q; want user %q",
				built, s, got, generic.Host, generic.Path, generic.RawQuery, unescapeValid(s))
		}
	})
}

func isUnreservedUser(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("-_.!~*'()&=+$,", c) >= 0
}

// unescapeValid decodes s's valid %XX escapes and keeps every other byte: the
// user a value stands for when escapeUser keeps its escapes.
func unescapeValid(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '%' && i+2 < len(s) && isHex(s[i+1]) && isHex(s[i+2]) {
			v, _ := url.PathUnescape(s[i : i+3])
			b.WriteString(v)
			i += 2
			continue
		}
		b.WriteByte(s[i])
	}
	return b.String()
}
