package media

import (
	"encoding/binary"
	"io"
	"net"
	"net/netip"
	"runtime"
	"testing"
	"time"

	"github.com/pion/rtp"

	"github.com/pivotua/pivotua/codec"
	"github.com/pivotua/pivotua/internal/testkit/sipptest"
)

// benchSession is a session whose sender state the caller drives directly:
// it is configured like Start would, but never put on the engine's clock.
func benchSession(tb testing.TB, remote netip.AddrPort) *Session {
	return benchSessionEvents(tb, remote, 0)
}

// benchSessionEvents is benchSession with a telephone-event payload type.
func benchSessionEvents(tb testing.TB, remote netip.AddrPort, eventPT uint8) *Session {
	return benchSessionOn(tb, newTestEngine(tb, 4, nil), remote, eventPT)
}

// benchSessionOn is benchSessionEvents on engine e.
func benchSessionOn(tb testing.TB, e *Engine, remote netip.AddrPort, eventPT uint8) *Session {
	s := openSession(tb, e)
	offClock(s)
	cfg := &sendConfig{law: codec.PCMU, payloadType: 0, eventPayloadType: eventPT, silence: lawSilence(codec.PCMU)}
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

// BenchmarkReceivePacket is the clock's work per datagram after the
// read: parse, latch check, loss accounting, stats.
func BenchmarkReceivePacket(b *testing.B) {
	s := benchSession(b, netip.MustParseAddrPort("127.0.0.1:9"))
	from := netip.MustParseAddrPort("127.0.0.1:4000")
	pkt := marshalRTP(b, rtp.Packet{Header: rtp.Header{Version: 2, SSRC: 77}, Payload: make([]byte, codec.FrameSamples)})
	var seq uint16
	hearFrom(s, from)
	b.ReportAllocs()
	for b.Loop() {
		seq++
		binary.BigEndian.PutUint16(pkt[2:], seq)
		if !s.receivePacket(pkt, from) {
			b.Fatal("packet refused")
		}
	}
}

// BenchmarkReceivePacketSprayed is the receive path before the latch while
// strangers spray from eight addresses, twice the probation slots: each
// packet looks up and replaces a candidate.
func BenchmarkReceivePacketSprayed(b *testing.B) {
	s := benchSession(b, netip.MustParseAddrPort("10.0.0.5:9"))
	pkt := marshalRTP(b, rtp.Packet{Header: rtp.Header{Version: 2, SSRC: 77}, Payload: make([]byte, codec.FrameSamples)})
	var from [8]netip.AddrPort
	for i := range from {
		from[i] = netip.AddrPortFrom(netip.MustParseAddr("203.0.113.9"), uint16(6000+i))
	}
	var n uint32
	b.ReportAllocs()
	for b.Loop() {
		n++
		binary.BigEndian.PutUint32(pkt[8:], n*2654435761) // a new SSRC each packet: no run ever grows
		if s.receivePacket(pkt, from[n%8]) {
			b.Fatal("a stranger was heard")
		}
	}
}

// receiveBench feeds frames to s's receive path as one stream, advancing
// sequence number and timestamp per packet.
type receiveBench struct {
	s      *Session
	from   netip.AddrPort
	pkts   [][]byte
	i      int
	seq    uint16
	ts     uint32
	events bool // the packets are one telephone-event each: new timestamp every 10
}

func newReceiveBench(tb testing.TB, s *Session, pt uint8, payloads [][]byte) *receiveBench {
	rb := &receiveBench{s: s, from: netip.MustParseAddrPort("127.0.0.1:4000")}
	hearFrom(s, rb.from)
	for _, p := range payloads {
		rb.pkts = append(rb.pkts, marshalRTP(tb, rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: pt, SSRC: 77}, Payload: p}))
	}
	rb.next()
	return rb
}

func (rb *receiveBench) next() bool {
	pkt := rb.pkts[rb.i]
	rb.i = (rb.i + 1) % len(rb.pkts)
	rb.seq++
	if !rb.events || rb.seq%10 == 0 {
		rb.ts += codec.FrameSamples
	}
	binary.BigEndian.PutUint16(pkt[2:], rb.seq)
	binary.BigEndian.PutUint32(pkt[4:], rb.ts)
	return rb.s.receivePacket(pkt, rb.from)
}

// run drives the receive path. The real clock sleeps between its ticks,
// which lets a recording's writer goroutine run; a tight loop would starve it
// (it waits in this P's run queue), so the loop yields every few packets as
// the clock would.
func (rb *receiveBench) run(b *testing.B) {
	b.ReportAllocs()
	n := 0
	for b.Loop() {
		if !rb.next() {
			b.Fatal("packet refused")
		}
		if n++; n%8 == 0 {
			runtime.Gosched()
		}
	}
}

// dtmfBenchFrames is speech-like input for the in-band detector: a key
// press, noise and silence, so every branch of the classifier runs.
func dtmfBenchFrames() [][]byte {
	pcm := sipptest.DTMFTone('5', 200*time.Millisecond, 0.2, 0, 0)
	pcm = append(pcm, noise(1600, 0.1, 9)...)
	pcm = append(pcm, vowel(130, 200*time.Millisecond, 1)...)
	pcm = append(pcm, make([]int16, 1600)...)
	return encodeFrames(codec.PCMU, pcm)
}

// hearFrom makes from the session's learned source, as if it had passed its
// probation (session_receive.go), without moving where the session sends.
// The session must be off its clock (benchSession).
func hearFrom(s *Session, from netip.AddrPort) {
	s.rx.gen, s.rx.addr = s.startGen.Load(), from
}

