package media

import (
	"errors"
	"io"
	"sync"

	"github.com/pivotua/pivotua/codec"
)

const (
	// bridgeRecQueue is how many frames one party may run ahead of the
	// other before its frames are written against silence (a leg that stopped
	// sending, or was never started).
	bridgeRecQueue = 10
	// bridgeRecChunk is the PCM collected before the writer goroutine gets it.
	bridgeRecChunk = 8000 // bytes: 0.5 s mono, 0.25 s stereo
	bridgeRecPool  = 8
)

// BridgeRecording records both parties of a bridge, as 8 kHz 16-bit
// little-endian PCM: mixed to mono, or two channels (left: the first
// session's party, right: the second's) when dual. Frames are taken where
// each leg's clock sends the other party's voice, so both channels share the
// one 20 ms timeline and silence fills what a party did not say.
//
// The clock goroutine adds frames under mu (held for the copy only) and
// hands full chunks to the writer goroutine, which alone calls w.Write.
type BridgeRecording struct {
	w    io.Writer // written by the writer goroutine only
	dual bool      // immutable

	mu      sync.Mutex // guards below
	q       [2]pcmQueue
	buf     []byte
	frames  int64 // frames written to buf so far (one per 20 ms of the timeline)
	stopped bool

	full     chan []byte // chunks for the writer, in order; closed by Stop
	free     chan []byte // empty chunk buffers
	done     chan struct{}
	written  int64 // samples per channel; writer goroutine, read after done
	err      error // writer goroutine, read after done
	stopOnce sync.Once
	feeds    [2]*bridgeFeed
}

type pcmQueue struct {
	frames  [bridgeRecQueue][codec.FrameSamples]int16
	head, n int
}

// Record starts recording both parties to w (see BridgeRecording) until
// the recording's Stop. One recording per bridge: ErrBusy while one runs.
func (br *Bridge) Record(w io.Writer, dual bool) (*BridgeRecording, error) {
	if w == nil {
		return nil, errors.New("media: Record with a nil writer")
	}
	r := &BridgeRecording{
		w:     w,
		dual:  dual,
		buf:   make([]byte, 0, 2*bridgeRecChunk),
		full:  make(chan []byte, 64),
		free:  make(chan []byte, bridgeRecPool),
		done:  make(chan struct{}),
		feeds: [2]*bridgeFeed{br.ab, br.ba},
	}
	for range bridgeRecPool {
		r.free <- make([]byte, 0, 2*bridgeRecChunk)
	}
	if !br.ab.rec.CompareAndSwap(nil, r) {
		return nil, ErrBusy
	}
	if !br.ba.rec.CompareAndSwap(nil, r) {
		br.ab.rec.CompareAndSwap(r, nil)
		return nil, ErrBusy
	}
	go r.run()
	return r, nil
}

// put adds one frame of channel ch; called by a leg's clock.
func (r *BridgeRecording) put(ch int, pcm *[codec.FrameSamples]int16) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.stopped {
		return
	}
	q := &r.q[ch]
	if q.n == bridgeRecQueue { // the other party is not keeping up: write against silence
		r.emit(&q.frames[q.head], ch, nil)
		q.head = (q.head + 1) % bridgeRecQueue
		q.n--
	}
	q.frames[(q.head+q.n)%bridgeRecQueue] = *pcm
	q.n++
	a, b := &r.q[0], &r.q[1]
	for a.n > 0 && b.n > 0 {
		r.emit(&a.frames[a.head], 0, &b.frames[b.head])
		a.head, b.head = (a.head+1)%bridgeRecQueue, (b.head+1)%bridgeRecQueue
		a.n--
		b.n--
	}
}

// emit appends one frame of the timeline: x on channel ch, y (or silence
// when nil) on the other. Called with mu held.
func (r *BridgeRecording) emit(x *[codec.FrameSamples]int16, ch int, y *[codec.FrameSamples]int16) {
	var zero [codec.FrameSamples]int16
	if y == nil {
		y = &zero
	}
	left, right := x, y
	if ch == 1 {
		left, right = y, x
	}
	if r.dual {
		for i := range codec.FrameSamples {
			r.buf = append(r.buf, byte(left[i]), byte(uint16(left[i])>>8), byte(right[i]), byte(uint16(right[i])>>8))
		}
	} else {
		for i := range codec.FrameSamples {
			v := int32(left[i]) + int32(right[i])
			v = max(-32768, min(32767, v))
			r.buf = append(r.buf, byte(v), byte(uint16(int16(v))>>8))
		}
	}
	r.frames++
	if len(r.buf) >= bridgeRecChunk {
		select {
		case next := <-r.free:
			select {
			case r.full <- r.buf:
				r.buf = next
			default: // the writer is far behind: keep growing buf
				r.free <- next
			}
		default:
		}
	}
}

// Stop ends the recording, writes what is queued (a party ahead of the
// other against silence) and returns the samples written per channel and
// the first write error. It may be called again.
func (r *BridgeRecording) Stop() (samples int64, err error) {
	r.stopOnce.Do(func() {
		for _, f := range r.feeds {
			f.rec.CompareAndSwap(r, nil)
		}
		r.mu.Lock()
		for ch := range r.q {
			q := &r.q[ch]
			for q.n > 0 {
				r.emit(&q.frames[q.head], ch, nil)
				q.head = (q.head + 1) % bridgeRecQueue
				q.n--
			}
		}
		r.stopped = true
		last := r.buf
		r.buf = nil
		r.mu.Unlock()
		r.full <- last // Stop is not on the clock: it may wait for room
		close(r.full)
	})
	<-r.done
	return r.written, r.err
}

// run is the writer goroutine.
func (r *BridgeRecording) run() {
	defer close(r.done)
	perSample := int64(2)
	if r.dual {
		perSample = 4
	}
	for data := range r.full {
		if len(data) > 0 && r.err == nil {
			n, err := r.w.Write(data)
			if err == nil && n < len(data) {
				err = io.ErrShortWrite
			}
			r.written += int64(n) / perSample
			r.err = err
		}
		select {
		case r.free <- data[:0]:
		default:
		}
	}
}
