package sip

import (
	"bytes"
	"net/netip"
	"strings"
	"testing"
)

func TestOutOfRangePortsAreRefusedWith400(t *testing.T) {
	g := newGuard(GuardConfig{}, "test", quietLogger())
	src := netip.MustParseAddrPort("192.0.2.1:5999")
	good := string(inviteRequest("port-ok", ""))
	for _, tc := range []struct{ name, old, new string }{
		{"Request-URI", "INVITE sip:3004@127.0.0.1 ", "INVITE sip:3004@127.0.0.1:999999999999 "},
		{"Request-URI 65536", "INVITE sip:3004@127.0.0.1 ", "INVITE sip:3004@127.0.0.1:65536 "},
		{"Via", "127.0.0.1:5999;rport", "127.0.0.1:999999999999;rport"},
		{"Via rport", ";rport;", ";rport=70000;"},
		{"Contact", "<sip:caller@127.0.0.1:5999>", "<sip:caller@127.0.0.1:99999>"},
		{"From", "<sip:caller@127.0.0.1>", "<sip:caller@127.0.0.1:99999>"},
		{"To", "<sip:3004@127.0.0.1>", "<sip:3004@[::1]:99999>"},
		{"Record-Route", "Max-Forwards: 70\r\n", "Max-Forwards: 70\r\nRecord-Route: <sip:p@10.0.0.1:1;lr>, <sip:p@10.0.0.2:123456;lr>\r\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			msg := strings.Replace(good, tc.old, tc.new, 1)
			if msg == good {
				t.Fatalf("no %q in the request", tc.old)
			}
			pass, reply, _ := g.inspectDatagram([]byte(msg), src, DefaultMaxMessageBytes, nil)
			if pass != nil || !bytes.HasPrefix(reply, []byte("SIP/2.0 400 ")) {
				t.Fatalf("passed %v, answered %q; want 400", pass != nil, firstLine(reply))
			}
			if !bytes.Contains(reply, []byte("port")) {
				t.Errorf("answer does not name the port: %q", reply)
			}
		})
	}
	if pass, reply, _ := g.inspectDatagram([]byte(strings.Replace(good, "127.0.0.1:5999;rport", "127.0.0.1:65535;rport", 1)), src, DefaultMaxMessageBytes, nil); pass == nil {
		t.Fatalf("port 65535 refused: %q", reply)
	}
}

// A URI that cannot hold a port outside 0-65535 (no sign, no run of five digits) is not parsed
// again to find out: those parses were about 8 % of the guard's allocations and 5 % of its time
// per INVITE (BenchmarkGuardInvite). A negative or padded port still is parsed, and refused.
func TestPortCheckOfAnOrdinaryURIAllocatesNothing(t *testing.T) {
	for _, uri := range []string{"sip:bench@127.43.0.1:5080", "sip:1000@127.43.0.2:5060;transport=UDP", "sip:3004@[::1]:5060"} {
		if _, ok := uriPort(uri); !ok {
			t.Fatalf("%s refused", uri)
		}
		if n := testing.AllocsPerRun(50, func() { uriPort(uri) }); n != 0 {
			t.Errorf("uriPort(%s): %.0f allocations, want 0", uri, n)
		}
	}
	for _, uri := range []string{"sip:a@127.0.0.1:-1", "sip:a@127.0.0.1:0000070000", "sip:a@h:65536"} {
		if _, ok := uriPort(uri); ok {
			t.Errorf("%s passed", uri)
		}
	}
}
