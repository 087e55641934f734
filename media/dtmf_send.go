package media

import (
	"context"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/pivotua/pivotua/codec"
)

const (
	// DefaultDigitDuration is the tone length SendDigits uses for a
	// toneDuration of 0.
	DefaultDigitDuration = 100 * time.Millisecond
	// MinDigitDuration and MaxDigitDuration bound SendDigits' toneDuration.
	// The maximum keeps the 16-bit RFC 4733 §2.3.5 duration from wrapping,
	// so no event needs §2.5.1.3's long-duration segments.
	MinDigitDuration = 40 * time.Millisecond
	MaxDigitDuration = 8 * time.Second

	// digitVolume is the RFC 4733 §2.3.4 volume sent: -10 dBm0.
	digitVolume = 10
	// digitEndPackets is how often the final packet is sent (§2.5.1.4).
	digitEndPackets = 3
	// digitGapFrames is the normal audio between two digits: 60 ms.
	digitGapFrames = 3
	// pauseFrames and longPauseFrames are 'w' (0.5 s) and 'W' (1 s), as in
	// Twilio's sendDigits.
	pauseFrames     = 25
	longPauseFrames = 50
)

// dtmfStep is one element of a SendDigits string: a key to send as an event,
// or frames of normal audio (a gap or a pause).
type dtmfStep struct {
	event  uint8
	key    bool
	frames int // for gaps and pauses
}

// dtmfSend is one SendDigits handed to the clock.
type dtmfSend struct {
	steps       []dtmfStep // immutable
	toneFrames  int        // packets per key before the end packets; immutable
	stop        atomic.Bool
	done        chan struct{} // closed by the clock after the last packet
	err         error         // written by the clock before done closes
	step, frame int           // clock-owned progress
	eventTS     uint32        // clock-owned: the running event's timestamp
	sent        int           // clock-owned: the running event's duration in frames
}

// parseDigits turns a SendDigits string into steps: a 60 ms gap of normal
// audio goes between two keys, 'w' and 'W' are pauses.
func parseDigits(digits string) ([]dtmfStep, error) {
	steps := make([]dtmfStep, 0, 2*len(digits))
	lastKey := false
	for i := 0; i < len(digits); i++ {
		c := digits[i]
		switch c {
		case 'w':
			steps = append(steps, dtmfStep{frames: pauseFrames})
			lastKey = false
			continue
		case 'W':
			steps = append(steps, dtmfStep{frames: longPauseFrames})
			lastKey = false
			continue
		}
		code, ok := dtmfEventCode(c)
		if !ok {
			return nil, fmt.Errorf("%w %q at position %d of %q", ErrInvalidDigit, c, i, digits)
		}
		if lastKey {
			steps = append(steps, dtmfStep{frames: digitGapFrames})
		}
		steps = append(steps, dtmfStep{event: code, key: true})
		lastKey = true
	}
	return steps, nil
}

// SendDigits sends digits to the peer as RFC 4733 telephone-events on the
// session's own SSRC, sequence numbers and timestamp clock, and returns once
// the last one is on the wire. Each key is toneDuration long (0 means
// DefaultDigitDuration; it is clamped to MinDigitDuration..MaxDigitDuration):
// its event packets replace the audio frames on the 20 ms schedule (a
// playing prompt holds its position and resumes after), followed by three
// end packets, and 60 ms of normal audio separate two keys. 'w' pauses for
// 0.5 s and 'W' for 1 s. Keys are 0-9, *, # and A-D in either case; any
// other character fails with ErrInvalidDigit before anything is sent.
//
// The session must be started with an EventPayloadType, else
// ErrNoTelephoneEvent (in-band tone generation could be added for peers
// without telephone-event). Only one SendDigits runs at a time (ErrBusy).
// If ctx ends, the key being sent is ended properly (its end packets go
// out) and ctx's error is returned; if the session ends, its Err. On hold
// (SetSending(false)) the keys advance as if sent, like prompts.
func (s *Session) SendDigits(ctx context.Context, digits string, toneDuration time.Duration) error {
	steps, err := parseDigits(digits)
	if err != nil {
		return err
	}
	if s.finished.Load() {
		return s.errOrClosed()
	}
	cfg := s.cfg.Load()
	if cfg == nil {
		return ErrNotStarted
	}
	if cfg.eventPayloadType == 0 {
		return ErrNoTelephoneEvent
	}
	if len(steps) == 0 {
		return nil
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if toneDuration == 0 {
		toneDuration = DefaultDigitDuration
	}
	toneDuration = max(MinDigitDuration, min(MaxDigitDuration, toneDuration))
	job := &dtmfSend{
		steps:      steps,
		toneFrames: int((toneDuration + codec.FrameDuration/2) / codec.FrameDuration),
		done:       make(chan struct{}),
	}
	if !s.dtmf.CompareAndSwap(nil, job) {
		return ErrBusy
	}
	select {
	case <-job.done:
		return job.err
	case <-ctx.Done():
		job.stop.Store(true) // the clock ends the running key, then the job
		select {
		case <-job.done:
		case <-s.done:
			s.dtmf.CompareAndSwap(job, nil)
		}
		return ctx.Err()
	case <-s.done:
		job.stop.Store(true)
		s.dtmf.CompareAndSwap(job, nil)
		return s.errOrClosed()
	}
}

// nextDTMF is called by the clock once per frame while a SendDigits job is
// published. It reports whether this frame carries an event packet instead
// of audio, and that packet's event block and marker bit; tx.ts is the
// frame's timestamp. When the job's last frame is decided, the job is
// marked to complete after the write.
func (s *Session) nextDTMF(job *dtmfSend, cfg *sendConfig) (ev telephoneEvent, marker, isEvent bool) {
	tx := &s.tx
	if cfg.eventPayloadType == 0 { // a re-INVITE dropped telephone-event
		job.err = ErrNoTelephoneEvent
		tx.dtmfFinishing = job
		return ev, false, false
	}
	stopping := job.stop.Load()
	for job.step < len(job.steps) {
		st := &job.steps[job.step]
		if !st.key {
			if stopping || job.frame >= st.frames {
				job.step++
				job.frame = 0
				continue
			}
			job.frame++
			if job.frame == st.frames && job.step == len(job.steps)-1 {
				tx.dtmfFinishing = job
			}
			return ev, false, false
		}
		if stopping && job.frame == 0 {
			break // do not start another key
		}
		// RFC 4733 §2.5.1.2: the event's timestamp is its start and stays
		// on every packet (the marker bit is set on the first); the
		// duration grows by a frame per packet.
		if job.frame == 0 {
			job.eventTS = tx.ts
			job.sent = 0
			marker = true
		}
		if stopping && job.frame < job.toneFrames {
			job.frame = job.toneFrames // end the key now rather than leave it hanging
		}
		ev = telephoneEvent{event: st.event, volume: digitVolume}
		if job.frame < job.toneFrames {
			job.sent++
		} else {
			ev.end = true // §2.5.1.4: the final packet, three times, same duration
		}
		ev.duration = uint16(job.sent * codec.FrameSamples)
		job.frame++
		if job.frame >= job.toneFrames+digitEndPackets {
			job.step++
			job.frame = 0
			if job.step == len(job.steps) || stopping {
				tx.dtmfFinishing = job
			}
		}
		return ev, marker, true
	}
	tx.dtmfFinishing = job // stopped, or (not reached) past the last step
	return ev, false, false
}

func (s *Session) completeDTMF() {
	if job := s.tx.dtmfFinishing; job != nil {
		s.tx.dtmfFinishing = nil
		s.dtmf.CompareAndSwap(job, nil)
		close(job.done)
	}
}
