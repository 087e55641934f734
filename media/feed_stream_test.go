package media

import (
	"bytes"
	"errors"
	"math"
	"runtime"
	"testing"

	"github.com/pivotua/pivotua/codec"
)

// feedSession is a started PCMU session off its clock with f playing: the test drives its ticks.
func feedSession(t *testing.T, f *StreamFeed) *Session {
	t.Helper()
	s := openSession(t, newTestEngine(t, 2, nil))
	startToward(t, s, newTestPeer(t))
	offClock(s)
	if err := s.PlayStream(f); err != nil {
		t.Fatal(err)
	}
	return s
}

// tick runs one frame time and returns the audio payload it sent.
func tick(t *testing.T, s *Session) []byte {
	t.Helper()
	pkt, _, ok := s.buildFrame()
	if !ok {
		t.Fatal("no packet")
	}
	return append([]byte(nil), pkt[rtpHeaderSize:]...)
}

func frameOf(b byte) []byte { return bytes.Repeat([]byte{b}, codec.FrameSamples) }

func marksNow(f *StreamFeed) []uint64 {
	var ids []uint64
	for {
		select {
		case id := <-f.Marks():
			ids = append(ids, id)
		default:
			return ids
		}
	}
}

func TestStreamFeedPlaysOneFrameATickAndMarksFollowTheirAudio(t *testing.T) {
	f, _ := NewStreamFeed(50*codec.FrameSamples, 8)
	s := feedSession(t, f)
	// A burst: three frames, a mark, a fourth frame, a mark.
	if err := f.Write(append(append(frameOf(1), frameOf(2)...), frameOf(3)...)); err != nil {
		t.Fatal(err)
	}
	_ = f.Mark(10)
	_ = f.Write(frameOf(4))
	_ = f.Mark(11)
	for i, want := range []byte{1, 2, 3} {
		if got := tick(t, s); !bytes.Equal(got, frameOf(want)) {
			t.Fatalf("tick %d sent %v..., want frame %d", i, got[:4], want)
		}
		if i == 2 {
			break
		}
		if ids := marksNow(f); len(ids) != 0 {
			t.Fatalf("marks %v back after %d frames, before their audio played", ids, i+1)
		}
	}
	if ids := marksNow(f); len(ids) != 1 || ids[0] != 10 {
		t.Fatalf("after the third frame marks %v, want [10]", ids)
	}
	tick(t, s)
	if ids := marksNow(f); len(ids) != 1 || ids[0] != 11 {
		t.Fatalf("after the fourth frame marks %v, want [11]", ids)
	}
	if got := tick(t, s); !bytes.Equal(got, frameOf(codec.SilenceByte(codec.PCMU))) {
		t.Fatalf("an empty queue sent %v..., want silence", got[:4])
	}
	// A mark with nothing queued comes back at once.
	_ = f.Mark(12)
	if ids := marksNow(f); len(ids) != 1 || ids[0] != 12 {
		t.Fatalf("a mark on an empty queue: %v", ids)
	}
}

func TestStreamFeedClearDropsTheQueueAndHandsBackItsMarks(t *testing.T) {
	f, _ := NewStreamFeed(50*codec.FrameSamples, 8)
	s := feedSession(t, f)
	for range 10 {
		_ = f.Write(frameOf(7))
	}
	_ = f.Mark(1)
	_ = f.Write(frameOf(7))
	_ = f.Mark(2)
	tick(t, s)
	f.Clear()
	if ids := marksNow(f); len(ids) != 2 || ids[0] != 1 || ids[1] != 2 {
		t.Fatalf("marks after clear %v, want [1 2] at once", ids)
	}
	if got := tick(t, s); !bytes.Equal(got, frameOf(codec.SilenceByte(codec.PCMU))) {
		t.Fatalf("the frame after clear is %v..., want silence", got[:4])
	}
}