// ranFor makes rec look as if it started d ago, so that packets fed faster
// than real time are recorded, not dropped as running ahead of the wall
// clock. Call it before the first packet: the stall padding would fill d.
func ranFor(rec *Recording, d time.Duration) {
	rec.mu.Lock()
	rec.start -= int64(d)
	rec.mu.Unlock()
}

// BenchmarkReceivePacketRecording is the receive path with a recording
// active: decode, place by timestamp, copy into the writer's buffer.
func BenchmarkReceivePacketRecording(b *testing.B) {
	s := benchSession(b, netip.MustParseAddrPort("127.0.0.1:9"))
	rec, err := s.StartRecording(io.Discard)
	if err != nil {
		b.Fatal(err)
	}
	defer rec.Stop()
	ranFor(rec, time.Hour)
	newReceiveBench(b, s, 0, [][]byte{make([]byte, codec.FrameSamples)}).run(b)
}

// BenchmarkReceivePacketInband is the receive path with in-band DTMF
// detection (no telephone-event negotiated, OnDigit set).
func BenchmarkReceivePacketInband(b *testing.B) {
	s := benchSession(b, netip.MustParseAddrPort("127.0.0.1:9"))
	s.OnDigit(func(Digit) {})
	newReceiveBench(b, s, 0, dtmfBenchFrames()).run(b)
}

// BenchmarkReceivePacketInbandRecording is both at once.
func BenchmarkReceivePacketInbandRecording(b *testing.B) {
	s := benchSession(b, netip.MustParseAddrPort("127.0.0.1:9"))
	s.OnDigit(func(Digit) {})
	rec, err := s.StartRecording(io.Discard)
	if err != nil {
		b.Fatal(err)
	}
	defer rec.Stop()
	ranFor(rec, time.Hour)
	newReceiveBench(b, s, 0, dtmfBenchFrames()).run(b)
}

// BenchmarkReceivePacketTelephoneEvent is the receive path for RFC 4733
// packets.
func BenchmarkReceivePacketTelephoneEvent(b *testing.B) {
	s := benchSessionEvents(b, netip.MustParseAddrPort("127.0.0.1:9"), 101)
	s.OnDigit(func(Digit) {})
	rb := newReceiveBench(b, s, 101, [][]byte{eventPayload('5', false, 160)})
	rb.events = true
	rb.run(b)
}

// BenchmarkBuildFrameDuringDigits is the send path while SendDigits runs.
func BenchmarkBuildFrameDuringDigits(b *testing.B) {
	s := benchSessionEvents(b, netip.MustParseAddrPort("127.0.0.1:9"), 101)
	steps, _ := parseDigits("0123456789")
	b.ReportAllocs()
	for b.Loop() {
		if s.tx.dtmfFinishing != nil || s.dtmf.Load() == nil {
			s.completeDTMF()
			s.dtmf.Store(&dtmfSend{steps: steps, toneFrames: 5, done: make(chan struct{})})
		}
		if _, _, ok := s.buildFrame(); !ok {
			b.Fatal("no packet")
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
	hearFrom(s, from)
	s.receivePacket(pkt, from)
	n := testing.AllocsPerRun(200, func() {
		seq++
		binary.BigEndian.PutUint16(pkt[2:], seq)
		s.receivePacket(pkt, from)
	})
	if n != 0 {
		t.Errorf("receive path: %v allocs per packet", n)
	}
	// A source on probation (strict learning) costs nothing either.
	s4 := benchSession(t, newSink(t))
	newcomer := netip.MustParseAddrPort("127.0.0.1:4002")
	if n := testing.AllocsPerRun(200, func() {
		seq++
		binary.BigEndian.PutUint16(pkt[2:], seq)
		s4.receivePacket(pkt, newcomer)
	}); n != 0 {
		t.Errorf("receive path on probation: %v allocs per packet", n)
	}

	// With in-band detection and a recording (whose writer keeps up: the
	// packets come at the pace of a call, ten per test run here).
	s2 := benchSession(t, newSink(t))
	s2.OnDigit(func(Digit) {})
	rec, err := s2.StartRecording(io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	defer rec.Stop()
	ranFor(rec, time.Hour)
	rb := newReceiveBench(t, s2, 0, dtmfBenchFrames())
	if n := testing.AllocsPerRun(50, func() {
		for range 10 {
			rb.next()
		}
		time.Sleep(time.Millisecond)
	}); n != 0 {
		t.Errorf("receive path with in-band detection and recording: %v allocs per 10 packets", n)
	}

	// Telephone-events in, and out.
	s3 := benchSessionEvents(t, newSink(t), 101)
	s3.OnDigit(func(Digit) {})
	rb3 := newReceiveBench(t, s3, 101, [][]byte{eventPayload('5', false, 160)})
	rb3.events = true
	if n := testing.AllocsPerRun(200, func() { rb3.next() }); n != 0 {
		t.Errorf("receive path for telephone-events: %v allocs per packet", n)
	}
	steps, _ := parseDigits("0123456789")
	s3.dtmf.Store(&dtmfSend{steps: steps, toneFrames: 5, done: make(chan struct{})})
	if n := testing.AllocsPerRun(100, s3.sendTick); n != 0 {
		t.Errorf("send path during SendDigits: %v allocs per packet", n)
	}

	// A slot's reads and sends through the clock's ring.
	if r, err := newURing(); err == nil {
		r.close()
		c, slot := slotOfSessions(t, 300, false) // more than one submit carries
		c.serve(slot)
		if n := testing.AllocsPerRun(50, func() { c.serve(slot) }); n != 0 {
			t.Errorf("a slot's tick through the ring: %v allocs", n)
		}
	}
}
