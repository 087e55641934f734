package media

import (
	"fmt"
	"io"
	"net/netip"
	"testing"
	"time"

	"github.com/pion/rtp"

	"github.com/pivotua/pivotua/codec"
)

func TestSeqTrackerEstimatesLoss(t *testing.T) {
	for _, c := range []struct {
		name string
		seqs []uint16
		lost uint64
	}{
		{"in order", []uint16{1, 2, 3, 4, 5}, 0},
		{"gap", []uint16{1, 2, 4, 5}, 1},
		{"wrap with gap", []uint16{65534, 65535, 0, 2}, 1},
		{"reordered", []uint16{1, 3, 2, 4}, 0},
		{"duplicate", []uint16{1, 2, 2, 3}, 0},
		{"stray big jump ignored", []uint16{1, 2, 40000, 3, 5}, 1},
		{"confirmed restart", []uint16{1, 2, 4, 40000, 40001, 40003}, 2},
	} {
		t.Run(c.name, func(t *testing.T) {
			var tr seqTracker
			var carried uint64
			for _, s := range c.seqs {
				tr.update(s, &carried)
			}
			if got := carried + tr.lost(); got != c.lost {
				t.Errorf("lost %d, want %d", got, c.lost)
			}
		})
	}
}

// newFuzzSession is a started session that sends nothing, for driving the
// receive path directly from the test goroutine.
func newFuzzSession(t testing.TB) *Session {
	e := newTestEngine(t, 4, nil)
	s := openSession(t, e)
	s.SetSending(false)
	if err := s.Start(Params{Law: codec.PCMU}); err != nil {
		t.Fatal(err)
	}
	return s
}

func marshalRTP(t testing.TB, p rtp.Packet) []byte {
	b, err := p.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func FuzzReceivePacket(f *testing.F) {
	payload := make([]byte, codec.FrameSamples)
	f.Add(marshalRTP(f, rtp.Packet{Header: rtp.Header{Version: 2, SequenceNumber: 1, SSRC: 5}, Payload: payload}))
	f.Add(marshalRTP(f, rtp.Packet{Header: rtp.Header{Version: 2, CSRC: []uint32{1, 2}, SSRC: 5}, Payload: payload}))
	ext := rtp.Header{Version: 2, SSRC: 5}
	if err := ext.SetExtension(1, []byte{1, 2, 3}); err != nil {
		f.Fatal(err)
	}
	f.Add(marshalRTP(f, rtp.Packet{Header: ext, Payload: payload}))
	f.Add(marshalRTP(f, rtp.Packet{Header: rtp.Header{Version: 2, Padding: true, PaddingSize: 4, SSRC: 5}, Payload: payload}))
	f.Add([]byte{0x80, 0xc8, 0, 6, 0, 0, 0, 1}) // RTCP SR
	f.Add([]byte{0x90, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 5, 0xbe, 0xde, 0xff, 0xff})
	f.Add([]byte{0xa0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 5, 0})
	f.Add([]byte{})

	s := newFuzzSession(f)
	from := netip.MustParseAddrPort("127.0.0.1:9")
	var calls int
	s.SetReceiver(func(h *rtp.Header, p []byte) { calls += len(p) & 1 })
	s.OnDigit(func(Digit) { calls++ }) // in-band detection runs on PT 0 and 8
	rec, err := s.StartRecording(io.Discard)
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { rec.Stop() })
	f.Fuzz(func(t *testing.T, data []byte) {
		accepted := s.receivePacket(data, from)
		if accepted && len(data) < rtpHeaderSize {
			t.Fatalf("accepted a %d-byte datagram", len(data))
		}
	})
}

// latchStep is one packet in a strict-learning scenario: from which source,
// with which SSRC and sequence number, how long after Start, and whether it
// must be heard.
type latchStep struct {
	from  string
	ssrc  uint32
	seq   uint16
	at    time.Duration
	heard bool
}

// paced is n packets of one stream, 20 ms apart from at on, each heard as
// heard(i) says.
func paced(from string, ssrc uint32, seq uint16, at time.Duration, n int, heard func(i int) bool) []latchStep {
	var out []latchStep
	for i := range n {
		out = append(out, latchStep{from, ssrc, seq + uint16(i), at + time.Duration(i)*codec.FrameDuration, heard(i)})
	}
	return out
}

func never(int) bool  { return false }
func always(int) bool { return true }
func heardFrom(k int) func(int) bool {
	return func(i int) bool { return i >= k }
}

