package media

import (
	"errors"
	"io"
	"sync"
	"time"

	"github.com/pivotua/pivotua/codec"
)

const (
	// recordFlushInterval is how often the writer goroutine hands the
	// buffered audio to the io.Writer and pads a stalled stream.
	recordFlushInterval = time.Second
	// recordChunkBytes is the PCM the session's clock collects before it
	// hands the chunk to the writer: a quarter second.
	recordChunkBytes = codec.SampleRate / 2 // 4000 bytes = 2000 samples
	recordChunkCap   = 2 * recordChunkBytes
	// recordChunks is the pool of chunk buffers per recording: the writer
	// may lag by this many chunks before the current one grows.
	recordChunks = 8
	// maxGapFill is the largest forward jump of the RTP timestamp filled
	// with silence (10 s); a larger one, or one backwards, starts a new
	// stream placed by the wall clock.
	maxGapFill = 10 * codec.SampleRate
	// lateWindow is how far behind the expected timestamp a packet may be
	// and still count as a duplicate or reordered packet (dropped) rather
	// than a restarted stream.
	lateWindow = 2 * codec.SampleRate
	// resyncSlack is the wall-clock shortfall ignored when placing a new
	// stream (arrival jitter): 40 ms.
	resyncSlack = 2 * codec.FrameSamples
	// stallAfter is how long without packets the writer waits before it pads
	// the recording up to the wall clock.
	stallAfter = 500 * time.Millisecond
	// aheadSlack is how far a recording may run ahead of its wall-clock
	// duration (a burst after a network stall, a peer's clock a little
	// fast): 1 s. Beyond it, timestamp gaps are not filled and packets are
	// dropped, whatever their timestamps say, so a caller cannot make a
	// recording grow faster than time passes (filling the disk).
	aheadSlack = codec.SampleRate
)

// Recording writes what the caller sends, from StartRecording until Stop, as
// 8 kHz 16-bit little-endian mono PCM (the data of a WAV file).
//
// Its time is true: gaps in the RTP timestamps (lost packets, silence
// suppression) up to 10 s are filled with silence, but the recording never
// runs more than aheadSlack ahead of the time since StartRecording (the
// timestamps are the caller's and may lie), and when no packets come
// at all (hold, a peer that stops sending) silence is padded up to the wall
// clock, periodically and at Stop, so the recording lasts as long as it ran.
//
// The session's clock, as it reads each packet, decodes it into a buffer
// under a mutex held only for the copy and hands each quarter second of it to
// the recording's writer goroutine over a channel (a small pool of buffers
// takes turns); the writer also takes what is buffered every second and at
// Stop, and alone calls w.Write, so no file I/O ever happens on a clock.
type Recording struct {
	s     *Session  // immutable
	w     io.Writer // immutable; written by the writer goroutine only
	start int64     // engine nanos of StartRecording; immutable (benchmarks backdate it under mu)

	// Guarded by mu; written by the session's clock (receive), the writer
	// goroutine (flush, stall padding) and Stop. Never held across a write
	// to w.
	mu       sync.Mutex
	buf      []byte // PCM collected for the next chunk
	pos      int64  // samples recorded (appended to buf) so far, silence included
	stopped  bool   // set by Stop: later packets are not recorded
	haveLast bool   // a packet was recorded
	ssrc     uint32 // of the last packet
	nextTS   uint32 // RTP timestamp expected after the last packet
	lastEnd  int64  // pos just after the last packet
	lastAt   int64  // engine nanos the last packet arrived

	full     chan []byte   // chunks for the writer, in order; sent under mu, never blocks (cap recordChunks)
	free     chan []byte   // empty chunk buffers (cap recordChunks)
	stopping chan struct{} // closed by Stop
	done     chan struct{} // closed when the writer goroutine has written everything

	// Written by the writer goroutine; read by Stop after done.
	written int64
	err     error

	stopOnce sync.Once
}

// StartRecording records what the caller sends from now on to w (see
// Recording) until Stop; w is only written from the recording's own
// goroutine. One recording at a time: ErrBusy while another is active.
// It may be called before Start; it fails once the session has ended.
func (s *Session) StartRecording(w io.Writer) (*Recording, error) {
	if w == nil {
		return nil, errors.New("media: StartRecording with a nil writer")
	}
	if s.finished.Load() {
		return nil, s.errOrClosed()
	}
	r := &Recording{
		s:        s,
		w:        w,
		start:    s.e.now(),
		buf:      make([]byte, 0, recordChunkCap),
		full:     make(chan []byte, recordChunks),
		free:     make(chan []byte, recordChunks),
		stopping: make(chan struct{}),
		done:     make(chan struct{}),
	}
	for range recordChunks - 1 { // the first is buf
		r.free <- make([]byte, 0, recordChunkCap)
	}
	if !s.recording.CompareAndSwap(nil, r) {
		return nil, ErrBusy
	}
	go r.run()
	return r, nil
}

// Stop ends the recording: it pads silence up to the wall clock (up to the
// session's end if it has ended), waits until everything received so far
// (the tail) is written to w, and returns the samples written and the
// first write error. It works after the session closed, and calling it
// again returns the same result. Every recording must be stopped: its
// writer goroutine runs until then, also after the session ended.
func (r *Recording) Stop() (samples int64, err error) {
	r.stopOnce.Do(func() {
		r.s.recording.CompareAndSwap(r, nil)
		now := r.s.e.now()
		if end := r.s.endedAt.Load(); end != 0 && end < now {
			now = end
		}
		r.mu.Lock()
		r.padTo(r.wallTarget(now))
		r.stopped = true
		r.mu.Unlock()
		close(r.stopping)
	})
	<-r.done
	return r.written, r.err
}

