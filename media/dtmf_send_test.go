package media

import (
	"context"
	"errors"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/pivotua/pivotua/codec"
)

// sweepPrompt is a prompt whose frames all differ (each is a sine of its own
// frequency), so the peer can tell which frame it got.
func sweepPrompt(frames int) (*codec.Prompt, map[string]int) {
	pcm := make([]int16, frames*codec.FrameSamples)
	for i := range pcm {
		f := 300 + 10*float64(i/codec.FrameSamples)
		pcm[i] = int16(6000 * math.Sin(2*math.Pi*f*float64(i)/codec.SampleRate))
	}
	p := codec.NewPrompt(pcm)
	index := make(map[string]int)
	for i, f := range p.Frames(codec.PCMU) {
		index[string(f)] = i
	}
	return p, index
}

// sentEvent is one telephone-event packet the peer received.
type sentEvent struct {
	pkt receivedPacket
	ev  telephoneEvent
}

func TestSendDigitsAsRFC4733EventsOnTheAudioStream(t *testing.T) {
	s, peer := startDTMFSession(t, codec.PCMU, testEventPT)
	prompt, index := sweepPrompt(150)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	played := make(chan error, 1)
	go func() { played <- s.Play(ctx, prompt) }()

	// Wait for the prompt, then send two keys while it plays.
	var pkts []receivedPacket
	for {
		p := peer.next(2 * time.Second)
		if _, ok := index[string(p.payload)]; ok {
			pkts = append(pkts, p)
			break
		}
	}
	start := time.Now()
	if err := s.SendDigits(context.Background(), "1#", 100*time.Millisecond); err != nil {
		t.Fatalf("SendDigits: %v", err)
	}
	took := time.Since(start)
	// 2 keys of 5+3 packets and a 3-frame gap: 19 frames.
	if took < 300*time.Millisecond || took > 2*time.Second {
		t.Errorf("SendDigits took %v, want about 380ms", took)
	}
	for {
		p := peer.next(time.Second)
		pkts = append(pkts, p)
		if p.header.PayloadType == 0 && len(pkts) > 25 {
			if audioAfter := countTrailingAudio(pkts); audioAfter >= 5 {
				break
			}
		}
	}
	cancel()
	<-played

	var events []sentEvent
	var gapAudio []int // audio packets between events
	lastFrame := -1
	for i, p := range pkts {
		if i > 0 {
			prev := pkts[i-1]
			if p.header.SSRC != prev.header.SSRC {
				t.Fatalf("SSRC changed at packet %d", i)
			}
			if p.header.SequenceNumber != prev.header.SequenceNumber+1 {
				t.Fatalf("sequence %d after %d", p.header.SequenceNumber, prev.header.SequenceNumber)
			}
		}
		switch p.header.PayloadType {
		case testEventPT:
			ev, ok := parseTelephoneEvent(p.payload)
			if !ok || len(p.payload) != telephoneEventSize {
				t.Fatalf("bad event payload %x", p.payload)
			}
			events = append(events, sentEvent{p, ev})
		case 0:
			frame, ok := index[string(p.payload)]
			if !ok {
				t.Fatalf("packet %d is not a prompt frame", i)
			}
			// The prompt resumes where the event interrupted it.
			if lastFrame >= 0 && frame != lastFrame+1 {
				t.Fatalf("prompt frame %d after %d", frame, lastFrame)
			}
			lastFrame = frame
			if len(events) == 8 {
				gapAudio = append(gapAudio, i)
			}
			if i > 0 {
				prev := pkts[i-1]
				want := prev.header.Timestamp + codec.FrameSamples
				if prev.header.PayloadType == testEventPT {
					// Audio resumes on the audio clock, which ran under
					// the event: start + 8 frames.
					want = prev.header.Timestamp + 8*codec.FrameSamples
				}
				if p.header.Timestamp != want {
					t.Fatalf("audio timestamp %d, want %d", p.header.Timestamp, want)
				}
				if p.header.Marker {
					t.Errorf("marker on audio packet %d", i)
				}
			}
		default:
			t.Fatalf("payload type %d", p.header.PayloadType)
		}
	}
	if len(events) != 16 {
		t.Fatalf("%d event packets, want 16", len(events))
	}
	if len(gapAudio) != digitGapFrames {
		t.Errorf("%d audio packets between the keys, want %d", len(gapAudio), digitGapFrames)
	}
	for k, key := range []uint8{1, 11} {
		evs := events[8*k : 8*k+8]
		first := evs[0].pkt
		// The event starts where the next audio frame would have.
		if i := indexOf(pkts, first); pkts[i-1].header.Timestamp+codec.FrameSamples != first.header.Timestamp {
			t.Errorf("key %d: event timestamp %d after audio %d", key, first.header.Timestamp, pkts[i-1].header.Timestamp)
		}
		for j, e := range evs {
			h := e.pkt.header
			if h.Timestamp != first.header.Timestamp {
				t.Errorf("key %d packet %d: timestamp %d, want the event's %d", key, j, h.Timestamp, first.header.Timestamp)
			}
			if h.Marker != (j == 0) {
				t.Errorf("key %d packet %d: marker %v", key, j, h.Marker)
			}
			wantDur := uint16(min(j+1, 5) * codec.FrameSamples)
			if e.ev.event != key || e.ev.volume != digitVolume || e.ev.duration != wantDur || e.ev.end != (j >= 5) {
				t.Errorf("key %d packet %d: %+v, want duration %d end %v", key, j, e.ev, wantDur, j >= 5)
			}
		}
	}
}

