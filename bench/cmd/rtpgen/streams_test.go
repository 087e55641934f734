package main

import (
	"encoding/binary"
	"testing"
)

func rtpPacket(pt uint8, seq uint16, ssrc uint32) []byte {
	b := make([]byte, rtpHeaderLen+160)
	b[0] = 0x80
	b[1] = pt
	binary.BigEndian.PutUint16(b[2:], seq)
	binary.BigEndian.PutUint32(b[8:], ssrc)
	return b
}

var (
	srcA = makeKey([4]byte{127, 0, 0, 1}, 20000)
	srcB = makeKey([4]byte{127, 0, 0, 1}, 20002)
)

func TestLossCountsSequenceGapsPerStream(t *testing.T) {
	tb := newTable(0)
	tb.mu.Lock()
	for _, seq := range []uint16{65530, 65531, 65533, 65534, 2, 3} { // 65532, 65535, 0, 1 missing across the wrap
		tb.receive(srcA, rtpPacket(0, seq, 1), 0, 0)
	}
	for _, seq := range []uint16{100, 101, 102} {
		tb.receive(srcB, rtpPacket(0, seq, 2), 0, 0)
	}
	tb.mu.Unlock()
	w := tb.mark(0)
	if w.Expected != 10+3 || w.Lost != 4 {
		t.Fatalf("expected 13 lost 4, got expected %d lost %d", w.Expected, w.Lost)
	}
	if w.Streams != 2 || w.NewStreams != 2 {
		t.Fatalf("streams live %d new %d, want 2 and 2", w.Streams, w.NewStreams)
	}
}

func TestLossOfNextWindowStartsAfterTheMark(t *testing.T) {
	tb := newTable(0)
	tb.mu.Lock()
	tb.receive(srcA, rtpPacket(0, 10, 1), 0, 0)
	tb.receive(srcA, rtpPacket(0, 11, 1), 0, 0)
	tb.mu.Unlock()
	if w := tb.mark(0); w.Expected != 2 || w.Lost != 0 {
		t.Fatalf("first window: expected %d lost %d, want 2 and 0", w.Expected, w.Lost)
	}
	tb.mu.Lock()
	tb.receive(srcA, rtpPacket(0, 14, 1), 0, 0) // 12 and 13 lost, in the second window
	tb.mu.Unlock()
	if w := tb.mark(0); w.Expected != 3 || w.Lost != 2 {
		t.Fatalf("second window: expected %d lost %d, want 3 and 2", w.Expected, w.Lost)
	}
}

func TestNewSSRCOnALatchedSourceIsANewStreamNotLoss(t *testing.T) {
	tb := newTable(0)
	tb.mu.Lock()
	tb.receive(srcA, rtpPacket(0, 500, 1), 0, 0)
	tb.receive(srcA, rtpPacket(0, 501, 1), 0, 0)
	tb.receive(srcA, rtpPacket(0, 600, 2), 0, 0) // the port's next call, its own sequence
	tb.receive(srcA, rtpPacket(0, 601, 2), 0, 0)
	tb.mu.Unlock()
	if w := tb.mark(0); w.Expected != 4 || w.Lost != 0 {
		t.Fatalf("expected %d lost %d, want 4 and 0", w.Expected, w.Lost)
	}
}

func TestPacingIsTheDeviationOfKernelReceiveTimesFrom20ms(t *testing.T) {
	tb := newTable(0)
	tb.mu.Lock()
	// Deltas of 20, 20, 23 and 19 ms on one stream; a telephone-event in between is not audio.
	var at int64 = 1e12
	for i, d := range []int64{0, 20e6, 20e6, 23e6, 19e6} {
		at += d
		tb.receive(srcA, rtpPacket(0, uint16(i), 7), at, 0)
	}
	tb.receive(srcA, rtpPacket(101, 5, 7), at+5e6, 0)
	tb.mu.Unlock()
	w := tb.mark(0)
	if w.Deltas != 4 || w.RxAudio != 5 || w.RxPackets != 6 {
		t.Fatalf("deltas %d audio %d packets %d, want 4, 5, 6", w.Deltas, w.RxAudio, w.RxPackets)
	}
	if w.DevP50Ms != 0.001 && w.DevP50Ms != 0.0005 || w.DevP99Ms < 2.99 || w.DevP99Ms > 3.01 || w.MaxDeltaMs != 23 {
		t.Fatalf("p50 %.4f p99 %.4f max %.2f, want about 0, 3 and 23", w.DevP50Ms, w.DevP99Ms, w.MaxDeltaMs)
	}
}

