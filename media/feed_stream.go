package media

import (
	"sync"
	"sync/atomic"

	"github.com/pivotua/pivotua/codec"
)

// A StreamFeed plays audio an application sends (a bidirectional media
// stream) to the caller, paced by the session's clock: the clock takes one
// 20 ms frame per tick in place of prompts and silence, never more, so audio
// that arrives in a burst still leaves as a clean 20 ms stream, and an empty
// queue sends silence.
//
// The writer (the stream's socket reader goroutine) queues PCMU with Write,
// marks positions with Mark, and empties the queue with Clear (barge-in).
// Marks come back on Marks, in order, once the audio queued before them has
// been played (or was dropped by Clear). The queue and the marks are bounded
// by NewStreamFeed; the marks are preallocated, the queue starts at a second
// of audio and Write doubles it as the application's audio needs (most
// applications send in real time and never queue more; a voice agent's burst
// grows it once). Per tick the clock allocates nothing and holds the mutex
// for a 160-byte copy.
type StreamFeed struct {
	marks chan uint64 // played marks, in order; cap = maxMarks, so the clock never blocks

	mu       sync.Mutex // guards everything below
	ring     []byte     // PCMU; grown by Write, up to max
	max      int        // bytes the queue may hold
	head, n  int
	enqueued uint64 // bytes ever queued
	played   uint64 // bytes ever played or cleared
	pending  []feedMark
	pHead    int
	pN       int
	priming  bool // playback has not started, or ran dry: wait for primeStreamFrames
	waited   bool // what is queued waited one tick short of what is wanted: the next tick plays it
	closed   bool
	// Real-time playout (see lateness below): ticks that passed without the application's audio
	// while it was talking, which the audio still to come owes; the current run of ticks that
	// played nothing; whether the application is idle (nothing played for feedIdleTicks); and
	// the frames discarded to pay late back.
	late      int
	dry       int
	idle      bool
	discarded uint64
	// engineDiscarded is the engine-wide count of discarded frames (Totals) of the session that
	// plays f, set by PlayStream; nil until then.
	engineDiscarded *atomic.Uint64

	// The clock alone owns frame.
	frame [codec.FrameSamples]byte
}

// primeStreamFrames is how much of the application's audio is queued before playback starts, and
// starts again after the queue ran dry: one frame, so the first frame plays at the first tick it is
// whole, and an application adds no delay of pivotua's to its answer. The application's frames
// reach the feed at the pace of the socket and of its own scheduling, not of this clock: a frame
// that comes after its tick leaves one tick of silence, after which the queue holds the frame of
// room that absorbs the same jitter for the rest of the stream. Two frames would avoid that first
// gap at 20 ms more for every real-time sender; measured with the bench's streams level
// (bench/README.md: the application's frames, an echo, arrived with p99 deviations of 20 ms and no
// gap at either depth while the box had CPU to spare, and with 50-75 ms stalls that neither depth
// absorbs when it had none), the second frame bought nothing but the 20 ms. Short of this, or of a
// whole frame once playing, what is queued waits one tick for more audio, then plays padded.
const primeStreamFrames = 1

// Lateness. A tick whose frame the application's audio did not fill in time is gone: the clock
// plays silence in it, or skipped it altogether (a stall beyond the clock's catch-up bound). An
// application that sends in real time (an echo, a relay) sends that frame anyway, a little later,
// and if the feed then played every frame it got, each such tick would add a frame to the queue
// for the rest of the stream: marks would come back later and later, and under overload (the
// caller's frames of a stall all reach the application, the stall played none of its audio) the
// queue would grow to streams.max_queued_audio and the stream be closed for the application's
// audio though the lateness was pivotua's. So the feed plays out in real time, as a jitter
// buffer does: it counts the ticks owed (late; a skipped tick takes the frame queued for it at
// once) and discards that many frames of what comes after, beyond feedSlackFrames of room, so a
// late frame costs one frame of audio once, never a frame of delay for good.
//
// What cannot be told apart is an application that paused and then sends a burst (a voice agent's
// next answer): its first frames look late. Only a short run of silent ticks (feedLateGapTicks
// beyond what was owed) ended by no more audio than piled up meanwhile counts as lateness, and
// nothing is owed once the feed has been idle for feedIdleTicks, so a burst after a pause, or a
// chunk larger than the gap before it, plays whole; small chunks that each come a little after the
// queue ran dry are what a late real-time sender looks like, and lose frames.
const (
	// feedSlackFrames is the room lateness may leave: the first late frame keeps one frame queued,
	// which absorbs the same lateness for the rest of the stream without a gap (as before); only
	// more than that is discarded.
	feedSlackFrames = 1
	// feedLateGapTicks is the longest run of silent ticks between two frames of the application's
	// audio that counts as lateness (100 ms, the clock's own catch-up bound); a longer one is a
	// pause.
	feedLateGapTicks = 5
	// feedMaxLate bounds the frames owed (1 s).
	feedMaxLate = 50
	// feedIdleTicks of nothing played forgive what is owed: the application is not sending.
	feedIdleTicks = 50
)