func TestStreamFeedPlaysATailPaddedAfterOneTick(t *testing.T) {
	f, _ := NewStreamFeed(50*codec.FrameSamples, 8)
	s := feedSession(t, f)
	_ = f.Write(bytes.Repeat([]byte{9}, 100))
	silence := frameOf(codec.SilenceByte(codec.PCMU))
	if got := tick(t, s); !bytes.Equal(got, silence) {
		t.Fatal("a partial frame played at once; it should wait a tick for the rest")
	}
	want := append(bytes.Repeat([]byte{9}, 100), silence[:60]...)
	if got := tick(t, s); !bytes.Equal(got, want) {
		t.Fatalf("the tail played as %v", got)
	}
}

// TestStreamFeedStartsOnTheFirstFrameAndKeepsTheRoomALateFrameMade: playback starts with the
// first whole frame (no delay of pivotua's added to an application's answer); a frame that comes a
// tick late costs one tick of silence once, and the frame of room it leaves absorbs the same
// lateness for the rest of the stream.
func TestStreamFeedStartsOnTheFirstFrameAndKeepsTheRoomALateFrameMade(t *testing.T) {
	f, _ := NewStreamFeed(50*codec.FrameSamples, 8)
	s := feedSession(t, f)
	silence := frameOf(codec.SilenceByte(codec.PCMU))
	// An echo: one frame a tick on average, some a tick late (0, then 2 in the next tick).
	arrivals := []int{1, 1, 0, 2, 1, 0, 2, 1, 1, 0, 2, 0, 0, 0}
	var heard []byte
	next := byte(1)
	for i, n := range arrivals {
		for range n {
			_ = f.Write(frameOf(next))
			next++
		}
		got := tick(t, s)
		switch {
		case bytes.Equal(got, silence):
			heard = append(heard, 0)
		case bytes.Equal(got, frameOf(got[0])):
			heard = append(heard, got[0])
		default:
			t.Fatalf("tick %d sent %v", i, got)
		}
	}
	if want := []byte{1, 2, 0, 3, 4, 5, 6, 7, 8, 9, 10, 11, 0, 0}; !bytes.Equal(heard, want) {
		t.Fatalf("heard %v, want %v (0: silence)", heard, want)
	}
	// Dry again: a whole frame plays at once, a partial one after waiting one tick.
	_ = f.Write(frameOf(42))
	if got := tick(t, s); !bytes.Equal(got, frameOf(42)) {
		t.Fatalf("a frame after the queue ran dry did not play at once: %v", got[:4])
	}
	_ = f.Write(frameOf(43)[:80])
	if got := tick(t, s); !bytes.Equal(got, silence) {
		t.Fatalf("half a frame played at once: %v", got[:4])
	}
	if got := tick(t, s); !bytes.Equal(got[:80], frameOf(43)[:80]) || !bytes.Equal(got[80:], silence[80:]) {
		t.Fatalf("half a frame did not play padded after one tick: %v", got)
	}
}

// TestStreamFeedGrowsItsQueueAsAudioComes: a feed bounded at 10 s does not hold 10 s of memory
// from the start; the queue grows as the application's audio needs, up to the bound, and audio
// queued across a growth (wrapped around the old ring) plays in order.
func TestStreamFeedGrowsItsQueueAsAudioComes(t *testing.T) {
	const maxBytes = 500 * codec.FrameSamples // streams.max_queued_audio's default, 10 s
	// TotalAlloc counts every goroutine's allocations, and one left by another test may allocate
	// during a measure: the least of five is the feed's own.
	var f *StreamFeed
	least := uint64(math.MaxUint64)
	for range 5 {
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		feed, err := NewStreamFeed(maxBytes, 128)
		runtime.ReadMemStats(&after)
		if err != nil {
			t.Fatal(err)
		}
		f, least = feed, min(least, after.TotalAlloc-before.TotalAlloc)
	}
	if least > 16<<10 {
		t.Fatalf("a new feed allocated %d bytes; its 10 s bound is not what it needs at first", least)
	}
	silence := frameOf(codec.SilenceByte(codec.PCMU))
	// Wrap the first ring: play some, queue more, so the queue straddles its end when it grows.
	frame := func(i int) []byte { return frameOf(byte(1 + i%250)) }
	written, played := 0, 0
	play := func() {
		t.Helper()
		got := f.next(codec.PCMU, silence)
		if !bytes.Equal(got, frame(played)) {
			t.Fatalf("frame %d played as %v...", played, got[:4])
		}
		played++
	}
	for range 40 {
		_ = f.Write(frame(written))
		written++
		play()
	}
	for written-played < 500 { // then the whole bound at once: a voice agent's burst
		if err := f.Write(frame(written)); err != nil {
			t.Fatalf("frame %d with %d queued: %v", written, written-played, err)
		}
		written++
	}
	if err := f.Write([]byte{1}); !errors.Is(err, ErrQueueFull) {
		t.Fatalf("a byte beyond the bound: %v, want ErrQueueFull", err)
	}
	for played < written {
		play()
	}
}

