package media

import (
	"bytes"
	"encoding/binary"
	"errors"
	"net/netip"
	"testing"
	"time"

	"github.com/pion/rtp"

	"github.com/pivotua/pivotua/codec"
)

// Two test master keys (key and salt, 30 bytes each): one per direction.
var (
	srtpKeyA = bytes.Repeat([]byte{0xa5}, srtpMasterLen)
	srtpKeyB = bytes.Repeat([]byte{0x3c}, srtpMasterLen)
)

// srtpBenchSession is benchSession protecting its stream with suite: it sends with local and
// hears with remote.
func srtpBenchSession(tb testing.TB, remoteAddr netip.AddrPort, suite string, local, remote []byte) *Session {
	tb.Helper()
	s := benchSession(tb, remoteAddr)
	st, err := newSRTPState(SRTP{Suite: suite, Local: local, Remote: remote})
	if err != nil {
		tb.Fatal(err)
	}
	s.cfg.Load().srtp = st
	return s
}

// sealedFrame builds s's next frame and protects it as the clock does; it returns the plain
// packet and the SRTP one, each a copy.
func sealedFrame(t testing.TB, s *Session) (plain, sealed []byte) {
	t.Helper()
	pkt, _, ok := s.buildFrame()
	if !ok {
		t.Fatal("no packet")
	}
	plain = bytes.Clone(pkt)
	out, err := s.protect(pkt)
	if err != nil {
		t.Fatal(err)
	}
	return plain, bytes.Clone(out)
}

func TestSRTPProtectsAndAuthenticatesTheStream(t *testing.T) {
	for _, tc := range []struct {
		suite  string
		tagLen int
	}{{SRTPSuiteAES128SHA1_80, 10}, {SRTPSuiteAES128SHA1_32, 4}} {
		t.Run(tc.suite, func(t *testing.T) {
			from := netip.MustParseAddrPort("127.0.0.1:4000")
			a := srtpBenchSession(t, netip.MustParseAddrPort("127.0.0.1:9"), tc.suite, srtpKeyA, srtpKeyB)
			b := srtpBenchSession(t, from, tc.suite, srtpKeyB, srtpKeyA)
			hearFrom(b, from)
			var heard [][]byte
			b.SetReceiver(func(_ *rtp.Header, payload []byte) { heard = append(heard, bytes.Clone(payload)) })

			plain, sealed := sealedFrame(t, a)
			if len(sealed) != len(plain)+tc.tagLen {
				t.Fatalf("SRTP packet of %d bytes for %d plain: want a %d-byte tag", len(sealed), len(plain), tc.tagLen)
			}
			if !bytes.Equal(sealed[:rtpHeaderSize], plain[:rtpHeaderSize]) {
				t.Error("the RTP header must stay in the clear (RFC 3711 §3.1)")
			}
			if bytes.Contains(sealed, plain[rtpHeaderSize:rtpHeaderSize+20]) {
				t.Error("the audio payload appears in the clear on the wire")
			}
			if !b.receivePacket(bytes.Clone(sealed), from) {
				t.Fatal("an authentic SRTP packet was refused")
			}
			if len(heard) != 1 || !bytes.Equal(heard[0], plain[rtpHeaderSize:]) {
				t.Fatalf("heard %d payloads; the first is not the audio sent", len(heard))
			}

			// What an attacker can do with the wire: none of it is heard.
			if b.receivePacket(bytes.Clone(sealed), from) {
				t.Error("a replayed SRTP packet was heard")
			}
			_, sealed2 := sealedFrame(t, a)
			tampered := bytes.Clone(sealed2)
			tampered[rtpHeaderSize+3] ^= 0x40
			if b.receivePacket(tampered, from) {
				t.Error("a tampered SRTP packet was heard")
			}
			plain3, _ := sealedFrame(t, a)
			if b.receivePacket(plain3, from) {
				t.Error("plain RTP was heard on an SRTP session")
			}
			wrongKey := srtpBenchSession(t, netip.MustParseAddrPort("127.0.0.1:9"), tc.suite, srtpKeyB, srtpKeyB)
			_, forged := sealedFrame(t, wrongKey)
			if b.receivePacket(forged, from) {
				t.Error("SRTP under another key was heard")
			}
			if !b.receivePacket(sealed2, from) {
				t.Error("the untampered packet is still authentic and was refused")
			}
			if got := b.packetsReceived.Load(); got != 2 {
				t.Errorf("packets received %d, want 2: refused packets must not count", got)
			}
		})
	}
}

