package media

import (
	"bytes"
	"testing"

	"github.com/pion/rtp"

	"github.com/pivotua/pivotua/codec"
)

// tapSession is a started session in law, off its clock, with a tap of tracks; peer is its remote.
func tapSession(t *testing.T, law codec.Law, tracks TapTrack) (*Session, *Tap, *testPeer) {
	t.Helper()
	s := openSession(t, newTestEngine(t, 2, nil))
	peer := newTestPeer(t)
	if err := s.Start(Params{Remote: peer.addr(), Law: law}); err != nil {
		t.Fatal(err)
	}
	offClock(s)
	tap, err := s.StartTap(tracks)
	if err != nil {
		t.Fatal(err)
	}
	return s, tap, peer
}

func drainTap(tap *Tap) []TapFrame {
	var out []TapFrame
	var f TapFrame
	for tap.Next(&f) {
		out = append(out, f)
	}
	return out
}

// rtpFrom builds a packet as peer would send it.
func rtpPacket(seq uint16, pt uint8, payload []byte) []byte {
	b, _ := (&rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: pt, SequenceNumber: seq, Timestamp: uint32(seq) * 240, SSRC: 77}, Payload: payload}).Marshal()
	return b
}

func TestTapRechunksTheCallersPacketsInto20msPCMUFrames(t *testing.T) {
	s, tap, peer := tapSession(t, codec.PCMA, TapInbound)
	// Three 30 ms PCMA packets are 90 ms: four whole 20 ms frames and 10 ms waiting.
	for i := range 3 {
		payload := bytes.Repeat([]byte{byte(0xd5 + i)}, 240)
		if !s.receivePacket(rtpPacket(uint16(10+i), uint8(codec.PCMA), payload), peer.addr()) {
			t.Fatalf("packet %d not accepted", i)
		}
	}
	frames := drainTap(tap)
	if len(frames) != 4 {
		t.Fatalf("%d frames from 90 ms of audio, want 4", len(frames))
	}
	for i, f := range frames {
		if f.Track != TapInbound || f.Chunk != uint64(i+1) {
			t.Fatalf("frame %d: track %d chunk %d", i, f.Track, f.Chunk)
		}
	}
	// Frame 2 holds the end of packet 1 (10 ms) and the start of packet 2 (10 ms), in PCMU.
	if f := frames[1].Payload; f[0] != alawToUlaw[0xd5] || f[159] != alawToUlaw[0xd6] {
		t.Fatalf("frame 2 starts %#x ends %#x", f[0], f[159])
	}
}

func TestTapCopiesWhatTheSessionSendsAndDropsWhatNobodyReads(t *testing.T) {
	s, tap, _ := tapSession(t, codec.PCMU, TapOutbound)
	f, _ := NewStreamFeed(50*codec.FrameSamples, 8)
	_ = s.PlayStream(f)
	_ = f.Write(frameOf(0x42))
	s.buildFrame()
	s.buildFrame()
	frames := drainTap(tap)
	if len(frames) != 2 || frames[0].Track != TapOutbound || frames[0].Payload[0] != 0x42 || frames[1].Payload[0] != codec.SilenceByte(codec.PCMU) {
		t.Fatalf("outbound frames %d: %+v", len(frames), frames)
	}
	for range tapRingFrames + 10 {
		s.buildFrame()
	}
	if got := tap.Dropped(); got != 10 {
		t.Fatalf("dropped %d frames, want the 10 beyond the ring", got)
	}
	tap.Stop()
	drainTap(tap)
	s.buildFrame()
	if frames := drainTap(tap); len(frames) != 0 {
		t.Fatalf("%d frames after Stop", len(frames))
	}
}

func TestTapDropsAreCountedInTheEngineTotals(t *testing.T) {
	s, tap, _ := tapSession(t, codec.PCMU, TapOutbound)
	for range tapRingFrames + 3 {
		s.buildFrame()
	}
	// A second tap on another session of the same engine adds to the same total.
	s2 := openSession(t, s.e)
	if err := s2.Start(Params{Remote: newTestPeer(t).addr(), Law: codec.PCMU}); err != nil {
		t.Fatal(err)
	}
	offClock(s2)
	tap2, err := s2.StartTap(TapOutbound | TapInbound)
	if err != nil {
		t.Fatal(err)
	}
	for range tapRingFrames + 2 {
		s2.buildFrame()
	}
	if tap.Dropped() != 3 || tap2.Dropped() != 2 {
		t.Fatalf("taps dropped %d and %d, want 3 and 2", tap.Dropped(), tap2.Dropped())
	}
	if got := s.e.Totals().TapFramesDropped; got != 5 {
		t.Fatalf("engine totals: %d tap frames dropped, want 5", got)
	}
	// Stopped taps and closed sessions keep their count in the total.
	tap.Stop()
	tap2.Stop()
	s2.Close()
	if got := s.e.Totals().TapFramesDropped; got != 5 {
		t.Fatalf("after Stop and Close: %d tap frames dropped, want 5", got)
	}
}
