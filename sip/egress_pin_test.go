package sip

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/pivotua/pivotua/internal/testkit"
)

// peersOnOnePort binds UDP sockets on each of ips with one port number, so a
// host name that resolves to one or the other reaches the same port.
func peersOnOnePort(t *testing.T, to netip.AddrPort, ips ...string) []*udpPeer {
	t.Helper()
	for range 20 {
		first, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.ParseIP(ips[0])})
		if err != nil {
			t.Fatal(err)
		}
		port := first.LocalAddr().(*net.UDPAddr).Port
		peers := []*udpPeer{{t: t, conn: first, to: net.UDPAddrFromAddrPort(to)}}
		for _, ip := range ips[1:] {
			c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.ParseIP(ip), Port: port})
			if err != nil {
				break
			}
			peers = append(peers, &udpPeer{t: t, conn: c, to: net.UDPAddrFromAddrPort(to)})
		}
		if len(peers) == len(ips) {
			for _, p := range peers {
				t.Cleanup(func() { p.conn.Close() })
			}
			return peers
		}
		for _, p := range peers {
			p.conn.Close()
		}
	}
	t.Fatal("no port free on every address")
	return nil
}

// TestDialPinsTheCheckedNextHop: the address sip.egress checked is where the
// leg's requests go, not what the host name resolves to when each is sent (DNS
// rebinding, issue 18 follow-up). The callee on 127.0.0.2 answers with Contact
// "localhost": our check sees 127.0.0.2 (allowed), the system's resolver says
// 127.0.0.1 (denied), and the ACK and BYE must reach 127.0.0.2 only.
func TestDialPinsTheCheckedNextHop(t *testing.T) {
	caller := newEgressServer(t, EgressPolicy{Deny: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}})
	peers := peersOnOnePort(t, caller.addr("udp"), "127.0.0.2", "127.0.0.1")
	callee, denied := &calleePeer{udpPeer: peers[0]}, peers[1]
	caller.dns = fakeDNS{hosts: map[string][]netip.Addr{"localhost": {netip.MustParseAddr("127.0.0.2")}}}
	done := dialAsync(t, caller, OutboundRequest{Target: "sip:bob@" + callee.local().String(), LocalRTP: testRTP})
	callee.answerWithContact(fmt.Sprintf("localhost:%d", callee.local().Port()))
	d := <-done
	if d.err != nil {
		t.Fatal(d.err)
	}
	if msg := callee.anything(2 * time.Second); !bytes.HasPrefix(msg, []byte("ACK ")) {
		t.Fatalf("the checked next hop got %q, want the ACK (the denied address got %q)", firstLine(msg), firstLine(denied.anything(300*time.Millisecond)))
	}
	hungUp := make(chan error, 1)
	go func() { hungUp <- d.oc.Hangup(context.Background()) }()
	if msg := callee.request("BYE", 2*time.Second); msg == nil {
		t.Fatal("no BYE at the checked next hop")
	}
	if err := <-hungUp; err != nil {
		t.Fatalf("Hangup: %v", err)
	}
	if msg := denied.anything(300 * time.Millisecond); msg != nil {
		t.Fatalf("the denied address the name rebound to got %q", firstLine(msg))
	}
}

