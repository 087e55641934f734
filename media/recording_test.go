package media

import (
	"context"
	"errors"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/pion/rtp"

	"github.com/pivotua/pivotua/codec"
	"github.com/pivotua/pivotua/internal/testkit"
	"github.com/pivotua/pivotua/internal/testkit/sipptest"
)

// toneFrames classifies each 20 ms block of pcm: true where freq dominates.
func toneFrames(pcm []int16, freq float64) []bool {
	out := make([]bool, len(pcm)/codec.FrameSamples)
	for i := range out {
		out[i] = codec.Goertzel(pcm[i*codec.FrameSamples:(i+1)*codec.FrameSamples], freq, codec.SampleRate) > 0.02
	}
	return out
}

// runs compresses flags into alternating run lengths, starting with the
// first flag's value.
func runs(flags []bool) (first bool, lengths []int) {
	for i, f := range flags {
		if i == 0 || f != flags[i-1] {
			lengths = append(lengths, 0)
		}
		lengths[len(lengths)-1]++
	}
	return len(flags) > 0 && flags[0], lengths
}

// pacedSender sends 20 ms frames from the peer in real time.
type pacedSender struct {
	t      *testing.T
	peer   *testPeer
	to     netip.AddrPort
	pt     uint8
	ssrc   uint32
	seq    uint16
	ts     uint32
	next   time.Time
	frames int // sent
}

func (p *pacedSender) send(frames [][]byte) {
	p.t.Helper()
	if p.next.IsZero() {
		p.next = time.Now()
	}
	for _, f := range frames {
		time.Sleep(time.Until(p.next))
		p.peer.sendHeader(p.to, rtp.Header{PayloadType: p.pt, SequenceNumber: p.seq, Timestamp: p.ts, SSRC: p.ssrc}, f)
		p.seq++
		p.ts += codec.FrameSamples
		p.next = p.next.Add(codec.FrameDuration)
		p.frames++
	}
}

// skip leaves out frames: lost packets, time and timestamps move on.
func (p *pacedSender) skip(frames int) {
	p.ts += uint32(frames) * codec.FrameSamples
	p.next = p.next.Add(time.Duration(frames) * codec.FrameDuration)
	time.Sleep(time.Until(p.next))
}

// waitReceived waits until the session accepted n packets in all.
func waitReceived(t *testing.T, s *Session, n uint64) {
	t.Helper()
	testkit.WaitFor(t, 2*time.Second, "packets received", func() bool { return s.Stats().PacketsReceived >= n })
}

func TestRecordingFillsTimestampGapWithSilence(t *testing.T) {
	s, peer := startDTMFSession(t, codec.PCMU, 0)
	tone := encodeFrames(codec.PCMU, codec.Tone(1000, 500*time.Millisecond, 0.3))
	var out testkit.SyncBuffer
	rec, err := s.StartRecording(&out)
	if err != nil {
		t.Fatal(err)
	}
	tx := &pacedSender{t: t, peer: peer, to: s.LocalAddr(), ssrc: 42, seq: 65530, ts: 0xffffff00}
	tx.send(tone)
	tx.skip(10) // 200 ms lost
	tx.send(tone)
	waitReceived(t, s, 50)
	samples, err := rec.Stop()
	if err != nil {
		t.Fatalf("Stop: %v", err)
	}
	pcm := testkit.PCM16(out.Bytes())
	if int64(len(pcm)) != samples {
		t.Fatalf("Stop says %d samples, writer got %d", samples, len(pcm))
	}
	// 1.2 s of stream, plus the few ms between the last packet and Stop.
	d := time.Duration(samples) * time.Second / codec.SampleRate
	if d < 1200*time.Millisecond-codec.FrameDuration || d > 1200*time.Millisecond+60*time.Millisecond {
		t.Errorf("recording lasts %v, want 1.2 s", d)
	}
	first, lengths := runs(toneFrames(pcm, 1000))
	t.Logf("recording %v, tone/silence runs %v (first tone %v)", d, lengths, first)
	if !first || len(lengths) < 3 || lengths[0] != 25 || lengths[1] != 10 || lengths[2] != 25 {
		t.Errorf("runs of tone/silence frames %v, want 25 tone, 10 silence, 25 tone", lengths)
	}
}