func TestStreamFeedTranscodesForAPCMASession(t *testing.T) {
	f, _ := NewStreamFeed(50*codec.FrameSamples, 8)
	s := openSession(t, newTestEngine(t, 2, nil))
	if err := s.Start(Params{Remote: newTestPeer(t).addr(), Law: codec.PCMA}); err != nil {
		t.Fatal(err)
	}
	offClock(s)
	_ = s.PlayStream(f)
	_ = f.Write(frameOf(0x00))
	if got := tick(t, s); got[0] != ulawToAlaw[0x00] {
		t.Fatalf("PCMU 0x00 left a PCMA session as %#x, want %#x", got[0], ulawToAlaw[0x00])
	}
}

func TestStreamFeedBoundsQueueAndMarks(t *testing.T) {
	f, _ := NewStreamFeed(2*codec.FrameSamples, 2)
	if err := f.Write(frameOf(1)); err != nil {
		t.Fatal(err)
	}
	if err := f.Write(append(frameOf(1), 1)); !errors.Is(err, ErrQueueFull) {
		t.Fatalf("over the bound: %v, want ErrQueueFull", err)
	}
	_ = f.Mark(1)
	_ = f.Mark(2)
	if err := f.Mark(3); !errors.Is(err, ErrTooManyMarks) {
		t.Fatalf("third mark: %v, want ErrTooManyMarks", err)
	}
	if _, err := NewStreamFeed(10, 1); err == nil {
		t.Fatal("a queue under one frame was accepted")
	}
}

func TestStreamFeedSecondPlayIsBusyAndStopClosesIt(t *testing.T) {
	f, _ := NewStreamFeed(50*codec.FrameSamples, 8)
	s := feedSession(t, f)
	g, _ := NewStreamFeed(50*codec.FrameSamples, 8)
	if err := s.PlayStream(g); !errors.Is(err, ErrBusy) {
		t.Fatalf("second PlayStream: %v", err)
	}
	s.StopStream(f)
	if err := f.Write(frameOf(1)); !errors.Is(err, ErrClosed) {
		t.Fatalf("Write after StopStream: %v", err)
	}
	if err := s.PlayStream(g); err != nil {
		t.Fatalf("PlayStream after StopStream: %v", err)
	}
}

// The clock's side of a stream, feed and taps together, allocates nothing per tick.
func TestStreamFeedAndTapsAllocateNothingPerTick(t *testing.T) {
	f, _ := NewStreamFeed(500*codec.FrameSamples, 8)
	s := feedSession(t, f)
	tap, err := s.StartTap(TapInbound | TapOutbound)
	if err != nil {
		t.Fatal(err)
	}
	var tf TapFrame
	audio := make([]byte, 400*codec.FrameSamples)
	_ = f.Write(audio)
	if n := testing.AllocsPerRun(200, func() {
		s.buildFrame()
		for tap.Next(&tf) {
		}
	}); n != 0 {
		t.Fatalf("%v allocations per tick", n)
	}
}