// TestDialCancelGoesWhereTheINVITEWent: RFC 3261 §9.1 wants a CANCEL on the
// INVITE's destination; it must not look the target's name up again (where
// it may now resolve to a denied address).
func TestDialCancelGoesWhereTheINVITEWent(t *testing.T) {
	caller := newEgressServer(t, EgressPolicy{Deny: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}})
	peers := peersOnOnePort(t, caller.addr("udp"), "127.0.0.2", "127.0.0.1")
	callee, denied := peers[0], peers[1]
	caller.dns = fakeDNS{hosts: map[string][]netip.Addr{"localhost": {netip.MustParseAddr("127.0.0.2")}}}
	done := make(chan error, 1)
	go func() {
		_, err := caller.Dial(t.Context(), OutboundRequest{Target: fmt.Sprintf("sip:bob@localhost:%d", callee.local().Port()),
			LocalRTP: testRTP, RingTimeout: 500 * time.Millisecond})
		done <- err
	}()
	invite := callee.anything(2 * time.Second)
	if !bytes.HasPrefix(invite, []byte("INVITE ")) {
		t.Fatalf("callee got %q, want the INVITE", firstLine(invite))
	}
	ringing := "SIP/2.0 180 Ringing\r\n"
	for _, h := range []string{"Via", "From", "To", "Call-ID", "CSeq"} {
		v := testkit.SIPHeader(string(invite), h)
		if h == "To" {
			v += ";tag=callee"
		}
		ringing += h + ": " + v + "\r\n"
	}
	callee.send([]byte(ringing + "Content-Length: 0\r\n\r\n"))
	if msg := callee.request("CANCEL", 3*time.Second); msg == nil {
		t.Fatalf("no CANCEL where the INVITE went (the denied address got %q)", firstLine(denied.anything(300*time.Millisecond)))
	}
	if msg := denied.anything(300 * time.Millisecond); msg != nil {
		t.Fatalf("the denied address the name rebound to got %q", firstLine(msg))
	}
	<-done
}

// inboundEgressCall runs one inbound call from a raw caller whose INVITE
// carries extra (a Contact or Record-Route naming elsewhere); the handler
// answers and hangs up at once. It returns the caller once it ACKed the 200.
func inboundEgressCall(t *testing.T, srv *Server, caller *udpPeer, callID, contact, extra string) {
	t.Helper()
	msg := strings.ReplaceAll(string(inviteRequest(callID, extra)), "127.0.0.1:5999;rport", caller.local().String()+";rport")
	msg = strings.Replace(msg, "Contact: <sip:caller@127.0.0.1:5999>", "Contact: <sip:caller@"+contact+">", 1)
	caller.send([]byte(msg))
	ok := caller.final(3 * time.Second)
	if statusOf(ok) != 200 {
		t.Fatalf("INVITE: %q, want 200", firstLine(ok))
	}
	caller.ack(ok, callID)
}

func hangUpOnAnswer(c *InboundCall) {
	if _, err := c.Answer(context.Background(), testRTP); err != nil {
		return
	}
	_ = c.Hangup(context.Background())
}

// TestInboundBYEObeysEgress: on an inbound call our BYE goes to the caller's
// Contact (or its Record-Route) only when sip.egress allows that address;
// a Contact or route the policy denies is replaced by the address the INVITE
// came from, logged with the call at debug and summarized at warning (issue 18
// follow-up). An allowed host name is pinned to the address checked, as on
// Dial's legs.
func TestInboundBYEObeysEgress(t *testing.T) {
	for _, tc := range []struct {
		name   string
		route  bool // the denied address comes as the INVITE's Record-Route, not its Contact
		byName bool // the Contact is "localhost", which we resolve to the caller
	}{
		{"contact denied", false, false},
		{"record-route denied", true, false},
		{"contact name pinned", false, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			lines := &logLines{}
			srv, err := NewServer(Config{Listen: []string{"udp://127.0.0.1:0"}, Logger: slog.New(lines),
				Egress: EgressPolicy{Deny: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}}}, hangUpOnAnswer)
			if err != nil {
				t.Fatal(err)
			}
			// We resolve "localhost" to the caller; the system's resolver says 127.0.0.1.
			srv.dns = fakeDNS{hosts: map[string][]netip.Addr{"localhost": {netip.MustParseAddr("127.0.0.2")}}}
			if err := srv.Listen(); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(srv.Close)
			peers := peersOnOnePort(t, srv.addr("udp"), "127.0.0.2", "127.0.0.1")
			caller, denied := peers[0], peers[1]
			contact, extra := denied.local().String(), ""
			switch {
			case tc.route:
				contact, extra = caller.local().String(), "Record-Route: <sip:"+denied.local().String()+";lr>\r\n"
			case tc.byName:
				contact = fmt.Sprintf("localhost:%d", caller.local().Port())
			}
			callID := "egress-in-" + strings.ReplaceAll(tc.name, " ", "-")
			inboundEgressCall(t, srv, caller, callID, contact, extra)
			if msg := caller.request("BYE", 3*time.Second); msg == nil {
				t.Fatalf("no BYE at the caller's own address (the denied address got %q)", firstLine(denied.anything(300*time.Millisecond)))
			}
			if msg := denied.anything(300 * time.Millisecond); msg != nil {
				t.Fatalf("the denied address got %q", firstLine(msg))
			}
			logged, summarized := false, false
			for _, r := range lines.atOrAbove(slog.LevelDebug) {
				logged = logged || strings.Contains(r.Message, "sip.egress")
				summarized = summarized || r.Level >= slog.LevelWarn && r.Message == "SIP input refused or dropped"
			}
			if logged == tc.byName || summarized == tc.byName {
				t.Errorf("refusal by sip.egress logged %v, summarized %v; want %v", logged, summarized, !tc.byName)
			}
		})
	}
}

