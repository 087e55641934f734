package main

// End-to-end tests of RTP source learning against the real binary, with the
// raw SIP caller of hostile_media_e2e_test.go: a phone that reopens its RTP
// socket for a re-INVITE, and a caller whose source is learned while an
// outsider sprays the port.

import (
	"fmt"
	"net"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/pivotua/pivotua/codec"
	"github.com/pivotua/pivotua/internal/testkit/sipptest"
)

// reinvite sends a re-INVITE (CSeq cseq) offering the same SDP as dialRaw,
// as a session refresh or a phone that reopened its RTP socket does, and ACKs
// its 200 OK. The caller's serve loop reads the responses, so the ACK goes
// out after pivotua had time to answer, and once more in case it was early.
func (c *rawCaller) reinvite(cseq int) {
	rtpPort := c.rtp.LocalAddr().(*net.UDPAddr).Port
	sdp := "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n" +
		fmt.Sprintf("m=audio %d RTP/AVP 0 101\r\n", rtpPort) +
		"a=rtpmap:0 PCMU/8000\r\na=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-16\r\na=sendrecv\r\n"
	c.send("INVITE", cseq, c.toTag, "Content-Type: application/sdp\r\n", sdp)
	for range 2 {
		time.Sleep(150 * time.Millisecond)
		c.send("ACK", cseq, c.toTag, "", "")
	}
}

// sprayJunk sends RTP carrying key 9 as RFC 4733 events to to from 127.0.0.2
// (another host) every 5 ms until stop closes, each packet with a new SSRC
// and sequence number, as a scanner does: no packet can ever be learned as a
// stream. It returns the packets sent.
func sprayJunk(t *testing.T, to netip.AddrPort, stop <-chan struct{}) <-chan int {
	conn, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 2)})
	if err != nil {
		t.Fatal(err)
	}
	sent := make(chan int, 1)
	go func() {
		defer conn.Close()
		n := 0
		defer func() { sent <- n }()
		for i := uint32(1); ; i++ {
			select {
			case <-stop:
				return
			case <-time.After(5 * time.Millisecond):
			}
			x := i * 2654435761 // a new SSRC and sequence number each packet
			pkt := rtpPacket(101, false, uint16(x>>16), x, x, keyEvent('9', false, codec.FrameSamples))
			if _, err := conn.WriteToUDPAddrPort(pkt, to); err == nil {
				n++
			}
		}
	}()
	return sent
}

// A phone re-INVITEs with the same SDP and, for it, reopens its RTP socket:
// its RTP comes from a new port with a new SSRC while the old socket falls
// silent. The key it presses from the new socket reaches the application
// (before the fix the learned old source was kept and the new one was never
// heard).
func TestE2EHostileMedia2ReopenedSocketAfterReInviteIsHeard(t *testing.T) {
	needE2E(t)
	app := gatherApp(t)
	p := startPivotua(t, twimlFlow(app.URL+"/ivr/voice"))
	c := dialRaw(t, p)
	old := &rtpStream{c: c, ssrc: 0x1111}
	old.talk(time.Second)
	c.reinvite(2)
	c.moveRTP()
	s := &rtpStream{c: c, ssrc: 0x2222, seq: 40000, ts: 1 << 30}
	s.talk(time.Second) // 500 ms of the old source's silence, and the probation
	s.press('7')
	s.talk(500 * time.Millisecond)
	c.send("BYE", 3, c.toTag, "", "")
	if keys := gathered(app); !slices.Equal(keys, []string{"7"}) {
		t.Errorf("the application got keys %q, want \"7\" pressed from the reopened socket\n%s", keys, sipptest.LastLines(p.logs(), 30))
	}
}

// A caller whose RTP comes from another port than its SDP says (as from
// behind NAT) must pass probation; an outsider sprays junk at the call's port
// every 5 ms from before the caller's first packet. The caller is still
// learned and its key reaches the application, and no injected key does
// (before the fix every stranger's packet restarted the caller's run, so the
// caller was never heard).
func TestE2EHostileMedia2SprayDoesNotKeepTheCallerFromBeingLearned(t *testing.T) {
	needE2E(t)
	app := gatherApp(t)
	p := startPivotua(t, twimlFlow(app.URL+"/ivr/voice"))
	c := dialRaw(t, p)
	c.moveRTP() // not the SDP port: learned only after its probation
	stop := make(chan struct{})
	sprayed := sprayJunk(t, c.remote, stop)
	time.Sleep(100 * time.Millisecond) // the outsider is there first
	s := &rtpStream{c: c, ssrc: 0x3333}
	s.talk(time.Second)
	s.press('5')
	s.talk(500 * time.Millisecond)
	c.hangUp()
	close(stop)
	n := <-sprayed
	keys := gathered(app)
	t.Logf("%d junk packets sprayed at %v; keys the application got: %q", n, c.remote, keys)
	if !slices.Equal(keys, []string{"5"}) {
		t.Errorf("the application got keys %q, want the caller's \"5\"\n%s", keys, sipptest.LastLines(p.logs(), 30))
	}
}
