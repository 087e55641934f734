//go:build linux

package media

import (
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/pion/rtp"

	"github.com/pivotua/pivotua/codec"
	"github.com/pivotua/pivotua/internal/testkit"
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
		// The SDP gave no port: the peer is heard after its probation, a run
		// of paced packets.
		var from netip.AddrPort
	send:
		for seq := range uint16(100) {
			pkt := marshalRTP(t, rtp.Packet{Header: rtp.Header{Version: 2, SSRC: 5, SequenceNumber: seq}, Payload: make([]byte, codec.FrameSamples)})
			if _, err := peer.WriteToUDPAddrPort(pkt, s.LocalAddr()); err != nil {
				t.Fatal(err)
			}
			select {
			case from = <-got:
				break send
			case <-time.After(codec.FrameDuration):
			}
		}
		if !from.IsValid() {
			t.Errorf("%v: no packet reached the session", ip)
		} else if want := peer.LocalAddr().(*net.UDPAddr).AddrPort(); from.Addr().Unmap() != want.Addr().Unmap() || from.Port() != want.Port() {
			t.Errorf("%v: latched to %v, want %v", ip, from, want)
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
	hearFrom(s, peer.LocalAddr().(*net.UDPAddr).AddrPort())
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

// TestFloodOnOnePortCostsOthersNothing: the clock reads at most
// readBatchSize datagrams a tick from a socket, so a peer flooding one
// session's port (the kernel drops what its socket cannot hold) neither
// starves nor delays another session on the same clock: every packet of a
// normal 50 packets/s stream is received.
func TestFloodOnOnePortCostsOthersNothing(t *testing.T) {
	e := newTestEngine(t, 4, nil)
	flooded := openSession(t, e)
	quiet, err := e.Open(WithTickOf(flooded)) // same clock and slot: the worst case
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { quiet.Close() })
	flooder, peer := newTestPeer(t), newTestPeer(t)
	startToward(t, flooded, flooder)
	startToward(t, quiet, peer)

	stop := make(chan struct{})
	floodDone := make(chan int)
	go func() {
		pkt := marshalRTP(t, rtp.Packet{Header: rtp.Header{Version: 2, SSRC: 1}, Payload: make([]byte, codec.FrameSamples)})
		sent := 0
		for {
			select {
			case <-stop:
				floodDone <- sent
				return
			default:
			}
			pkt[2], pkt[3] = byte(sent>>8), byte(sent)
			if _, err := flooder.conn.WriteToUDPAddrPort(pkt, flooded.LocalAddr()); err == nil {
				sent++
			}
		}
	}()
	const stream = 50
	start := time.Now()
	for i := range stream {
		peer.send(quiet.LocalAddr(), 2, uint16(i), uint32(i*codec.FrameSamples), silenceFrame(codec.PCMU))
		time.Sleep(20 * time.Millisecond)
	}
	close(stop)
	sent := <-floodDone
	got, elapsed := flooded.Stats().PacketsReceived, time.Since(start)
	testkit.WaitFor(t, 2*time.Second, "the stream counted", func() bool { return quiet.Stats().PacketsReceived == stream })
	if st := quiet.Stats(); st.PacketsLost != 0 {
		t.Errorf("quiet session lost %d packets", st.PacketsLost)
	}
	t.Logf("flood: %d datagrams sent, %d read by the flooded session in %v", sent, got, elapsed)
	ticks := uint64(elapsed/codec.FrameDuration) + 2 // the session's ticks while the flood ran, and one each side
	if got > readBatchSize*ticks {
		t.Errorf("flooded session read %d datagrams in %d ticks; the bound is %d a tick", got, ticks, readBatchSize)
	}
}