// TestDialA2xxCrossingCANCELObeysEgress: a 2xx that crosses our CANCEL (RFC
// 3261 §9.1) is acknowledged and ended at its next hop only when sip.egress
// allows it: sipgo reads that 2xx without the check Dial makes on the others.
func TestDialA2xxCrossingCANCELObeysEgress(t *testing.T) {
	caller := newEgressServer(t, EgressPolicy{Deny: []netip.Prefix{netip.MustParsePrefix("127.0.0.2/32")}})
	callee := newUDPPeer(t, caller.addr("udp"))
	denied := newUDPPeerFrom(t, "127.0.0.2", caller.addr("udp"))
	done := make(chan error, 1)
	go func() {
		_, err := caller.Dial(t.Context(), OutboundRequest{Target: "sip:bob@" + callee.local().String(), LocalRTP: testRTP, RingTimeout: 300 * time.Millisecond})
		done <- err
	}()
	invite := callee.anything(2 * time.Second)
	if !bytes.HasPrefix(invite, []byte("INVITE ")) {
		t.Fatalf("callee got %q, want the INVITE", firstLine(invite))
	}
	response := func(req []byte, status string, extra string) []byte {
		res := "SIP/2.0 " + status + "\r\n"
		for _, h := range []string{"Via", "From", "To", "Call-ID", "CSeq"} {
			v := testkit.SIPHeader(string(req), h)
			if h == "To" {
				v += ";tag=callee"
			}
			res += h + ": " + v + "\r\n"
		}
		return []byte(res + extra)
	}
	callee.send(response(invite, "180 Ringing", "Content-Length: 0\r\n\r\n"))
	cancel := callee.anything(2 * time.Second)
	if !bytes.HasPrefix(cancel, []byte("CANCEL ")) {
		t.Fatalf("callee got %q, want the CANCEL", firstLine(cancel))
	}
	callee.send(response(cancel, "200 OK", "Content-Length: 0\r\n\r\n"))
	body := "v=0\r\no=- 2 2 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 41000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n"
	callee.send(response(invite, "200 OK", "Contact: <sip:bob@"+denied.local().String()+">\r\n"+
		"Content-Type: application/sdp\r\nContent-Length: "+fmt.Sprint(len(body))+"\r\n\r\n"+body))
	if err := <-done; err == nil {
		t.Fatal("Dial succeeded after its CANCEL")
	}
	if msg := denied.anything(500 * time.Millisecond); msg != nil {
		t.Fatalf("the denied Contact of a 2xx crossing CANCEL got %q", firstLine(msg))
	}
}