func TestRecordingPadsToWallClockWhenCallerGoesQuiet(t *testing.T) {
	s, peer := startDTMFSession(t, codec.PCMA, 0)
	var out testkit.SyncBuffer
	started := time.Now()
	rec, err := s.StartRecording(&out)
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(100 * time.Millisecond) // the caller starts late: leading silence
	tx := &pacedSender{t: t, peer: peer, to: s.LocalAddr(), pt: uint8(codec.PCMA), ssrc: 7}
	tx.send(encodeFrames(codec.PCMA, codec.Tone(1000, 400*time.Millisecond, 0.3)))
	waitReceived(t, s, 20)
	time.Sleep(600 * time.Millisecond) // then nothing at all
	samples, err := rec.Stop()
	wall := time.Since(started)
	if err != nil {
		t.Fatalf("Stop: %v", err)
	}
	d := time.Duration(samples) * time.Second / codec.SampleRate
	t.Logf("recording %v, wall %v", d, wall)
	if d > wall || wall-d > 60*time.Millisecond {
		t.Errorf("recording lasts %v, wall clock %v: want within 60 ms", d, wall)
	}
	pcm := testkit.PCM16(out.Bytes())
	first, lengths := runs(toneFrames(pcm, 1000))
	if first || len(lengths) != 3 || lengths[0] < 4 || lengths[0] > 8 || lengths[1] != 20 || lengths[2] < 28 {
		t.Errorf("runs of silence/tone frames %v, want ~5 silence, 20 tone (the tail included), ~30 silence", lengths)
	}
}

func TestRecordingStopAfterCloseKeepsTheTail(t *testing.T) {
	s, peer := startDTMFSession(t, codec.PCMU, 0)
	var out testkit.SyncBuffer
	rec, err := s.StartRecording(&out)
	if err != nil {
		t.Fatal(err)
	}
	tx := &pacedSender{t: t, peer: peer, to: s.LocalAddr(), ssrc: 8}
	tx.send(encodeFrames(codec.PCMU, codec.Tone(1000, 300*time.Millisecond, 0.3)))
	waitReceived(t, s, 15)
	s.Close() // hangup
	time.Sleep(300 * time.Millisecond)
	samples, err := rec.Stop()
	if err != nil {
		t.Fatalf("Stop after Close: %v", err)
	}
	d := time.Duration(samples) * time.Second / codec.SampleRate
	if d < 300*time.Millisecond || d > 360*time.Millisecond {
		t.Errorf("recording lasts %v, want the 300 ms until Close, not until Stop", d)
	}
	if _, lengths := runs(toneFrames(testkit.PCM16(out.Bytes()), 1000)); len(lengths) == 0 || lengths[0] != 15 {
		t.Errorf("tone frames %v, want all 15 (the tail kept)", lengths)
	}
	if again, err := rec.Stop(); again != samples || err != nil {
		t.Errorf("second Stop: %d %v", again, err)
	}
	if _, err := s.StartRecording(&out); !errors.Is(err, ErrClosed) {
		t.Errorf("StartRecording after Close: %v", err)
	}
}

func TestRecordingDecodesByPayloadTypeAndSkipsOthers(t *testing.T) {
	s, peer := startDTMFSession(t, codec.PCMU, testEventPT)
	var out testkit.SyncBuffer
	rec, err := s.StartRecording(&out)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.StartRecording(&out); !errors.Is(err, ErrBusy) {
		t.Fatalf("second StartRecording: %v", err)
	}
	tone := codec.Tone(1000, 100*time.Millisecond, 0.3)
	to := s.LocalAddr()
	var seq uint16
	var ts uint32
	send := func(pt uint8, frames [][]byte) {
		for _, f := range frames {
			peer.sendHeader(to, rtp.Header{PayloadType: pt, SequenceNumber: seq, Timestamp: ts, SSRC: 3}, f)
			seq++
			ts += codec.FrameSamples
		}
	}
	send(0, encodeFrames(codec.PCMU, tone))                    // 5 frames
	send(8, encodeFrames(codec.PCMA, tone))                    // 5 frames, the other law
	send(13, [][]byte{{40}, {40}})                             // comfort noise: a gap
	send(testEventPT, [][]byte{eventPayload('1', false, 160)}) // an event: a gap
	send(0, encodeFrames(codec.PCMU, tone))                    // 5 frames
	seq--
	ts -= codec.FrameSamples
	send(0, encodeFrames(codec.PCMU, tone)[4:]) // a duplicate of the last: dropped
	waitReceived(t, s, 19)
	samples, err := rec.Stop()
	if err != nil {
		t.Fatal(err)
	}
	first, lengths := runs(toneFrames(testkit.PCM16(out.Bytes()), 1000))
	if samples < 18*codec.FrameSamples || !first || len(lengths) < 3 || lengths[0] != 10 || lengths[1] != 3 || lengths[2] != 5 {
		t.Errorf("%d samples, tone/silence runs %v, want 10 tone, 3 silence, 5 tone", samples, lengths)
	}

	// The session is free for the next recording.
	rec2, err := s.StartRecording(&out)
	if err != nil {
		t.Fatalf("StartRecording after Stop: %v", err)
	}
	rec2.Stop()
}

type failingWriter struct{ n int }

func (w *failingWriter) Write(p []byte) (int, error) {
	if w.n++; w.n > 1 {
		return 0, errors.New("disk full")
	}
	return len(p), nil
}