func TestPacingBeyond100msIsMeasuredNotClamped(t *testing.T) {
	tb := newTable(0)
	tb.mu.Lock()
	var at int64 = 1e12
	for i, d := range []int64{0, 20e6, 370e6} { // a 350 ms stall
		at += d
		tb.receive(srcA, rtpPacket(0, uint16(i), 7), at, 0)
	}
	tb.mu.Unlock()
	if w := tb.mark(0); w.DevP99Ms != 350.5 || w.MaxDeltaMs != 370 {
		t.Fatalf("p99 %.3f max %.2f, want 350.5 (the 1 ms bin of 350 ms) and 370", w.DevP99Ms, w.MaxDeltaMs)
	}
}

func TestIdleSourceIsForgottenAndItsLossKept(t *testing.T) {
	tb := newTable(0)
	tb.mu.Lock()
	tb.receive(srcA, rtpPacket(0, 1, 1), 0, 0)
	tb.receive(srcA, rtpPacket(0, 3, 1), 0, 0)
	k := tb.streams[srcA].slot
	if !tb.removeIdle(k, 0, 1001, 1000) {
		t.Fatal("a source silent for 1001 ticks was kept")
	}
	tb.mu.Unlock()
	w := tb.mark(0)
	if w.Streams != 0 || w.Ended != 1 || w.Expected != 3 || w.Lost != 1 {
		t.Fatalf("live %d ended %d expected %d lost %d, want 0 1 3 1", w.Streams, w.Ended, w.Expected, w.Lost)
	}
}

func TestControlMessagesGiveReceiveTimeAndDrops(t *testing.T) {
	// Two control messages as the kernel lays them out: SCM_TIMESTAMPNS, then SO_RXQ_OVFL.
	b := make([]byte, 56)
	binary.LittleEndian.PutUint64(b[0:], 32)
	binary.LittleEndian.PutUint32(b[8:], 1)   // SOL_SOCKET
	binary.LittleEndian.PutUint32(b[12:], 35) // SCM_TIMESTAMPNS
	binary.LittleEndian.PutUint64(b[16:], 7)  // s
	binary.LittleEndian.PutUint64(b[24:], 9)  // ns
	binary.LittleEndian.PutUint64(b[32:], 20)
	binary.LittleEndian.PutUint32(b[40:], 1)
	binary.LittleEndian.PutUint32(b[44:], 40) // SO_RXQ_OVFL
	binary.LittleEndian.PutUint32(b[48:], 12)
	rx, drops := parseControl(b)
	if rx != 7e9+9 || drops != 12 {
		t.Fatalf("rx %d drops %d, want 7000000009 and 12", rx, drops)
	}
	if _, drops := parseControl(b[:32]); drops != -1 {
		t.Fatalf("drops %d without SO_RXQ_OVFL, want -1", drops)
	}
}

func TestSilentFramesCountOnlyAfterAStreamsFirstSound(t *testing.T) {
	silent := func(seq uint16, ssrc uint32) []byte {
		b := rtpPacket(0, seq, ssrc)
		for i := rtpHeaderLen; i < len(b); i++ {
			b[i] = 0xff
		}
		return b
	}
	tb := newTable(0)
	tb.mu.Lock()
	tb.receive(srcA, silent(1, 1), 0, 0) // before the echo starts: not a gap
	tb.receive(srcA, silent(2, 1), 0, 0)
	tb.receive(srcA, rtpPacket(0, 3, 1), 0, 0)
	tb.receive(srcA, silent(4, 1), 0, 0) // a gap
	tb.receive(srcA, rtpPacket(0, 5, 1), 0, 0)
	tb.receive(srcA, silent(1, 2), 0, 0) // a new sender starts unheard
	tb.mu.Unlock()
	if w := tb.mark(0); w.SilentFrames != 1 {
		t.Fatalf("%d silent frames counted, want the 1 after the stream's first sound", w.SilentFrames)
	}
}