// TestStreamFeedGrowsWhileTheClockPlays: the application's reader writes bursts that make the queue
// grow while the clock takes frames; every frame plays at most once, in order, and is played or
// discarded (run with -race). The clock here is not paced: a small burst that comes just after it
// ran dry looks like a late real-time sender's frames, whose time passed (lateness).
func TestStreamFeedGrowsWhileTheClockPlays(t *testing.T) {
	const frames = 1500
	f, _ := NewStreamFeed(600*codec.FrameSamples, 8)
	silence := frameOf(codec.SilenceByte(codec.PCMU))
	go func() {
		for i := 0; i < frames; {
			var burst []byte
			for n := 1 + i%97; n > 0 && i < frames; n-- {
				burst = append(burst, frameOf(byte(1+i%250))...)
				i++
			}
			for errors.Is(f.Write(burst), ErrQueueFull) {
				runtime.Gosched()
			}
		}
	}()
	for played := 0; played+int(f.Discarded()) < frames; {
		got := f.next(codec.PCMU, silence)
		if bytes.Equal(got, silence) {
			runtime.Gosched()
			continue
		}
		at := played + int(f.Discarded())
		if !bytes.Equal(got, frameOf(byte(1+at%250))) {
			t.Fatalf("frame %d (%d played, %d discarded) played as %v...", at, played, f.Discarded(), got[:4])
		}
		played++
	}
}

// TestStreamFeedSkippedTicksTakeTheirFrames: ticks the clock skipped (a stall beyond its catch-up
// bound) take the frames queued for them, as a real-time playout does, so what plays next is the
// frame due now and the application's audio stays in time with the caller's.
func TestStreamFeedSkippedTicksTakeTheirFrames(t *testing.T) {
	f, _ := NewStreamFeed(50*codec.FrameSamples, 8)
	s := feedSession(t, f)
	for i := byte(1); i <= 10; i++ {
		_ = f.Write(frameOf(i))
	}
	_ = f.Mark(7) // after frame 10
	if got := tick(t, s); got[0] != 1 {
		t.Fatalf("first tick played frame %d, want 1", got[0])
	}
	s.skipFrames(3)
	if got := tick(t, s); got[0] != 5 {
		t.Fatalf("after 3 skipped ticks the clock played frame %d, want 5 (2, 3 and 4 were due in them)", got[0])
	}
	if d := f.Discarded(); d != 3 {
		t.Fatalf("discarded %d frames, want 3", d)
	}
	if d := s.e.Totals().StreamFramesDiscarded; d != 3 {
		t.Fatalf("the engine counts %d discarded frames, want 3", d)
	}
	s.skipFrames(20) // more than is queued: the mark comes back with the last frame taken
	if ids := marksNow(f); len(ids) != 1 || ids[0] != 7 {
		t.Fatalf("marks %v after the queue was skipped through, want [7]", ids)
	}
}

// echoTicks drives s like the bench's echo: each tick, arrivals[i] frames of the application's
// audio come, numbered on; a negative entry is that many ticks the clock skipped. It returns the
// frames heard (0: silence) and the deepest queue left after a tick, in frames.
func echoTicks(t *testing.T, s *Session, f *StreamFeed, next *byte, arrivals []int) (heard []byte, deepest int) {
	t.Helper()
	silence := frameOf(codec.SilenceByte(codec.PCMU))
	for i, n := range arrivals {
		if n < 0 {
			s.skipFrames(uint32(-n))
			continue
		}
		for range n {
			if err := f.Write(frameOf(*next)); err != nil {
				t.Fatalf("tick %d: %v (queued %d frames)", i, err, f.Queued()/codec.FrameSamples)
			}
			*next++
		}
		got := tick(t, s)
		if bytes.Equal(got, silence) {
			heard = append(heard, 0)
		} else {
			heard = append(heard, got[0])
		}
		deepest = max(deepest, f.Queued()/codec.FrameSamples)
	}
	return heard, deepest
}

