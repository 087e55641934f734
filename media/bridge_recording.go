package media

import (
	"errors"
	"io"
	"runtime"
	"sync"

	"github.com/pivotua/pivotua/codec"
)

const (
	// bridgeRecChunk is the PCM collected before the writer goroutine gets it.
	bridgeRecChunk = 8000 // bytes: 0.5 s mono, 0.25 s stereo
	bridgeRecPool  = 8
)

// RoomRecording records a room, as 8 kHz 16-bit little-endian PCM: what the
// room hears mixed to mono, or, for a bridge, two channels (left: the first
// session's party, right: the second's) when dual. Frames are taken by the
// room's mixer, one per mix, so every channel shares the one 20 ms timeline
// and silence fills what a party did not say.
//
// The mixer (the clock holding the room's mix token) alone appends to buf
// and hands full chunks to the writer goroutine, which alone calls w.Write;
// Stop takes the token to take buf over. No lock is taken on a clock.
type RoomRecording struct {
	w       io.Writer     // written by the writer goroutine only
	dual    bool          // immutable
	room    *Room         // immutable
	parties [2]*roomParty // dual's channels; immutable
	buf     []byte        // mixer only (Stop once it holds the token)
	full    chan []byte   // chunks for the writer, in order; closed by Stop
	free    chan []byte   // empty chunk buffers
	done    chan struct{} // closed by the writer when it is done
	written int64         // samples per channel; writer goroutine, read after done
	err     error         // writer goroutine, read after done
	once    sync.Once
}

// BridgeRecording is a bridge's recording (Bridge.Record): a recording of
// its room of two.
type BridgeRecording = RoomRecording

// Record starts recording both parties to w (see RoomRecording) until the
// recording's Stop. One recording per bridge: ErrBusy while one runs.
func (br *Bridge) Record(w io.Writer, dual bool) (*BridgeRecording, error) {
	return br.room.record(w, dual, [2]*roomParty{br.ab, br.ba})
}

func (r *Room) record(w io.Writer, dual bool, parties [2]*roomParty) (*RoomRecording, error) {
	if w == nil {
		return nil, errors.New("media: Record with a nil writer")
	}
	rec := &RoomRecording{
		w:       w,
		dual:    dual,
		room:    r,
		parties: parties,
		buf:     make([]byte, 0, 2*bridgeRecChunk),
		full:    make(chan []byte, 64),
		free:    make(chan []byte, bridgeRecPool),
		done:    make(chan struct{}),
	}
	for range bridgeRecPool {
		rec.free <- make([]byte, 0, 2*bridgeRecChunk)
	}
	if !r.rec.CompareAndSwap(nil, rec) {
		return nil, ErrBusy
	}
	go rec.run()
	return rec, nil
}

// put appends one mix: the room's total (mono), or each bridge party's voice
// on its channel (dual). Mixer only.
func (rec *RoomRecording) put(total *[codec.FrameSamples]int32, gen uint64) {
	if rec.dual {
		var zero [codec.FrameSamples]int16
		left, right := &zero, &zero
		if p := rec.parties[0]; p.curGen == gen && p.heard {
			left = &p.cur
		}
		if p := rec.parties[1]; p.curGen == gen && p.heard {
			right = &p.cur
		}
		for i := range codec.FrameSamples {
			rec.buf = append(rec.buf, byte(left[i]), byte(uint16(left[i])>>8), byte(right[i]), byte(uint16(right[i])>>8))
		}
	} else {
		for _, t := range total {
			v := saturate(t)
			rec.buf = append(rec.buf, byte(v), byte(uint16(v)>>8))
		}
	}
	if len(rec.buf) < bridgeRecChunk {
		return
	}
	select {
	case next := <-rec.free:
		select {
		case rec.full <- rec.buf:
			rec.buf = next
		default: // the writer is far behind: keep growing buf
			rec.free <- next
		}
	default:
	}
}

// Stop ends the recording, writes what is buffered and returns the samples
// written per channel and the first write error. It may be called again.
func (rec *RoomRecording) Stop() (samples int64, err error) {
	rec.once.Do(func() {
		r := rec.room
		r.rec.CompareAndSwap(rec, nil)
		// Once Stop holds the mix token no mixer is using rec, and none
		// will: they find r.rec cleared.
		for !r.mixing.CompareAndSwap(false, true) {
			runtime.Gosched()
		}
		last := rec.buf
		rec.buf = nil
		r.mixing.Store(false)
		rec.full <- last // Stop is not on a clock: it may wait for room
		close(rec.full)
	})
	<-rec.done
	return rec.written, rec.err
}

// run is the writer goroutine.
func (rec *RoomRecording) run() {
	defer close(rec.done)
	perSample := int64(2)
	if rec.dual {
		perSample = 4
	}
	for data := range rec.full {
		if len(data) > 0 && rec.err == nil {
			n, err := rec.w.Write(data)
			if err == nil && n < len(data) {
				err = io.ErrShortWrite
			}
			rec.written += int64(n) / perSample
			rec.err = err
		}
		select {
		case rec.free <- data[:0]:
		default:
		}
	}
}