// receive records one packet's decoded audio; called on the session's clock.
// It places the audio by RTP timestamp, filling gaps with silence (the
// timestamp counts samples, RFC 3550 §5.1), drops duplicates and late
// packets, places a new stream (SSRC change, a jump of more than 10 s or
// backwards) by the wall clock, and drops what would take the recording more
// than aheadSlack past the wall clock.
func (r *Recording) receive(ssrc, ts uint32, pcm []int16, now int64) {
	n := int64(len(pcm))
	if n == 0 {
		return
	}
	r.mu.Lock()
	if r.stopped {
		r.mu.Unlock()
		return
	}
	limit := samplesIn(now-r.start) + aheadSlack // where this packet must end by
	if !r.haveLast || ssrc != r.ssrc {
		r.resync(now, n)
	} else {
		d := int32(ts - r.nextTS)
		switch {
		case d >= 0 && d <= maxGapFill:
			r.padTo(min(r.lastEnd+int64(d), limit-n))
		case d < 0 && d > -lateWindow && int32(ts+uint32(n)-r.nextTS) <= 0:
			r.mu.Unlock()
			return // a duplicate or a packet whose time was already filled
		default:
			r.resync(now, n)
		}
	}
	if r.pos+n > limit { // faster than time passes: timestamps jumping or a flood
		r.mu.Unlock()
		return
	}
	r.appendPCM(pcm)
	r.haveLast, r.ssrc, r.nextTS = true, ssrc, ts+uint32(n)
	r.lastEnd, r.lastAt = r.pos, now
	if len(r.buf) >= recordChunkBytes {
		select {
		case next := <-r.free:
			r.full <- r.buf // never blocks: at most recordChunks buffers exist
			r.buf = next
		default: // the writer lags: buf grows until a buffer comes back
		}
	}
	r.mu.Unlock()
}

// resync places a packet of n samples that starts a new stream so that it
// ends at the wall clock's position now. Called with mu held.
func (r *Recording) resync(now, n int64) {
	if target := r.wallTarget(now) - n; target-r.pos > resyncSlack {
		r.padTo(target)
	}
}

// wallTarget is the position the recording should have reached at now by
// the wall clock: the last packet's end plus the time since it arrived, or
// the time since the start before any packet; never more than the
// recording's own elapsed time. Called with mu held.
func (r *Recording) wallTarget(now int64) int64 {
	elapsed := samplesIn(now - r.start)
	if !r.haveLast {
		return elapsed
	}
	return min(r.lastEnd+samplesIn(now-r.lastAt), elapsed)
}

func samplesIn(nanos int64) int64 {
	if nanos <= 0 {
		return 0
	}
	return nanos * codec.SampleRate / int64(time.Second)
}

// padTo appends silence up to position target, if it lies ahead. Called
// with mu held.
func (r *Recording) padTo(target int64) {
	gap := target - r.pos
	if gap <= 0 {
		return
	}
	r.buf = growZero(r.buf, int(2*gap))
	r.pos = target
}

// appendPCM appends pcm as little-endian 16-bit samples. Called with mu
// held; it allocates only when the writer has fallen behind by more than
// the buffer's capacity.
func (r *Recording) appendPCM(pcm []int16) {
	at := len(r.buf)
	r.buf = growZero(r.buf, 2*len(pcm))
	out := r.buf[at:]
	for i, x := range pcm {
		out[2*i] = byte(x)
		out[2*i+1] = byte(uint16(x) >> 8)
	}
	r.pos += int64(len(pcm))
}

// growZero extends b by n zero bytes.
func growZero(b []byte, n int) []byte {
	at := len(b)
	if at+n <= cap(b) {
		b = b[:at+n]
		clear(b[at:])
		return b
	}
	return append(b, make([]byte, n)...)
}

// run is the recording's writer goroutine.
func (r *Recording) run() {
	defer close(r.done)
	ticker := time.NewTicker(recordFlushInterval)
	defer ticker.Stop()
	for {
		select {
		case data := <-r.full:
			r.write(data)
		case <-ticker.C:
			r.flush(true)
		case <-r.stopping:
			r.flush(false) // the tail: Stop padded and stopped under mu
			return
		}
	}
}

// flush writes the chunks handed off so far, then takes the current
// buffer and writes it too, outside the lock. With padStall it first pads
// silence up to the wall clock if the caller has sent nothing for
// stallAfter.
func (r *Recording) flush(padStall bool) {
	r.mu.Lock()
	if padStall && !r.stopped {
		now := r.s.e.now()
		if end := r.s.endedAt.Load(); end != 0 && end < now {
			now = end
		}
		if !r.haveLast || now-r.lastAt >= int64(stallAfter) {
			r.padTo(r.wallTarget(now))
		}
	}
	older := len(r.full) // chunks sent under mu before now: older than buf
	data := r.buf
	select {
	case r.buf = <-r.free:
	default:
		r.buf = nil // all out: the next append allocates one
	}
	r.mu.Unlock()
	for range older {
		r.write(<-r.full)
	}
	r.write(data)
}

// write writes data to w (unless an earlier write failed) and returns the
// buffer to the pool.
func (r *Recording) write(data []byte) {
	if len(data) > 0 && r.err == nil {
		n, err := r.w.Write(data)
		if err == nil && n < len(data) {
			err = io.ErrShortWrite
		}
		r.written += int64(n / 2)
		r.err = err
	}

	if cap(data) > 4*recordChunkCap || cap(data) == 0 {
		data = make([]byte, 0, recordChunkCap) // do not keep a long gap's buffer
	}
	select {
	case r.free <- data[:0]:
	default: // the pool is full (a buffer was allocated while all were out)
	}
}
