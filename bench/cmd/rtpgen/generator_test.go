//go:build linux

package main

import (
	"encoding/binary"
	"net"
	"net/netip"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// A real generator on loopback, two calls sending to its one socket: each is answered from that
// socket with its own PCMU stream, and the window shows both streams, their loss and kernel
// receive times.
func TestGeneratorAnswersEachSourceFromItsOneSocket(t *testing.T) {
	g, _, err := newGenerator(netip.MustParseAddrPort("127.0.0.1:0"), 1<<20, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	sa, err := unix.Getsockname(g.fd)
	if err != nil {
		t.Fatal(err)
	}
	genAddr := &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: sa.(*unix.SockaddrInet4).Port}
	go g.run()
	defer g.stop()

	calls := make([]*net.UDPConn, 2)
	for i := range calls {
		c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		calls[i] = c
	}
	for i, c := range calls {
		for seq := uint16(0); seq < 5; seq++ {
			if i == 1 && seq == 2 {
				continue // one packet lost on the second call
			}
			if _, err := c.WriteToUDP(rtpPacket(0, 1000+seq, uint32(i+1)), genAddr); err != nil {
				t.Fatal(err)
			}
		}
	}

	for i, c := range calls {
		var ssrc uint32
		var prevSeq uint16
		for n := 0; n < 3; n++ {
			_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
			buf := make([]byte, 1500)
			m, from, err := c.ReadFromUDP(buf)
			if err != nil {
				t.Fatalf("call %d: frame %d from the generator: %v", i, n, err)
			}
			if from.Port != genAddr.Port {
				t.Fatalf("call %d: frame from %s, want the generator's one socket %s", i, from, genAddr)
			}
			if m != rtpHeaderLen+160 || buf[0] != 0x80 || buf[1]&0x7f != 0 {
				t.Fatalf("call %d: %d bytes, header %x: want 172-byte PCMU RTP", i, m, buf[:2])
			}
			seq, s := binary.BigEndian.Uint16(buf[2:]), binary.BigEndian.Uint32(buf[8:])
			if n > 0 && (s != ssrc || seq != prevSeq+1) {
				t.Fatalf("call %d: frame %d ssrc %x seq %d after ssrc %x seq %d", i, n, s, seq, ssrc, prevSeq)
			}
			ssrc, prevSeq = s, seq
		}
	}

	w := g.t.mark(0)
	if w.Streams != 2 || w.RxPackets != 9 || w.Expected != 10 || w.Lost != 1 {
		t.Fatalf("window %+v: want 2 streams, 9 received, 10 expected, 1 lost", w)
	}
	if w.Deltas != 7 || w.MeanMs <= 0 {
		t.Fatalf("window %+v: want 7 deltas between kernel receive times", w)
	}
}