// TestStreamFeedLateFramesAddNoLastingDelay: an application sending in real time whose frames come
// later and later (one tick, two, three...) does not leave each lateness queued for the rest of the
// stream (the mark ratchet: 80-300 ms at 300 streamed calls): beyond one frame of room, the frames
// whose time passed are discarded.
func TestStreamFeedLateFramesAddNoLastingDelay(t *testing.T) {
	f, _ := NewStreamFeed(50*codec.FrameSamples, 8)
	s := feedSession(t, f)
	next := byte(1)
	var arrivals []int
	for late := 1; late <= 4; late++ {
		arrivals = append(arrivals, 1, 1, 1)
		for range late {
			arrivals = append(arrivals, 0)
		}
		arrivals = append(arrivals, late+1)
	}
	arrivals = append(arrivals, 1, 1, 1, 1, 1)
	heard, _ := echoTicks(t, s, f, &next, arrivals)
	if q := f.Queued() / codec.FrameSamples; q > feedSlackFrames {
		t.Fatalf("after lateness of 1-4 ticks a real-time sender has %d frames queued for good, want at most %d (heard %v)", q, feedSlackFrames, heard)
	}
	// In order, nothing repeated.
	for i := 1; i < len(heard); i++ {
		if heard[i] != 0 && heard[i-1] != 0 && heard[i] <= heard[i-1] {
			t.Fatalf("heard out of order: %v", heard)
		}
	}
	// A mark sent now comes back within two ticks.
	_ = f.Write(frameOf(next))
	_ = f.Mark(99)
	tick(t, s)
	tick(t, s)
	if ids := marksNow(f); len(ids) != 1 {
		t.Fatalf("a mark waited more than two ticks (queued %d frames)", f.Queued()/codec.FrameSamples)
	}
}

// TestStreamFeedOverloadDoesNotFillTheQueue: the overload spiral at 1000 streamed calls. The clock
// stalls and skips ticks; the caller's frames of the stall still reach the application, whose echo
// of them comes back after. Before, every stall added its frames to the queue until it reached
// streams.max_queued_audio and the stream was closed (1008) blaming the application.
func TestStreamFeedOverloadDoesNotFillTheQueue(t *testing.T) {
	f, _ := NewStreamFeed(50*codec.FrameSamples, 8) // 1 s
	s := feedSession(t, f)
	next := byte(1)
	var arrivals []int
	for range 20 {
		arrivals = append(arrivals, 1, 1, 1, -10, 0, 11, 1, 1)
	}
	_, deepest := echoTicks(t, s, f, &next, arrivals)
	if deepest > feedSlackFrames+1 {
		t.Fatalf("the queue reached %d frames over 20 stalls, want at most %d", deepest, feedSlackFrames+1)
	}
}

// TestStreamFeedBurstAfterAPausePlaysWhole: a voice agent's next answer, a burst after a pause, is
// not taken for late audio: nothing of it is discarded.
func TestStreamFeedBurstAfterAPausePlaysWhole(t *testing.T) {
	f, _ := NewStreamFeed(100*codec.FrameSamples, 8)
	s := feedSession(t, f)
	next := byte(1)
	arrivals := []int{30, 0}
	for range 38 {
		arrivals = append(arrivals, 0)
	}
	arrivals = append(arrivals, 20) // 10 ticks of silence, then a burst
	for range 20 {
		arrivals = append(arrivals, 0)
	}
	arrivals = append(arrivals, 0, 10) // one tick after it ran dry, a chunk larger than the gap
	for range 12 {
		arrivals = append(arrivals, 0)
	}
	heard, _ := echoTicks(t, s, f, &next, arrivals)
	played := 0
	for _, h := range heard {
		if h != 0 {
			played++
		}
	}
	if played != 60 || f.Discarded() != 0 {
		t.Fatalf("played %d of 60 frames, discarded %d: %v", played, f.Discarded(), heard)
	}
}
