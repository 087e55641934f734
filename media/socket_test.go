//go:build linux

package media

import (
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/pion/rtp"

	"github.com/pivotua/pivotua/codec"
)

// TestReceiverReadsIPv4AndIPv6Sources: the receiver reports each datagram's
// true source address and port for both families (it decodes the kernel's
// sockaddr itself), so latching and loss work on either.
func TestReceiverReadsIPv4AndIPv6Sources(t *testing.T) {
	for _, ip := range []netip.Addr{loopback, netip.IPv6Loopback()} {
		e := newTestEngine(t, 2, func(c *Config) { c.IP = ip })
		s := openSession(t, e)
		if err := s.Start(Params{Remote: netip.AddrPortFrom(ip, 0), Law: codec.PCMU, PayloadType: 0}); err != nil {
			t.Fatal(err)
		}
		got := make(chan netip.AddrPort, 1)
		s.SetReceiver(func(*rtp.Header, []byte) {
			select {
			case got <- *s.remote.Load():
			default:
			}
		})
		peer, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(netip.AddrPortFrom(ip, 0)))
		if err != nil {
			t.Fatalf("%v: %v", ip, err)
		}
		defer peer.Close()
		pkt := marshalRTP(t, rtp.Packet{Header: rtp.Header{Version: 2, SSRC: 5, SequenceNumber: 9}, Payload: make([]byte, codec.FrameSamples)})
		if _, err := peer.WriteToUDPAddrPort(pkt, s.LocalAddr()); err != nil {
			t.Fatal(err)
		}
		select {
		case from := <-got:
			if want := peer.LocalAddr().(*net.UDPAddr).AddrPort(); from.Addr().Unmap() != want.Addr().Unmap() || from.Port() != want.Port() {
				t.Errorf("%v: latched to %v, want %v", ip, from, want)
			}
		case <-time.After(2 * time.Second):
			t.Errorf("%v: no packet reached the session", ip)
		}
	}
}

// BenchmarkRecvFromAndReceive is the receive path per datagram from the
// socket on: the clock's recvmmsg of a waiting datagram, then receivePacket.
func BenchmarkRecvFromAndReceive(b *testing.B) {
	s := benchSession(b, netip.MustParseAddrPort("127.0.0.1:9"))
	peer, err := net.ListenUDP("udp4", net.UDPAddrFromAddrPort(netip.AddrPortFrom(loopback, 0)))
	if err != nil {
		b.Fatal(err)
	}
	defer peer.Close()
	pkt := marshalRTP(b, rtp.Packet{Header: rtp.Header{Version: 2, SSRC: 77}, Payload: make([]byte, codec.FrameSamples)})
	rb := newReadBatch()
	var seq uint16
	b.ReportAllocs()
	for b.Loop() {
		seq++
		pkt[2], pkt[3] = byte(seq>>8), byte(seq)
		b.StopTimer()
		if _, err := peer.WriteToUDPAddrPort(pkt, s.LocalAddr()); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		if n := rb.read(s.fd); n != 1 || !s.receivePacket(rb.datagram(0)) {
			b.Fatalf("read %d datagrams", n)
		}
	}
}
