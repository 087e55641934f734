package media

import (
	"bytes"
	"encoding/binary"
	"net/netip"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/pion/rtp"

	"github.com/pivotua/pivotua/codec"
	"github.com/pivotua/pivotua/internal/testkit"
)

// streamTone sends d of a freq tone from p to to in law, as 20 ms packets
// (or 30 ms with frame 240) paced in real time.
func streamTone(p *testPeer, to netip.AddrPort, law codec.Law, freq float64, d time.Duration, frame int) {
	pcm := tonePrompt(freq, d).PCM()
	buf := make([]byte, frame)
	seq, ts := uint16(100), uint32(1000)
	next := time.Now()
	for i := 0; i+frame <= len(pcm); i += frame {
		codec.EncodeFrame(law, buf, pcm[i:i+frame])
		pkt := rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: uint8(law), SequenceNumber: seq, Timestamp: ts, SSRC: 4242}, Payload: buf}
		b, _ := pkt.Marshal()
		_, _ = p.conn.WriteToUDPAddrPort(b, to)
		seq++
		ts += uint32(frame)
		next = next.Add(time.Duration(frame) * time.Second / codec.SampleRate)
		time.Sleep(time.Until(next))
	}
}

// heard collects what a peer received for d: the decoded audio of packets
// with payload type pt, and every packet's header.
func heard(p *testPeer, law codec.Law, d time.Duration) (pcm []int16, hdrs []rtp.Header, payloads [][]byte) {
	deadline := time.After(d)
	frame := make([]int16, 480)
	for {
		select {
		case rp := <-p.packets:
			hdrs = append(hdrs, rp.header)
			payloads = append(payloads, rp.payload)
			if rp.header.PayloadType == uint8(law) {
				n := codec.DecodeFrame(law, frame, rp.payload)
				pcm = append(pcm, frame[:n]...)
			}
		case <-deadline:
			return pcm, hdrs, payloads
		}
	}
}

// bridgedPair starts two sessions toward two peers, a in lawA and b in lawB,
// with telephone-event on 101 (a) and 96 (b), and bridges them.
func bridgedPair(t *testing.T, lawA, lawB codec.Law) (a, b *Session, pa, pb *testPeer, br *Bridge) {
	t.Helper()
	e := newTestEngine(t, 8, nil)
	a, b = openSession(t, e), openSession(t, e)
	pa, pb = newTestPeer(t), newTestPeer(t)
	if err := a.Start(Params{Remote: pa.addr(), Law: lawA, PayloadType: uint8(lawA), EventPayloadType: 101}); err != nil {
		t.Fatal(err)
	}
	if err := b.Start(Params{Remote: pb.addr(), Law: lawB, PayloadType: uint8(lawB), EventPayloadType: 96}); err != nil {
		t.Fatal(err)
	}
	br, err := NewBridge(a, b)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(br.Stop)
	return a, b, pa, pb, br
}

func TestBridgeRelaysAudioBothWaysAndTranscodes(t *testing.T) {
	a, b, pa, pb, _ := bridgedPair(t, codec.PCMU, codec.PCMA)
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); streamTone(pa, a.LocalAddr(), codec.PCMU, 1000, 800*time.Millisecond, 160) }()
	go func() { defer wg.Done(); streamTone(pb, b.LocalAddr(), codec.PCMA, 600, 800*time.Millisecond, 240) }() // 30 ms packets
	var toB, toA []int16
	var hdrB, hdrA []rtp.Header
	var hwg sync.WaitGroup
	hwg.Add(2)
	go func() { defer hwg.Done(); toB, hdrB, _ = heard(pb, codec.PCMA, time.Second) }()
	go func() { defer hwg.Done(); toA, hdrA, _ = heard(pa, codec.PCMU, time.Second) }()
	wg.Wait()
	hwg.Wait()
	if n := testkit.CountToneFrames(toB, 1000); n < 30 {
		t.Errorf("b's peer heard %d frames of a's 1 kHz tone (as PCMA), want most of 40", n)
	}
	if n := testkit.CountToneFrames(toA, 600); n < 30 {
		t.Errorf("a's peer heard %d frames of b's 600 Hz tone (as PCMU, from 30 ms packets), want most of 40", n)
	}
	for _, hs := range []struct {
		h    []rtp.Header
		ssrc uint32
		pt   uint8
	}{{hdrB, b.ssrc, 8}, {hdrA, a.ssrc, 0}} {
		for i, h := range hs.h {
			if h.SSRC != hs.ssrc || h.PayloadType != hs.pt {
				t.Fatalf("packet %d: SSRC %x PT %d, want the leg's own SSRC %x and PT %d", i, h.SSRC, h.PayloadType, hs.ssrc, hs.pt)
			}
			if i > 0 && (h.SequenceNumber != hs.h[i-1].SequenceNumber+1 || h.Timestamp != hs.h[i-1].Timestamp+160) {
				t.Fatalf("packet %d: seq %d ts %d after %d %d: not one clean 20 ms stream", i, h.SequenceNumber, h.Timestamp, hs.h[i-1].SequenceNumber, hs.h[i-1].Timestamp)
			}
		}
	}
}

