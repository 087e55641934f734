package sip

import (
	"bytes"
	"net/netip"
	"strings"
	"testing"
	"time"
)

// unparsableRequests are requests the guard's other checks let through and
// sipgo's parser refuses, one per way it fails (see guard_parsable.go), with
// what the 400's Warning must say.
var unparsableRequests = []struct {
	name, msg, warning string
}{
	{"URI without scheme", strings.Replace(string(inviteRequest("p1", "")), "sip:3004@127.0.0.1 SIP", "sip SIP", 1), "Request-URI has no scheme"},
	{"URI wildcard", strings.Replace(string(inviteRequest("p2", "")), "sip:3004@127.0.0.1 SIP", "sip:* SIP", 1), "Request-URI * is only"},
	{"URI open IPv6", strings.Replace(string(inviteRequest("p3", "")), "sip:3004@127.0.0.1 SIP", "sip:3004@[::1 SIP", 1), "Request-URI has an IPv6 reference without ]"},
	{"URI port not a number", strings.Replace(string(inviteRequest("p4", "")), "sip:3004@127.0.0.1 SIP", "sip:3004@127.0.0.1:x SIP", 1), "Request-URI port 'x' is not a number"},
	{"version spelt Sip", strings.Replace(string(inviteRequest("p5", "")), " SIP/2.0\r\n", " Sip/2.0\r\n", 1), "SIP version Sip/2.0 is not spelt SIP/2.0"},
	{"CR in Request-Line", strings.Replace(string(inviteRequest("p6", "")), "sip:3004@", "sip:30\r04@", 1), "CR without LF in the Request-Line"},
	{"CR in a field", string(inviteRequest("p7", "Subject: a\rb\r\n")), "CR without LF in the Subject header"},
	{"Via comma in quotes", string(inviteRequest("p8", "Via: SIP/2.0/UDP 127.0.0.1;branch=z9hG4bK8;x=\"a,b\"\r\n")), "Via header: no / after the protocol name"},
	{"Via without version", string(inviteRequest("p9", "Via: SIP/2.0 127.0.0.1;branch=z9hG4bK9\r\n")), "Via header: no / after the protocol version"},
	{"Via without space", string(inviteRequest("p10", "Via: SIP/2.0/UDP;branch=z9hG4bK10\r\n")), "Via header: no space after the transport"},
	{"Via open IPv6", string(inviteRequest("p11", "Via: SIP/2.0/UDP [::1;branch=z9hG4bK11\r\n")), "Via header: IPv6 reference without ]"},
	{"From wildcard", strings.Replace(string(inviteRequest("p12", "")), "From: <sip:caller@127.0.0.1>", "From: <*>", 1), "From header: the URI * is only for Contact"},
	{"To short URI", strings.Replace(string(inviteRequest("p13", "")), "To: <sip:3004@127.0.0.1>", "To: <ab>", 1), "To header: URI 'ab' is too short"},
	{"Contact scheme", strings.Replace(string(inviteRequest("p14", "")), "Contact: <sip:caller@127.0.0.1:5999>", "Contact: <s1p:caller@127.0.0.1>", 1), "Contact header: URI scheme holds other than letters"},
	{"Route open IPv6", string(inviteRequest("p15", "Route: <sip:a@b;lr>,<sip:[::1;lr>\r\n")), "Route header: URI has an IPv6 reference without ]"},
	{"Record-Route empty URI", string(inviteRequest("p16", "Record-Route: <>\r\n")), "Record-Route header: URI is empty"},
	{"Refer-To quoted", string(inviteRequest("p17", "Refer-To: \"x\" sip:a@b\r\n")), "Refer-To header: no URI after the display name"},
	{"Referred-By wildcard", string(inviteRequest("p18", "Referred-By: *\r\n")), "Referred-By header: the URI * is only for Contact"},
	{"Content-Type empty", strings.Replace(string(optionsRequest("p19", "")), "CSeq: 1 OPTIONS\r\n", "CSeq: 1 OPTIONS\r\nContent-Type:\r\n", 1), "Content-Type header: empty value"},
	{"Content-Length without body", strings.Replace(string(optionsRequest("p20", "")), "Content-Length: 0\r\n\r\n", "Content-Length: 5\r\n", 1), "Content-Length 5 is larger than the 0-byte body"},
	// An ACK is refused like any request, but never answered (no warning).
	{"ACK open IPv6 Via", strings.Replace(string(sippInDialog("ACK", 1)), "UDP 127.0.0.1:5999;", "UDP [::1:5999;", 1), ""},
}

// TestGuardRefusesWhatSipgoCannotParse: each way sipgo's parser fails on a
// request gets a 400 naming the fault from the guard itself (an ACK: no
// answer), where sipgo would drop the request with an ERROR line.
func TestGuardRefusesWhatSipgoCannotParse(t *testing.T) {
	g := newGuard(GuardConfig{}, "pivotua-test", quietLogger())
	src := netip.MustParseAddrPort("192.0.2.7:5060")
	for _, c := range unparsableRequests {
		t.Run(c.name, func(t *testing.T) {
			h, err := scanRequest([]byte(c.msg), DefaultMaxHeaders)
			if err != nil {
				t.Fatal(err)
			}
			h.tighten(-1)
			if _, err := g.parser.ParseSIP(h.appendCanonical(nil)); err == nil {
				t.Fatalf("sipgo parses it: not a case for this test")
			}
			pass, reply, _ := g.inspectDatagram([]byte(c.msg), src, DefaultMaxMessageBytes, nil)
			if pass != nil {
				t.Fatalf("passed to sipgo:\n%s", pass)
			}
			if c.warning == "" {
				if reply != nil {
					t.Fatalf("an ACK was answered:\n%s", reply)
				}
				return
			}
			if code := statusOf(reply); code != 400 {
				t.Fatalf("answered %d, want 400:\n%s", code, reply)
			}
			if !bytes.Contains(reply, []byte("Warning: 399 pivotua \""+c.warning)) {
				t.Errorf("Warning does not say %q:\n%s", c.warning, reply)
			}
		})
	}
}