// Strict RTP learning, packet by packet, with the arrival times given: the
// SDP address is heard at once; another source only after a run of
// consecutive, in-order packets of one SSRC lasting 100 ms (and, when the SDP
// address could send, after its 1 s head start); once a source latched, only
// its own SSRC may move (NAT rebinding), never a stranger's.
func TestStrictLearningDecidesWhoIsHeard(t *testing.T) {
	const (
		sdp      = "192.0.2.1:4000"
		nat      = "198.51.100.7:5000"
		attacker = "203.0.113.9:6000"
		moved    = "192.0.2.1:4002"
	)
	burst := func(from string, ssrc uint32, at time.Duration, n int) []latchStep {
		var out []latchStep
		for i := range n {
			out = append(out, latchStep{from, ssrc, uint16(100 + i), at, false})
		}
		return out
	}
	cat := func(parts ...[]latchStep) []latchStep {
		var out []latchStep
		for _, p := range parts {
			out = append(out, p...)
		}
		return out
	}
	tests := []struct {
		name   string
		remote string // the SDP address
		steps  []latchStep
		latch  string // where the session sends at the end
	}{
		{"the SDP address is heard at once", sdp, paced(sdp, 1, 0, 0, 3, always), sdp},
		{"an attacker's burst before the caller is not heard", sdp,
			cat(burst(attacker, 9, 0, 50), paced(sdp, 1, 0, 10*time.Millisecond, 3, always)), sdp},
		{"an attacker's paced run waits out the SDP address's head start", sdp,
			cat(paced(attacker, 9, 0, 0, 40, never), paced(sdp, 1, 0, 800*time.Millisecond, 3, always)), sdp},
		{"an attacker cannot take over from the caller", sdp,
			cat(paced(sdp, 1, 0, 0, 2, always), paced(attacker, 9, 0, 50*time.Millisecond, 200, never)), sdp},
		{"nor with the caller's SSRC while the caller talks", sdp, interleave(
			paced(sdp, 1, 0, 0, 30, always), paced(attacker, 1, 500, 5*time.Millisecond, 30, never)), sdp},
		{"the SDP address takes the stream back from an attacker that won while it was silent", sdp, cat(
			paced(attacker, 9, 0, 0, 60, heardFrom(50)),
			paced(sdp, 1, 0, 1300*time.Millisecond, 3, always),
			paced(attacker, 9, 60, 1310*time.Millisecond, 20, never)), sdp},
		{"NAT: a private SDP address, the caller heard after 100 ms", "10.0.0.5:4000",
			paced(nat, 1, 0, 0, 10, heardFrom(5)), nat},
		{"a public SDP address that never sends: the caller heard after the head start", sdp,
			paced(nat, 1, 0, 0, 60, heardFrom(50)), nat},
		{"the SDP host sending from another port: heard after 100 ms", sdp,
			paced(moved, 1, 0, 0, 10, heardFrom(5)), moved},
		{"no SDP address: heard after 100 ms", "0.0.0.0:0", paced(nat, 1, 0, 0, 10, heardFrom(5)), nat},
		{"a stranger's packets between the caller's do not break its run", "10.0.0.5:4000", interleave(
			paced(nat, 1, 0, 0, 10, heardFrom(5)), paced(attacker, 9, 500, 10*time.Millisecond, 50, never)), nat},
		{"nor does a spray of random SSRCs and sequence numbers, three between each of the caller's packets",
			"10.0.0.5:4000", interleave(paced(nat, 1, 0, 0, 10, heardFrom(5)), spray(attacker, 0, 30)), nat},
		{"nor do eight junk-spraying strangers once the caller's run has two packets", "10.0.0.5:4000", cat(
			paced(nat, 1, 0, 0, 2, never), interleave(paced(nat, 1, 2, 40*time.Millisecond, 8, heardFrom(3)), sprayFromMany(8, 41*time.Millisecond, 30))), nat},
		{"nor do three strangers at once", "10.0.0.5:4000", interleave(paced(nat, 1, 0, 0, 10, heardFrom(5)),
			interleave(spray(attacker, 0, 30), interleave(spray("203.0.113.10:6000", 2*time.Millisecond, 30),
				spray("203.0.113.11:6000", 4*time.Millisecond, 30)))), nat},
		{"a run out of order starts over", "0.0.0.0:0", cat(
			paced(nat, 1, 0, 0, 4, never), paced(nat, 1, 50, 80*time.Millisecond, 6, heardFrom(5))), nat},
		{"NAT rebinding: the caller's SSRC from a new port is heard after its run", sdp, cat(
			paced(sdp, 1, 0, 0, 10, always), paced(moved, 1, 10, 200*time.Millisecond, 10, heardFrom(5))), moved},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newLatchSession(t, tt.remote)
			base := s.e.now()
			for i, st := range tt.steps {
				heard := s.latch(s.startGen.Load(), netip.MustParseAddrPort(st.from), st.ssrc, st.seq, base+int64(st.at))
				if heard != st.heard {
					t.Fatalf("packet %d (%s ssrc %d seq %d at %v): heard %v, want %v", i, st.from, st.ssrc, st.seq, st.at, heard, st.heard)
				}
			}
			want := netip.AddrPort{}
			if tt.latch != "" {
				want = netip.MustParseAddrPort(tt.latch)
			}
			if got := s.rx.addr; got != want {
				t.Errorf("latched to %v, want %v", got, want)
			}
			if want.IsValid() && *s.remote.Load() != want {
				t.Errorf("sends to %v, want %v", *s.remote.Load(), want)
			}
		})
	}
}

