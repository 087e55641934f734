package media

import (
	"net/netip"
	"testing"

	"github.com/pivotua/pivotua/codec"
)

// BenchmarkStreamTick is the clock's cost of one streamed call per 20 ms frame: a frame taken from
// a stream feed and sent, copied to a tap of both tracks with a received packet, beside
// BenchmarkPlainTick (the same session without a stream).
func BenchmarkStreamTick(b *testing.B) {
	f, _ := NewStreamFeed(1000*codec.FrameSamples, 8)
	s, peer := streamBenchSession(b)
	_ = s.PlayStream(f)
	tap, _ := s.StartTap(TapInbound | TapOutbound)
	audio := make([]byte, 1000*codec.FrameSamples)
	pkt := rtpPacket(1, 0, make([]byte, codec.FrameSamples))
	var tf TapFrame
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		if i%900 == 0 {
			f.Clear()
			_ = f.Write(audio[:900*codec.FrameSamples])
		}
		pkt[2], pkt[3] = byte(i>>8), byte(i) // next sequence number
		s.receivePacket(pkt, peer)
		s.sendTick()
		for tap.Next(&tf) {
		}
	}
}

func BenchmarkPlainTick(b *testing.B) {
	s, peer := streamBenchSession(b)
	pkt := rtpPacket(1, 0, make([]byte, codec.FrameSamples))
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		pkt[2], pkt[3] = byte(i>>8), byte(i)
		s.receivePacket(pkt, peer)
		s.sendTick()
	}
}

func streamBenchSession(b *testing.B) (*Session, netip.AddrPort) {
	s := openSession(b, newTestEngine(b, 2, nil))
	peer := newTestPeer(b)
	if err := s.Start(Params{Remote: peer.addr(), Law: codec.PCMU}); err != nil {
		b.Fatal(err)
	}
	offClock(s)
	return s, peer.addr()
}