type feedMark struct {
	pos uint64 // enqueued when it was marked: due once played reaches it
	id  uint64
}

// feedInitialBytes is the queue a feed starts with: one second of PCMU.
// Allocating streams.max_queued_audio whole (10 s, 80 KB) for every stream
// made it the largest part of a streamed call's memory.
const feedInitialBytes = 8000

// NewStreamFeed returns a feed holding at most maxBytes of PCMU (8 bytes a
// millisecond) and maxMarks marks not yet handed back.
func NewStreamFeed(maxBytes, maxMarks int) (*StreamFeed, error) {
	if maxBytes < codec.FrameSamples || maxMarks < 1 {
		return nil, ErrInvalidParams
	}
	return &StreamFeed{
		priming: true,
		idle:    true,
		max:     maxBytes,
		ring:    make([]byte, min(maxBytes, feedInitialBytes)),
		pending: make([]feedMark, maxMarks),
		marks:   make(chan uint64, maxMarks),
	}, nil
}

// Write queues ulaw (PCMU) to be played after what is queued; all of it, or
// nothing and ErrQueueFull when it does not fit.
func (f *StreamFeed) Write(ulaw []byte) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	for {
		if f.closed {
			return ErrClosed
		}
		need := f.n + len(ulaw)
		if need > f.max {
			return ErrQueueFull
		}
		if need <= len(f.ring) {
			break
		}
		size := len(f.ring)
		for size < need {
			size = min(2*size, f.max)
		}
		// Allocated without the mutex, which the clock takes every tick; the
		// copy into it holds the clock back once per doubling, for at most
		// half of max.
		f.mu.Unlock()
		grown := make([]byte, size)
		f.mu.Lock()
		if len(grown) > len(f.ring) {
			c := copy(grown, f.ring[f.head:min(f.head+f.n, len(f.ring))])
			copy(grown[c:f.n], f.ring[:f.n-c])
			f.ring, f.head = grown, 0
		}
	}
	tail := (f.head + f.n) % len(f.ring)
	c := copy(f.ring[tail:], ulaw)
	copy(f.ring, ulaw[c:])
	f.n += len(ulaw)
	f.enqueued += uint64(len(ulaw))
	return nil
}

// Mark asks for id on Marks once everything queued so far was played; at
// once when nothing is queued. ErrTooManyMarks when maxMarks are waiting.
func (f *StreamFeed) Mark(id uint64) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		return ErrClosed
	}
	if f.pN+len(f.marks) >= len(f.pending) {
		return ErrTooManyMarks
	}
	if f.n == 0 {
		f.marks <- id // room: pN+len(marks) < cap
		return nil
	}
	f.pending[(f.pHead+f.pN)%len(f.pending)] = feedMark{pos: f.enqueued, id: id}
	f.pN++
	return nil
}

// Clear drops the queued audio at once (the next frame is silence) and hands
// back every pending mark, as Twilio's clear does.
func (f *StreamFeed) Clear() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.head, f.n = 0, 0
	f.priming, f.waited = true, false
	f.played = f.enqueued
	f.late, f.dry, f.idle = 0, 0, true // the application starts afresh
	f.releaseMarks()
}

// Marks delivers the ids of played marks.
func (f *StreamFeed) Marks() <-chan uint64 { return f.marks }

// Queued is the audio waiting, in bytes (8 a millisecond).
func (f *StreamFeed) Queued() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.n
}

// releaseMarks moves the marks that are due to the channel; under mu.
func (f *StreamFeed) releaseMarks() {
	for f.pN > 0 && f.pending[f.pHead].pos <= f.played {
		f.marks <- f.pending[f.pHead].id // never blocks: see Mark
		f.pHead = (f.pHead + 1) % len(f.pending)
		f.pN--
	}
}

