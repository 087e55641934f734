package media

import (
	"encoding/binary"
	"net"
	"net/netip"
	"testing"

	"github.com/pion/rtp"

	"github.com/pivotua/pivotua/codec"
)

// benchSession is a session whose sender state the caller drives directly:
// it is configured like Start would, but never put on the engine's clock.
func benchSession(tb testing.TB, remote netip.AddrPort) *Session {
	e := newTestEngine(tb, 4, nil)
	s := openSession(tb, e)
	cfg := &sendConfig{law: codec.PCMU, payloadType: 0}
	for i := range cfg.silence {
		cfg.silence[i] = codec.SilenceByte(codec.PCMU)
	}
	s.cfg.Store(cfg)
	s.remote.Store(&remote)
	s.startGen.Store(1)
	return s
}

// newSink is a loopback socket drained without decoding or allocating, so
// that send benchmarks measure the sender.
func newSink(tb testing.TB) netip.AddrPort {
	conn, err := net.ListenUDP("udp4", net.UDPAddrFromAddrPort(netip.AddrPortFrom(loopback, 0)))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { conn.Close() })
	go func() {
		buf := make([]byte, 1500)
		for {
			if _, _, err := conn.ReadFromUDPAddrPort(buf); err != nil {
				return
			}
		}
	}()
	return conn.LocalAddr().(*net.UDPAddr).AddrPort()
}

// BenchmarkSendPacket is the clock's per-session work for one frame: build
// the packet and write it to a loopback socket.
func BenchmarkSendPacket(b *testing.B) {
	s := benchSession(b, newSink(b))
	b.ReportAllocs()
	for b.Loop() {
		s.sendTick()
	}
	if s.sendErrors.Load() != 0 {
		b.Fatalf("%d send errors", s.sendErrors.Load())
	}
}

// BenchmarkBuildFrame is the send path without the syscall.
func BenchmarkBuildFrame(b *testing.B) {
	s := benchSession(b, netip.MustParseAddrPort("127.0.0.1:9"))
	b.ReportAllocs()
	for b.Loop() {
		if _, _, ok := s.buildFrame(); !ok {
			b.Fatal("no packet")
		}
	}
}

// BenchmarkReceivePacket is the read goroutine's work per datagram after the
// read: parse, latch check, loss accounting, stats.
func BenchmarkReceivePacket(b *testing.B) {
	s := benchSession(b, netip.MustParseAddrPort("127.0.0.1:9"))
	from := netip.MustParseAddrPort("127.0.0.1:4000")
	pkt := marshalRTP(b, rtp.Packet{Header: rtp.Header{Version: 2, SSRC: 77}, Payload: make([]byte, codec.FrameSamples)})
	var seq uint16
	b.ReportAllocs()
	for b.Loop() {
		seq++
		binary.BigEndian.PutUint16(pkt[2:], seq)
		if !s.receivePacket(pkt, from) {
			b.Fatal("packet refused")
		}
	}
}

func TestHotPathsDoNotAllocate(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts are not meaningful under -race")
	}
	s := benchSession(t, newSink(t))
	if n := testing.AllocsPerRun(200, s.sendTick); n != 0 {
		t.Errorf("send path: %v allocs per packet", n)
	}
	from := netip.MustParseAddrPort("127.0.0.1:4000")
	pkt := marshalRTP(t, rtp.Packet{Header: rtp.Header{Version: 2, SSRC: 77}, Payload: make([]byte, codec.FrameSamples)})
	var seq uint16
	s.receivePacket(pkt, from) // the first packet latches (one allocation, once)
	n := testing.AllocsPerRun(200, func() {
		seq++
		binary.BigEndian.PutUint16(pkt[2:], seq)
		s.receivePacket(pkt, from)
	})
	if n != 0 {
		t.Errorf("receive path: %v allocs per packet", n)
	}
}
