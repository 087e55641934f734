package sip

import (
	"net/netip"
	"testing"
)

// BenchmarkGuardInvite is the guard's cost for each INVITE, before sipgo
// parses it again: scan, checks, canonical form and sipgo's parse.
func BenchmarkGuardInvite(b *testing.B) {
	g := newGuard(GuardConfig{}, "bench", quietLogger())
	src := netip.MustParseAddrPort("192.0.2.1:5060")
	msg := inviteRequest("bench-1", "User-Agent: SIPp\r\nSubject: Performance Test\r\n")
	b.ReportAllocs()
	for b.Loop() {
		pass, reply, _ := g.inspectDatagram(msg, src, DefaultMaxMessageBytes)
		if pass == nil || reply != nil {
			b.Fatalf("INVITE not passed (reply %q)", reply)
		}
	}
}