func TestBridgeResendsTelephoneEventsOnTheOtherLegsType(t *testing.T) {
	a, _, pa, pb, _ := bridgedPair(t, codec.PCMU, codec.PCMU)
	// Let b's peer see audio first, then a key '7' from a's peer: 4 updates and 3 end packets.
	time.Sleep(60 * time.Millisecond)
	ev := make([]byte, 4)
	for i := range 7 {
		end := i >= 4
		putTelephoneEvent(ev, telephoneEvent{event: 7, end: end, volume: 10, duration: uint16(min(i+1, 4) * 160)})
		pa.sendHeader(a.LocalAddr(), rtp.Header{Version: 2, PayloadType: 101, SequenceNumber: uint16(10 + i), Timestamp: 5000, SSRC: 99, Marker: i == 0}, ev)
		time.Sleep(20 * time.Millisecond)
	}
	_, hdrs, payloads := heard(pb, codec.PCMU, 300*time.Millisecond)
	var evTS []uint32
	var ends int
	for i, h := range hdrs {
		if h.PayloadType != 96 {
			continue
		}
		e, ok := parseTelephoneEvent(payloads[i])
		if !ok || e.event != 7 {
			t.Fatalf("relayed event %+v", e)
		}
		if e.end {
			ends++
		}
		evTS = append(evTS, h.Timestamp)
	}
	if len(evTS) != 7 || ends != 3 {
		t.Fatalf("b's peer got %d event packets (%d end), want 7 (3 end)", len(evTS), ends)
	}
	for _, ts := range evTS {
		if ts != evTS[0] {
			t.Fatalf("event timestamps %v: one event keeps its start timestamp (RFC 4733 §2.5.1.2)", evTS)
		}
	}
	_ = pa
}

func TestBridgeStopReturnsToSilence(t *testing.T) {
	a, b, pa, pb, br := bridgedPair(t, codec.PCMU, codec.PCMU)
	go streamTone(pa, a.LocalAddr(), codec.PCMU, 1000, 600*time.Millisecond, 160)
	time.Sleep(300 * time.Millisecond)
	br.Stop()
	pb.drain()
	pcm, _, _ := heard(pb, codec.PCMU, 200*time.Millisecond)
	if n := testkit.CountToneFrames(pcm, 1000); n > 1 {
		t.Errorf("after Stop b still relays a's tone: %d frames", n)
	}
	if len(pcm) == 0 {
		t.Error("after Stop b sends nothing; want silence")
	}
	if _, err := NewBridge(a, b); err != nil {
		t.Errorf("bridging again after Stop: %v", err)
	}
}

func TestBridgeRefusesASessionAlreadyBridged(t *testing.T) {
	a, b, _, _, _ := bridgedPair(t, codec.PCMU, codec.PCMU)
	c := openSession(t, a.e)
	if _, err := NewBridge(a, c); err != ErrBusy {
		t.Errorf("err = %v, want ErrBusy", err)
	}
	if _, err := NewBridge(b, b); err != ErrInvalidParams {
		t.Errorf("err = %v, want ErrInvalidParams", err)
	}
}

func TestBridgeRecordingDualKeepsEachPartyOnItsChannel(t *testing.T) {
	for _, dual := range []bool{true, false} {
		a, b, pa, pb, br := bridgedPair(t, codec.PCMU, codec.PCMA)
		var out testkit.SyncBuffer
		rec, err := br.Record(&out, dual)
		if err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		wg.Add(2)
		go func() { defer wg.Done(); streamTone(pa, a.LocalAddr(), codec.PCMU, 1000, 600*time.Millisecond, 160) }()
		go func() { defer wg.Done(); streamTone(pb, b.LocalAddr(), codec.PCMA, 600, 600*time.Millisecond, 160) }()
		wg.Wait()
		samples, err := rec.Stop()
		if err != nil {
			t.Fatal(err)
		}
		if samples < 25*codec.FrameSamples || samples > 50*codec.FrameSamples {
			t.Errorf("dual=%v: %d samples per channel for a 0.6 s bridge", dual, samples)
		}
		raw := out.Bytes()
		var left, right, mono []int16
		if dual {
			for i := 0; i+4 <= len(raw); i += 4 {
				left = append(left, int16(binary.LittleEndian.Uint16(raw[i:])))
				right = append(right, int16(binary.LittleEndian.Uint16(raw[i+2:])))
			}
			if testkit.CountToneFrames(left, 1000) < 20 || testkit.CountToneFrames(right, 600) < 20 || testkit.CountToneFrames(left, 600) > 0 || testkit.CountToneFrames(right, 1000) > 0 {
				t.Errorf("dual: left has %d frames of a's 1 kHz, right %d of b's 600 Hz", testkit.CountToneFrames(left, 1000), testkit.CountToneFrames(right, 600))
			}
		} else {
			for i := 0; i+2 <= len(raw); i += 2 {
				mono = append(mono, int16(binary.LittleEndian.Uint16(raw[i:])))
			}
			if e1, e6 := testkit.MeanToneShare(mono, 1000), testkit.MeanToneShare(mono, 600); e1 < 0.2 || e6 < 0.2 {
				t.Errorf("mixed: energy share at 1 kHz %.2f and 600 Hz %.2f; want both parties", e1, e6)
			}
		}
		br.Stop()
	}
}