// next is the frame the session sends this tick, in law; called by the
// clock. Playback starts once primeStreamFrames are queued (again after the
// queue ran dry); short of that, or of a whole frame once playing, what is
// queued waits one tick for more audio, then plays, padded with silence.
func (f *StreamFeed) next(law codec.Law, silence []byte) []byte {
	f.mu.Lock()
	want := codec.FrameSamples
	if f.priming {
		want = primeStreamFrames * codec.FrameSamples
	}
	if f.n >= codec.FrameSamples {
		f.payLate()
	}
	take := 0
	switch {
	case f.n >= want || (f.n > 0 && f.waited):
		take = min(f.n, codec.FrameSamples)
	case f.n > 0:
		f.waited = true
	default:
		f.priming, f.waited = true, false
	}
	if take > 0 {
		c := copy(f.frame[:take], f.ring[f.head:min(f.head+take, len(f.ring))])
		copy(f.frame[c:take], f.ring[:take-c])
		f.head = (f.head + take) % len(f.ring)
		f.n -= take
		f.played += uint64(take)
		f.priming, f.waited = false, false
		f.dry, f.idle = 0, false
		f.releaseMarks()
	} else if !f.idle {
		if f.dry++; f.dry >= feedIdleTicks {
			f.idle, f.late, f.dry = true, 0, 0
		}
	}
	f.mu.Unlock()
	if take == 0 {
		return silence
	}
	pad := codec.SilenceByte(codec.PCMU)
	for i := take; i < codec.FrameSamples; i++ {
		f.frame[i] = pad
	}
	if law != codec.PCMU {
		transcode(f.frame[:], f.frame[:], codec.PCMU, law)
	}
	return f.frame[:]
}

// payLate ends a run of silent ticks and discards what is owed of the queue beyond the frame due
// now and feedSlackFrames; under mu. A run ended by no more audio than the run and what was owed
// would have held (the frames that piled up while late) is lateness; a longer run, or more audio
// than that (a chunk sent ahead of time, a voice agent's next answer), owes nothing.
func (f *StreamFeed) payLate() {
	if f.dry > 0 {
		owed := f.late + f.dry
		if f.dry > feedLateGapTicks+f.late || f.n/codec.FrameSamples > owed+1 {
			owed = 0
		}
		f.late, f.dry = min(owed, feedMaxLate), 0
	}
	if excess := f.n/codec.FrameSamples - 1 - feedSlackFrames; f.late > 0 && excess > 0 {
		f.discard(min(f.late, excess))
	}
}

// discard drops frames whole frames from the head of the queue, as if played; under mu.
func (f *StreamFeed) discard(frames int) {
	b := frames * codec.FrameSamples
	f.head = (f.head + b) % len(f.ring)
	f.n -= b
	f.played += uint64(b)
	f.late -= frames
	f.discarded += uint64(frames)
	if f.engineDiscarded != nil {
		f.engineDiscarded.Add(uint64(frames))
	}
	f.releaseMarks()
}

// skip is frames ticks the clock skipped (engine_clock.go): their time is gone, so the frames
// queued for them are discarded at once and any the application has yet to send are owed
// (lateness above); called by the clock.
func (f *StreamFeed) skip(frames int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.idle {
		return // nothing was due: the application is not sending
	}
	f.late = min(f.late+frames, feedMaxLate)
	if queued := f.n / codec.FrameSamples; queued > 0 {
		f.discard(min(f.late, queued))
	}
}

// Discarded counts the frames of the application's audio discarded because their time had
// passed (lateness above).
func (f *StreamFeed) Discarded() uint64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.discarded
}

// PlayStream makes s send what f holds, in place of prompts and silence,
// until StopStream; a Play meanwhile is held as a bridge holds it. A
// session already playing a feed gives ErrBusy.
func (s *Session) PlayStream(f *StreamFeed) error {
	if f == nil {
		return ErrInvalidParams
	}
	f.mu.Lock()
	f.engineDiscarded = &s.e.streamDiscarded
	f.mu.Unlock()
	if !s.streamFeed.CompareAndSwap(nil, f) {
		return ErrBusy
	}
	return nil
}

// StopStream ends f's playback on s (the next packet starts a talk spurt)
// and closes f: later Writes and Marks fail with ErrClosed.
func (s *Session) StopStream(f *StreamFeed) {
	s.streamFeed.CompareAndSwap(f, nil)
	f.mu.Lock()
	f.closed = true
	f.mu.Unlock()
}
