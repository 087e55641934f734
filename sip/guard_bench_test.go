package sip

import (
	"net/netip"
	"testing"
)

// sippInDialog is an in-dialog request as SIPp's uac scenario sends it
// (ACK and BYE of a call): To carries our tag, no body.
func sippInDialog(method string, cseq int) []byte {
	return []byte(method + " sip:3004@127.0.0.1:5060 SIP/2.0\r\n" +
		"Via: SIP/2.0/UDP 127.0.0.1:5999;branch=z9hG4bK-4242-1-" + method + "\r\n" +
		"From: sipp <sip:sipp@127.0.0.1:5999>;tag=4242SIPpTag001\r\n" +
		"To: sut <sip:3004@127.0.0.1:5060>;tag=8f3e2a1b\r\n" +
		"Call-ID: 1-4242@127.0.0.1\r\nCSeq: " + string(rune('0'+cseq)) + " " + method + "\r\n" +
		"Contact: sip:sipp@127.0.0.1:5999\r\nMax-Forwards: 70\r\nSubject: Performance Test\r\n" +
		"Content-Length: 0\r\n\r\n")
}

func benchmarkGuard(b *testing.B, msg []byte) {
	g := newGuard(GuardConfig{}, "bench", quietLogger())
	src := netip.MustParseAddrPort("192.0.2.1:5060")
	out := make([]byte, DefaultMaxMessageBytes) // sipgo's read buffer, as guardedPacketConn passes it
	b.ReportAllocs()
	for b.Loop() {
		pass, reply, _ := g.inspectDatagram(msg, src, DefaultMaxMessageBytes, out)
		if pass == nil || reply != nil {
			b.Fatalf("request not passed (reply %q)", reply)
		}
	}
}

// BenchmarkGuardInvite is the guard's cost for each INVITE, before sipgo
// parses it: scan, checks and canonical form.
func BenchmarkGuardInvite(b *testing.B) {
	benchmarkGuard(b, inviteRequest("bench-1", "User-Agent: SIPp\r\nSubject: Performance Test\r\n"))
}

// BenchmarkGuardAck and BenchmarkGuardBye are the other two requests of a
// call's setup and teardown.
func BenchmarkGuardAck(b *testing.B) { benchmarkGuard(b, sippInDialog("ACK", 1)) }

func BenchmarkGuardBye(b *testing.B) { benchmarkGuard(b, sippInDialog("BYE", 2)) }

// TestGuardAllocatesOnceForACallsRequests: the GC's share of a call setup is
// paid per byte allocated, and the guard reads every datagram. Its scan,
// checks and canonical form of an INVITE, ACK or BYE cost one allocation
// (the copy of the header section that its strings point into); the
// canonical form goes into the caller's buffer.
func TestGuardAllocatesOnceForACallsRequests(t *testing.T) {
	g := newGuard(GuardConfig{}, "test", quietLogger())
	src := netip.MustParseAddrPort("192.0.2.1:5060")
	out := make([]byte, DefaultMaxMessageBytes)
	for name, msg := range map[string][]byte{
		"INVITE": inviteRequest("allocs-1", "User-Agent: SIPp\r\nSubject: Performance Test\r\n"),
		"ACK":    sippInDialog("ACK", 1),
		"BYE":    sippInDialog("BYE", 2),
	} {
		allocs := testing.AllocsPerRun(100, func() {
			if pass, _, _ := g.inspectDatagram(msg, src, DefaultMaxMessageBytes, out); pass == nil {
				t.Fatalf("%s not passed", name)
			}
		})
		if allocs > 1 {
			t.Errorf("%s: %.1f allocations, want 1", name, allocs)
		}
	}
}