// spray is n packets from one address, each with a new random-looking SSRC
// and sequence number, three every 20 ms from at on: none is ever heard.
func spray(from string, at time.Duration, n int) []latchStep {
	var out []latchStep
	for i := range n {
		x := uint32(i+1) * 2654435761 // Knuth's multiplicative hash: a new SSRC and sequence each time
		out = append(out, latchStep{from, x, uint16(x >> 16), at + time.Duration(i)*codec.FrameDuration/3, false})
	}
	return out
}

// sprayFromMany is spray from n addresses at once, from at on.
func sprayFromMany(n int, at time.Duration, each int) []latchStep {
	var out []latchStep
	for i := range n {
		out = interleave(out, spray(fmt.Sprintf("203.0.113.%d:6000", 20+i), at+time.Duration(i)*time.Millisecond, each))
	}
	return out
}

// interleave merges two packet sequences by arrival time.
func interleave(a, b []latchStep) []latchStep {
	out := make([]latchStep, 0, len(a)+len(b))
	for len(a) > 0 || len(b) > 0 {
		if len(b) == 0 || (len(a) > 0 && a[0].at <= b[0].at) {
			out, a = append(out, a[0]), a[1:]
		} else {
			out, b = append(out, b[0]), b[1:]
		}
	}
	return out
}

// newLatchSession is a session started toward remote and taken off its clock,
// so the test goroutine owns its receiver state.
func newLatchSession(t *testing.T, remote string) *Session {
	t.Helper()
	e := newTestEngine(t, 4, nil)
	s := openSession(t, e)
	s.SetSending(false)
	var p Params
	p.Law = codec.PCMU
	if remote != "" {
		p.Remote = netip.MustParseAddrPort(remote)
	}
	if err := s.Start(p); err != nil {
		t.Fatal(err)
	}
	offClock(s)
	return s
}

// Whether the SDP address gets its head start over another source: not when
// the SDP address is one a peer behind NAT writes (private, shared CGNAT,
// link-local or loopback) and the packets come from a public address.
func TestSDPHeadStartSkipsPeersBehindNAT(t *testing.T) {
	for _, tt := range []struct {
		sdp, from string
		headStart bool
	}{
		{"192.0.2.1:4000", "198.51.100.7:5000", true},        // public SDP address: it may still send
		{"192.0.2.1:4000", "192.0.2.1:4002", false},          // the SDP host from another port
		{"0.0.0.0:0", "198.51.100.7:5000", false},            // no SDP address
		{"10.0.0.5:4000", "198.51.100.7:5000", false},        // RFC 1918
		{"172.16.3.4:4000", "198.51.100.7:5000", false},      // RFC 1918
		{"192.168.1.20:4000", "198.51.100.7:5000", false},    // RFC 1918
		{"[fd00::5]:4000", "[2001:db8::7]:5000", false},      // RFC 4193
		{"100.64.0.5:4000", "198.51.100.7:5000", false},      // RFC 6598 shared (CGNAT) space
		{"100.127.255.254:4000", "198.51.100.7:5000", false}, // its last address
		{"169.254.10.1:4000", "198.51.100.7:5000", false},    // RFC 3927 link-local
		{"[fe80::1]:4000", "[2001:db8::7]:5000", false},      // RFC 4291 link-local
		{"127.0.0.1:4000", "198.51.100.7:5000", false},       // loopback
		{"[::1]:4000", "[2001:db8::7]:5000", false},          // loopback
		{"100.128.0.5:4000", "198.51.100.7:5000", true},      // just past 100.64.0.0/10: public
		{"10.0.0.5:4000", "100.64.0.9:5000", true},           // private to CGNAT: both inside
		{"10.0.0.5:4000", "127.0.0.2:5000", true},            // private to loopback: both inside
		{"100.64.0.5:4000", "10.1.1.1:5000", true},           // CGNAT to private: both inside
	} {
		var rx rxState
		if sdp := netip.MustParseAddrPort(tt.sdp); !sdp.Addr().IsUnspecified() {
			rx.expect = sdp
		}
		if got := rx.sdpHeadStartOver(netip.MustParseAddrPort(tt.from)); got != tt.headStart {
			t.Errorf("SDP %s, packets from %s: head start %v, want %v", tt.sdp, tt.from, got, tt.headStart)
		}
	}
}