func TestTranscodeTablesRoundTrip(t *testing.T) {
	var pcm [1]int16
	for i := range 256 {
		codec.DecodeFrame(codec.PCMU, pcm[:], []byte{byte(i)})
		want := pcm[0]
		codec.DecodeFrame(codec.PCMA, pcm[:], []byte{ulawToAlaw[i]})
		if d := int(pcm[0]) - int(want); d > 1100 || d < -1100 { // one A-law step at the top of the range
			t.Fatalf("µ-law %#x = %d becomes A-law %d", i, want, pcm[0])
		}
	}
}

// BenchmarkBridgePush is the reading clock's bridge work per packet:
// PCMU in, converted to the other leg's PCMA and queued.
func BenchmarkBridgePush(b *testing.B) {
	e := newTestEngine(b, 8, nil)
	sa, sb := openSession(b, e), openSession(b, e)
	_ = sa.Start(Params{Remote: netip.MustParseAddrPort("127.0.0.1:9"), Law: codec.PCMU})
	_ = sb.Start(Params{Remote: netip.MustParseAddrPort("127.0.0.1:9"), Law: codec.PCMA})
	br, err := NewBridge(sa, sb)
	if err != nil {
		b.Fatal(err)
	}
	defer br.Stop()
	h := &rtp.Header{Version: 2, PayloadType: 0}
	payload := make([]byte, codec.FrameSamples)
	tx := &txState{}
	cfg := sb.cfg.Load()
	b.ReportAllocs()
	for b.Loop() {
		br.ab.push(h, payload)
		br.ab.next(tx, cfg) // keep the FIFO from overflowing, as b's clock would
	}
}

// BenchmarkBridgeBuildFrame is a bridged leg's clock work per frame (without
// the syscall), with the bridge recording on.
func BenchmarkBridgeBuildFrame(b *testing.B) {
	sa := benchSession(b, netip.MustParseAddrPort("127.0.0.1:9"))
	sb := openSession(b, sa.e)
	offClock(sb)
	sb.cfg.Store(sa.cfg.Load())
	br, err := NewBridge(sa, sb)
	if err != nil {
		b.Fatal(err)
	}
	defer br.Stop()
	rec, err := br.Record(discard{}, true)
	if err != nil {
		b.Fatal(err)
	}
	defer rec.Stop()
	h := &rtp.Header{Version: 2, PayloadType: 0}
	payload := make([]byte, codec.FrameSamples)
	b.ReportAllocs()
	n := 0
	for b.Loop() {
		br.ba.push(h, payload)
		if _, _, ok := sa.buildFrame(); !ok {
			b.Fatal("no packet")
		}
		if n++; n%8 == 0 {
			runtime.Gosched() // let the recording's writer run, as the clock's sleeps would
		}
	}
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }

// TestBridgeRelaysInTheTickItReads: a session opened WithTickOf another
// shares its clock and phase slot, and a tick reads before it sends, so the
// audio one bridged leg reads leaves on the other in the same tick, not a
// frame (20 ms) later. The test serves one tick of a clock by hand.
func TestBridgeRelaysInTheTickItReads(t *testing.T) {
	e := newTestEngine(t, 4, nil)
	a := openSession(t, e)
	b, err := e.Open(WithTickOf(a))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	if b.clock != a.clock || b.slot != a.slot {
		t.Fatalf("b on clock %p slot %d, a on %p slot %d", b.clock, b.slot, a.clock, a.slot)
	}

	c := idleClock(t) // not running: the test serves its ticks
	offClock(a)
	offClock(b)
	a.clock, b.clock = c, c
	c.add(a, nil)
	c.add(b, a)
	peerA, peerB := newTestPeer(t), newTestPeer(t)
	startToward(t, a, peerA)
	startToward(t, b, peerB)
	br, err := NewBridge(a, b)
	if err != nil {
		t.Fatal(err)
	}
	defer br.Stop()

	voice := bytes.Repeat([]byte{0x55}, codec.FrameSamples)
	for i := range primeFeedFrames { // enough for the feed to start
		peerA.send(a.LocalAddr(), 9, uint16(i), uint32(i*codec.FrameSamples), voice)
	}
	time.Sleep(20 * time.Millisecond) // on loopback they are queued by now; this is margin
	c.serve(a.slot)
	if got := peerB.next(2 * time.Second); !bytes.Equal(got.payload, voice) {
		t.Fatalf("b's packet of the tick that read a's audio carries %x..., want a's audio", got.payload[:4])
	}
}