func TestSRTPStartChecksKeysAndKeepsCountersOnTheSameKeys(t *testing.T) {
	e := newTestEngine(t, 2, nil)
	s := openSession(t, e)
	remote := netip.MustParseAddrPort("127.0.0.1:9")
	for _, bad := range []SRTP{
		{Suite: "AES_256_CM_HMAC_SHA1_80", Local: srtpKeyA, Remote: srtpKeyB},
		{Suite: SRTPSuiteAES128SHA1_80, Local: srtpKeyA[:16], Remote: srtpKeyB},
		{Suite: SRTPSuiteAES128SHA1_80, Local: srtpKeyA, Remote: nil},
	} {
		if err := s.Start(Params{Remote: remote, Law: codec.PCMU, SRTP: bad}); !errors.Is(err, ErrInvalidParams) {
			t.Errorf("Start with suite %q and keys of %d/%d bytes: got %v, want ErrInvalidParams", bad.Suite, len(bad.Local), len(bad.Remote), err)
		}
	}
	p := Params{Remote: remote, Law: codec.PCMU, SRTP: SRTP{Suite: SRTPSuiteAES128SHA1_80, Local: srtpKeyA, Remote: srtpKeyB}}
	if err := s.Start(p); err != nil {
		t.Fatal(err)
	}
	first := s.cfg.Load().srtp
	p.Law = codec.PCMA // a re-INVITE that changes the codec, not the keys
	if err := s.Start(p); err != nil {
		t.Fatal(err)
	}
	if s.cfg.Load().srtp != first {
		t.Error("a Start with the same keys restarted the SRTP contexts (rollover counter, replay window)")
	}
	p.SRTP.Remote = srtpKeyA
	if err := s.Start(p); err != nil {
		t.Fatal(err)
	}
	if st := s.cfg.Load().srtp; st == first || st == nil {
		t.Error("a Start with new keys kept the old contexts")
	}
	p.SRTP = SRTP{}
	if err := s.Start(p); err != nil {
		t.Fatal(err)
	}
	if s.cfg.Load().srtp != nil {
		t.Error("a Start without SRTP still protects the stream")
	}
}

func TestSRTPHotPathsDoNotAllocate(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts are not meaningful under -race")
	}
	s := srtpBenchSession(t, newSink(t), SRTPSuiteAES128SHA1_80, srtpKeyA, srtpKeyB)
	s.sendTick() // the first packet creates the SSRC's state, once per stream
	if n := testing.AllocsPerRun(200, s.sendTick); n != 0 {
		t.Errorf("SRTP send path: %v allocs per packet", n)
	}
	if s.sendErrors.Load() != 0 {
		t.Fatalf("%d send errors", s.sendErrors.Load())
	}
	rb := newSRTPReceiveBench(t, 256)
	rb.next(t) // the first packet creates the SSRC's state, once per stream
	if n := testing.AllocsPerRun(200, func() { rb.next(t) }); n != 0 {
		t.Errorf("SRTP receive path: %v allocs per packet", n)
	}
}

// srtpReceiveBench feeds a receiving SRTP session a stream sealed ahead of time in batches, so
// the receive path is measured without the sender's work.
type srtpReceiveBench struct {
	rx, tx *Session
	from   netip.AddrPort
	batch  [][]byte
	i      int
}

func newSRTPReceiveBench(tb testing.TB, batch int) *srtpReceiveBench {
	from := netip.MustParseAddrPort("127.0.0.1:4000")
	rb := &srtpReceiveBench{
		tx:   srtpBenchSession(tb, netip.MustParseAddrPort("127.0.0.1:9"), SRTPSuiteAES128SHA1_80, srtpKeyA, srtpKeyB),
		rx:   srtpBenchSession(tb, from, SRTPSuiteAES128SHA1_80, srtpKeyB, srtpKeyA),
		from: from,
	}
	hearFrom(rb.rx, from)
	rb.batch = make([][]byte, batch)
	for i := range rb.batch {
		rb.batch[i] = make([]byte, 0, readBufferSize)
	}
	rb.i = batch
	return rb
}

// seal fills the batch with the sender's next packets.
func (rb *srtpReceiveBench) seal(tb testing.TB) {
	for i := range rb.batch {
		_, sealed := sealedFrame(tb, rb.tx)
		rb.batch[i] = append(rb.batch[i][:0], sealed...)
	}
	rb.i = 0
}