// A re-INVITE that keeps the SDP address keeps the learned source; a phone
// that reopened its socket for it (new port, new SSRC) takes over once the old
// source has been silent for takeoverSilence (500 ms) and the new one passed
// its probation. A source that still talks is never taken over, and outside a
// re-INVITE's takeoverWindow a silent source stays latched.
func TestReInviteLetsANewSourceTakeOverASilentOne(t *testing.T) {
	const (
		sdp      = "10.0.0.5:4000" // behind NAT: learned from its source
		nat      = "198.51.100.7:5000"
		reopened = "198.51.100.7:5002"
		attacker = "203.0.113.9:6000"
	)
	ms := func(n int) time.Duration { return time.Duration(n) * time.Millisecond }
	// The caller is learned at 100 ms and last heard at 180 ms; the re-INVITE comes at 200 ms.
	learned := paced(nat, 1, 0, 0, 10, heardFrom(5))
	tests := []struct {
		name   string
		before []latchStep // before the re-INVITE
		after  []latchStep
		latch  string
	}{
		{"the reopened socket is heard 500 ms after the old one fell silent", learned,
			// 300 + 20*19 = 680 ms: the first packet at least 500 ms after 180 ms
			paced(reopened, 2, 7000, ms(300), 30, heardFrom(19)), reopened},
		{"at once if the old source was silent long before the re-INVITE", learned,
			paced(reopened, 2, 7000, ms(2000), 10, heardFrom(5)), reopened},
		{"not while the old source still talks", learned, interleave(
			paced(nat, 1, 10, ms(200), 60, always), paced(reopened, 2, 7000, ms(210), 60, never)), nat},
		{"the old source talking again after the takeover is not heard", learned, append(
			paced(reopened, 2, 7000, ms(300), 30, heardFrom(19)), paced(nat, 1, 10, ms(900), 10, never)...), reopened},
		{"an outsider cannot take over the caller that still talks after the re-INVITE", learned, interleave(
			paced(nat, 1, 10, ms(200), 100, always), spray(attacker, ms(205), 100)), nat},
		{"nor with a paced stream of its own", learned, interleave(
			paced(nat, 1, 10, ms(200), 100, always), paced(attacker, 9, 0, ms(205), 100, never)), nat},
		{"past the window after the re-INVITE a silent source stays latched", learned, append(
			paced(nat, 1, 10, ms(200), 1, always), paced(reopened, 2, 7000, ms(200)+time.Duration(takeoverWindow), 50, never)...), nat},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newLatchSession(t, sdp)
			base := s.e.now()
			run := func(steps []latchStep) {
				t.Helper()
				for i, st := range steps {
					heard := s.latch(s.startGen.Load(), netip.MustParseAddrPort(st.from), st.ssrc, st.seq, base+int64(st.at))
					if heard != st.heard {
						t.Fatalf("packet %d (%s ssrc %d seq %d at %v): heard %v, want %v", i, st.from, st.ssrc, st.seq, st.at, heard, st.heard)
					}
				}
			}
			run(tt.before)
			if err := s.Start(Params{Law: codec.PCMU, Remote: netip.MustParseAddrPort(sdp)}); err != nil { // the re-INVITE
				t.Fatal(err)
			}
			run(tt.after)
			want := netip.MustParseAddrPort(tt.latch)
			if s.rx.addr != want || *s.remote.Load() != want {
				t.Errorf("latched to %v, sends to %v, want %v", s.rx.addr, *s.remote.Load(), want)
			}
		})
	}
}