func TestRecordingReportsWriteErrors(t *testing.T) {
	s, peer := startDTMFSession(t, codec.PCMU, 0)
	rec, err := s.StartRecording(&failingWriter{})
	if err != nil {
		t.Fatal(err)
	}
	frames := encodeFrames(codec.PCMU, codec.Tone(1000, 2*time.Second, 0.3))
	for i, f := range frames {
		peer.sendHeader(s.LocalAddr(), rtp.Header{SequenceNumber: uint16(i), Timestamp: uint32(i * codec.FrameSamples), SSRC: 1}, f)
		if i%8 == 7 {
			time.Sleep(time.Millisecond)
		}
	}
	waitReceived(t, s, uint64(len(frames)))
	samples, err := rec.Stop()
	if err == nil || samples >= int64(len(frames)*codec.FrameSamples) {
		t.Errorf("Stop: %d samples, %v; want a write error", samples, err)
	}
}

func TestRecordingDoesNotDisturbDTMF(t *testing.T) {
	s, peer := startDTMFSession(t, codec.PCMU, 0)
	digits := collectDigits(s)
	var out testkit.SyncBuffer
	rec, err := s.StartRecording(&out)
	if err != nil {
		t.Fatal(err)
	}
	var seq uint16
	var ts uint32
	pcm := append(sipptest.DTMFTone('7', 100*time.Millisecond, 0.2, 0, 0), make([]int16, 800)...)
	sendPCM(t, peer, s.LocalAddr(), codec.PCMU, 5, &seq, &ts, pcm)
	digits.expect(t, "7", 2*time.Second, 50*time.Millisecond)
	if _, err := rec.Stop(); err != nil {
		t.Fatal(err)
	}
	if got := codec.Goertzel(testkit.PCM16(out.Bytes())[:800], 852, codec.SampleRate); got < 0.02 {
		t.Errorf("the key's tone is not in the recording (%v)", got)
	}
}

// A digit sent by one session is reported by another: our sender and our
// receiver agree (the loopback of SendDigits and OnDigit).
func TestSendDigitsReachOnDigitOfAnotherSession(t *testing.T) {
	e := newTestEngine(t, 4, nil)
	a, b := openSession(t, e), openSession(t, e)
	if err := b.Start(Params{Remote: a.LocalAddr(), Law: codec.PCMU, EventPayloadType: 96}); err != nil {
		t.Fatal(err)
	}
	if err := a.Start(Params{Remote: b.LocalAddr(), Law: codec.PCMU, EventPayloadType: 96}); err != nil {
		t.Fatal(err)
	}
	digits := collectDigits(b)
	if err := a.SendDigits(context.Background(), "*1#11", 60*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	got := digits.expect(t, "*1#11", 2*time.Second, 100*time.Millisecond)
	for _, d := range got {
		if d.Source != DigitSourceRFC4733 {
			t.Errorf("%q from %q", d.Key, d.Source)
		}
	}
}

// countingWriter counts what it is given and keeps nothing.
type countingWriter struct {
	mu sync.Mutex
	n  int64
}

func (w *countingWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.n += int64(len(p))
	return len(p), nil
}

// A caller whose every packet moves the RTP timestamp 10 s on (and sends
// eight packets a tick) cannot make the recording outgrow the wall clock:
// at most aheadSlack more than the time that passed. The packets' arrival
// times are given, so the test does not depend on the machine's speed.
func TestRecordingNeverRunsAheadOfTheWallClock(t *testing.T) {
	s, _ := startDTMFSession(t, codec.PCMU, 0)
	var out countingWriter
	rec, err := s.StartRecording(&out)
	if err != nil {
		t.Fatal(err)
	}
	frame := make([]int16, codec.FrameSamples)
	for i := range frame {
		frame[i] = 1000
	}
	const ticks = 50 // one second of 20 ms ticks
	var ts uint32
	for tick := range ticks {
		now := rec.start + int64(tick+1)*int64(codec.FrameDuration)
		for range 8 {
			rec.receive(9, ts, frame, now)
			ts += maxGapFill // a 10 s jump: filled with silence before the fix
		}
	}
	samples, err := rec.Stop()
	if err != nil {
		t.Fatal(err)
	}
	limit := int64(ticks*codec.FrameSamples + aheadSlack)
	t.Logf("%d samples recorded (%d bytes) for %d ms of wall clock", samples, out.n, ticks*20)
	if samples > limit {
		t.Errorf("recorded %d samples (%.1f s) in 1 s of wall clock, want at most %d", samples, float64(samples)/codec.SampleRate, limit)
	}
	if samples < ticks*codec.FrameSamples {
		t.Errorf("recorded %d samples, want at least the 1 s that passed", samples)
	}
}