func countTrailingAudio(pkts []receivedPacket) int {
	n := 0
	for i := len(pkts) - 1; i >= 0 && pkts[i].header.PayloadType == 0; i-- {
		n++
	}
	if n == len(pkts) {
		return 0 // no event yet
	}
	return n
}

func indexOf(pkts []receivedPacket, p receivedPacket) int {
	for i := range pkts {
		if pkts[i].header.SequenceNumber == p.header.SequenceNumber {
			return i
		}
	}
	return -1
}

// eventRuns splits the peer's packets into runs of event packets, each with
// the number of audio packets before it.
func eventRuns(t *testing.T, pkts []receivedPacket) (runs [][]telephoneEvent, audioBefore []int) {
	t.Helper()
	audio := 0
	inRun := false
	for _, p := range pkts {
		if p.header.PayloadType != testEventPT {
			audio++
			inRun = false
			continue
		}
		ev, _ := parseTelephoneEvent(p.payload)
		if !inRun || (len(runs) > 0 && runs[len(runs)-1][len(runs[len(runs)-1])-1].end && !ev.end) {
			runs = append(runs, nil)
			audioBefore = append(audioBefore, audio)
			audio = 0
		}
		inRun = true
		runs[len(runs)-1] = append(runs[len(runs)-1], ev)
	}
	return runs, audioBefore
}

// drainFor collects the peer's packets for d.
func drainFor(peer *testPeer, d time.Duration) []receivedPacket {
	var pkts []receivedPacket
	deadline := time.After(d)
	for {
		select {
		case p := <-peer.packets:
			pkts = append(pkts, p)
		case <-deadline:
			return pkts
		}
	}
}

func TestSendDigitsPausesForW(t *testing.T) {
	s, peer := startDTMFSession(t, codec.PCMA, testEventPT)
	peer.next(2 * time.Second)
	start := time.Now()
	if err := s.SendDigits(context.Background(), "4w5", 40*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	if took := time.Since(start); took < 600*time.Millisecond {
		t.Errorf("SendDigits with a 'w' took %v, want at least 500 ms more than the keys", took)
	}
	runs, audioBefore := eventRuns(t, drainFor(peer, 100*time.Millisecond))
	if len(runs) != 2 {
		t.Fatalf("%d events, want 2", len(runs))
	}
	if audioBefore[1] != pauseFrames {
		t.Errorf("%d audio frames between the keys, want %d (500 ms)", audioBefore[1], pauseFrames)
	}
	for i, want := range []uint8{4, 5} {
		if len(runs[i]) != 2+digitEndPackets || runs[i][0].event != want {
			t.Errorf("event %d: %+v", i, runs[i])
		}
	}
}

func TestSendDigitsEndsTheKeyWhenContextEnds(t *testing.T) {
	s, peer := startDTMFSession(t, codec.PCMU, testEventPT)
	peer.next(2 * time.Second)
	ctx, cancel := context.WithTimeout(context.Background(), 150*time.Millisecond)
	defer cancel()
	start := time.Now()
	err := s.SendDigits(ctx, "77", 2*time.Second)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("SendDigits: %v, want deadline exceeded", err)
	}
	if took := time.Since(start); took > time.Second {
		t.Errorf("returned after %v", took)
	}
	runs, _ := eventRuns(t, drainFor(peer, 150*time.Millisecond))
	if len(runs) != 1 {
		t.Fatalf("%d events, want 1", len(runs))
	}
	evs := runs[0]
	if n := len(evs); n < 3+digitEndPackets || n > 20 {
		t.Fatalf("%d packets in the cut event", n)
	}
	for i, ev := range evs[len(evs)-digitEndPackets:] {
		if !ev.end || ev.duration != evs[len(evs)-digitEndPackets-1].duration {
			t.Errorf("end packet %d: %+v", i, ev)
		}
	}
	// The session is free for the next SendDigits.
	if err := s.SendDigits(context.Background(), "8", 0); err != nil {
		t.Fatalf("second SendDigits: %v", err)
	}
}

func TestSendDigitsRejects(t *testing.T) {
	ctx := context.Background()
	s, _ := startDTMFSession(t, codec.PCMU, testEventPT)
	err := s.SendDigits(ctx, "12x3", 0)
	if !errors.Is(err, ErrInvalidDigit) || !strings.Contains(err.Error(), `'x'`) {
		t.Errorf("invalid key: %v", err)
	}
	if err := s.SendDigits(ctx, "", 0); err != nil {
		t.Errorf("empty: %v", err)
	}
	if _, err := parseDigits("0123456789*#ABCDabcdwW"); err != nil {
		t.Errorf("every key: %v", err)
	}

	noEvents, _ := startDTMFSession(t, codec.PCMU, 0)
	if err := noEvents.SendDigits(ctx, "1", 0); !errors.Is(err, ErrNoTelephoneEvent) {
		t.Errorf("without telephone-event: %v", err)
	}

	e := newTestEngine(t, 4, nil)
	unstarted := openSession(t, e)
	if err := unstarted.SendDigits(ctx, "1", 0); !errors.Is(err, ErrNotStarted) {
		t.Errorf("before Start: %v", err)
	}
	unstarted.Close()
	if err := unstarted.SendDigits(ctx, "1", 0); !errors.Is(err, ErrClosed) {
		t.Errorf("after Close: %v", err)
	}
}