func (rb *srtpReceiveBench) next(tb testing.TB) {
	if rb.i == len(rb.batch) {
		rb.seal(tb)
	}
	pkt := rb.batch[rb.i]
	rb.i++
	if !rb.rx.receivePacket(pkt, rb.from) {
		tb.Fatal("SRTP packet refused")
	}
}

// BenchmarkSendPacketSRTP is BenchmarkSendPacket with AES_CM_128_HMAC_SHA1_80: build, encrypt,
// authenticate and write one frame.
func BenchmarkSendPacketSRTP(b *testing.B) {
	s := srtpBenchSession(b, newSink(b), SRTPSuiteAES128SHA1_80, srtpKeyA, srtpKeyB)
	b.ReportAllocs()
	for b.Loop() {
		s.sendTick()
	}
	if s.sendErrors.Load() != 0 {
		b.Fatalf("%d send errors", s.sendErrors.Load())
	}
}

// BenchmarkReceivePacketSRTP is BenchmarkReceivePacket with AES_CM_128_HMAC_SHA1_80: replay check,
// authenticate and decrypt in place, then the plain receive path.
func BenchmarkReceivePacketSRTP(b *testing.B) {
	rb := newSRTPReceiveBench(b, 1024)
	b.ReportAllocs()
	for b.Loop() {
		if rb.i == len(rb.batch) {
			b.StopTimer()
			rb.seal(b)
			b.StartTimer()
		}
		rb.next(b)
	}
}

// BenchmarkSRTPOverhead holds the target: a packet's per-packet work (sent once: build, protect,
// write; received once: authenticate, decrypt, parse, latch, account) costs at most 25 % more CPU
// with SRTP than with plain RTP. Each op is one packet each way, plain then SRTP, timed apart.
func BenchmarkSRTPOverhead(b *testing.B) {
	plainTx := benchSession(b, newSink(b))
	srtpTx := srtpBenchSession(b, newSink(b), SRTPSuiteAES128SHA1_80, srtpKeyA, srtpKeyB)
	plainRx := benchSession(b, netip.MustParseAddrPort("127.0.0.1:9"))
	from := netip.MustParseAddrPort("127.0.0.1:4000")
	hearFrom(plainRx, from)
	pkt := marshalRTP(b, rtp.Packet{Header: rtp.Header{Version: 2, SSRC: 77}, Payload: make([]byte, codec.FrameSamples)})
	rb := newSRTPReceiveBench(b, 1024)
	var plain, sealed time.Duration
	var seq uint16
	for b.Loop() {
		if rb.i == len(rb.batch) {
			rb.seal(b)
		}
		t0 := time.Now()
		plainTx.sendTick()
		seq++
		binary.BigEndian.PutUint16(pkt[2:], seq)
		plainRx.receivePacket(pkt, from)
		t1 := time.Now()
		srtpTx.sendTick()
		rb.next(b)
		plain += t1.Sub(t0)
		sealed += time.Since(t1)
	}
	ratio := float64(sealed) / float64(plain)
	b.ReportMetric(float64(plain.Nanoseconds())/float64(b.N), "plain-ns/packet")
	b.ReportMetric(float64(sealed.Nanoseconds())/float64(b.N), "srtp-ns/packet")
	b.ReportMetric(ratio, "srtp/plain")
	if b.N >= 1000 && ratio > 1.25 {
		b.Errorf("SRTP costs %.0f %% more per packet than plain RTP; the target is 25 %%", (ratio-1)*100)
	}
}

// benchmarkReceivePlainStream is the plain receive path fed the same way as the SRTP one.
func benchmarkReceivePlainStream(b *testing.B) {
	s := benchSession(b, netip.MustParseAddrPort("127.0.0.1:9"))
	from := netip.MustParseAddrPort("127.0.0.1:4000")
	hearFrom(s, from)
	pkt := marshalRTP(b, rtp.Packet{Header: rtp.Header{Version: 2, SSRC: 77}, Payload: make([]byte, codec.FrameSamples)})
	var seq uint16
	for b.Loop() {
		seq++
		binary.BigEndian.PutUint16(pkt[2:], seq)
		if !s.receivePacket(pkt, from) {
			b.Fatal("packet refused")
		}
	}
}