// TestGuardRefusesWhatGrowsOverTheCapOnceUnfolded: the canonical form adds a
// space after each colon. A datagram that fits sipgo's read buffer (the limit
// guardedPacketConn passes, 32 KiB on UDP, under the 64 KiB cap) but grows
// past it must be refused, not handed over cut short.
func TestGuardRefusesWhatGrowsOverTheCapOnceUnfolded(t *testing.T) {
	g := newGuard(GuardConfig{}, "pivotua-test", quietLogger())
	src := netip.MustParseAddrPort("192.0.2.7:5060")
	const limit = 1024
	msg := optionsRequest("grow", "")
	msg = bytes.Replace(msg, []byte("Content-Length"), append(bytes.Repeat([]byte("X:a\r\n"), (limit-len(msg))/5), "Content-Length"...), 1)
	if len(msg) > limit {
		t.Fatalf("test message is %d bytes", len(msg))
	}
	pass, reply, _ := g.inspectDatagram(msg, src, limit, nil)
	if pass != nil || statusOf(reply) != 400 || !bytes.Contains(reply, []byte("over the 1024-byte cap")) {
		t.Fatalf("passed %d bytes; answered:\n%s", len(pass), reply)
	}
}

// FuzzGuardPassesOnlyParsable holds the guard to the invariant that lets it
// skip a trial parse: whatever request it passes, sipgo's parser parses.
// Its seeds (each way sipgo fails, the RFC 4475 torture messages, a SIPp
// call's requests) run in every go test.
func FuzzGuardPassesOnlyParsable(f *testing.F) {
	for _, c := range unparsableRequests {
		f.Add([]byte(c.msg))
	}
	for _, m := range loadTorture(f) {
		f.Add(m.data)
	}
	f.Add(inviteRequest("seed", "User-Agent: SIPp\r\nRoute: <sip:a@b;lr>, <sip:c@d>\r\nReferred-By: <sip:r@b>\r\n"))
	f.Add(sippInDialog("ACK", 1))
	f.Add(sippInDialog("BYE", 2))
	g := newGuard(GuardConfig{MaxMessageBytes: 4096}, "fuzz", quietLogger())
	src := netip.MustParseAddrPort("192.0.2.1:5060")
	out := make([]byte, 4096)
	f.Fuzz(func(t *testing.T, data []byte) {
		pass, _, _ := g.inspectDatagram(data, src, 4096, out)
		if pass == nil || bytes.HasPrefix(pass, []byte("SIP/")) || len(bytes.Trim(pass, "\r\n\x00")) == 0 {
			return // refused, a response (sipgo's parser judged it) or a keep-alive
		}
		if _, err := g.parser.ParseSIP(pass); err != nil {
			t.Fatalf("the guard passed what sipgo cannot parse: %v\n%q", err, pass)
		}
	})
}

// TestUnparsableRequestsGet400OverUDP: the same requests sent to a server
// get their 400 on the wire, and the server goes on answering.
func TestUnparsableRequestsGet400OverUDP(t *testing.T) {
	srv := startTestServer(t, Config{}, rejectAll(486))
	for _, c := range unparsableRequests {
		if c.warning == "" {
			continue // the ACK: nothing to wait for
		}
		t.Run(c.name, func(t *testing.T) {
			p := newUDPPeer(t, srv.addr("udp"))
			p.send(viaToPeer([]byte(c.msg), p.local()))
			res := p.final(2 * time.Second)
			if statusOf(res) != 400 || !bytes.Contains(res, []byte("Warning: 399 pivotua \""+c.warning)) {
				t.Errorf("answer:\n%s", res)
			}
		})
	}
	p := newUDPPeer(t, srv.addr("udp"))
	if code := p.ask(optionsRequest("after-unparsable", ""), 2*time.Second); code != 200 {
		t.Fatalf("OPTIONS afterwards: %d", code)
	}
}

// TestDatagramOutgrowingSipgosBufferGets400: sipgo reads UDP into 32 KiB
// (sip.TransportBufferReadSize), under the 64 KiB cap. A 32,600-byte OPTIONS
// whose 240 "X:a" lines end in a bare LF grows by 480 bytes once rebuilt;
// cut to 32 KiB, it would still parse (no Content-Length: the body ends
// where the datagram does) and be answered as if whole.
func TestDatagramOutgrowingSipgosBufferGets400(t *testing.T) {
	srv := startTestServer(t, Config{}, rejectAll(486))
	p := newUDPPeer(t, srv.addr("udp"))
	msg := bytes.Replace(optionsRequest("outgrow", ""), []byte("Content-Length: 0\r\n\r\n"), bytes.Repeat([]byte("X:a\n"), 240), 1)
	msg = append(msg, '\n') // the empty line
	msg = append(msg, bytes.Repeat([]byte("b"), 32600-len(msg))...)
	p.send(viaToPeer(msg, p.local()))
	res := p.final(2 * time.Second)
	if statusOf(res) != 400 || !bytes.Contains(res, []byte("over the 32768-byte cap")) {
		t.Fatalf("answer to a datagram of %d bytes:\n%s", len(msg), res)
	}
}
