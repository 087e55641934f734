package speech

import (
	"context"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// FrameSamples is one 20 ms frame of 8 kHz audio, what Write takes.
const FrameSamples = 160

// queueFrames bounds the audio waiting for the engine: two seconds. A recogniser slower than real
// time loses frames (counted) rather than holding them without bound or blocking the caller.
const queueFrames = 100

// Request says what one recognition listens for.
type Request struct {
	Language string   // BCP 47 tag ("en-US"); "" is en-US
	Hints    []string // phrases the caller is likely to say (Twilio's hints)
	// Model, Enhanced and ProfanityFilter are Twilio's speechModel, enhanced and profanityFilter:
	// the http engine passes them on; the offline engine has one model and filters nothing.
	Model           string
	Enhanced        bool
	ProfanityFilter bool
	CallID          string // passed to the http engine, for its logs
	AccountID       string
	// OnPartial, when set, receives the text recognised so far each time it grows: stable is what
	// later audio will not change, unstable the rest. It is called from the recognition's own
	// goroutine, in order, and must not block for long.
	OnPartial func(stable, unstable string)
}

// Result is what a recognition heard.
type Result struct {
	Text       string  // the words, lower case for the offline engine; "" when nothing was recognised
	Confidence float64 // 0 to 1
	Dropped    uint64  // frames the queue had no room for
	Truncated  bool    // the audio passed Settings.MaxSeconds; the rest was not recognised
}

// Recognizer starts recognitions; *Pocketsphinx and *HTTPEngine implement it.
type Recognizer interface {
	// Check reports whether r can be recognised at all (ErrLanguage), before any audio.
	Check(r Request) error
	// Start begins a recognition, or fails at once with ErrBusy when the cap is reached. ctx bounds
	// it: when ctx ends the engine is stopped (a child process is killed).
	Start(ctx context.Context, r Request) (*Recognition, error)
}

// engineSession is one engine's side of a recognition.
type engineSession interface {
	write(pcm []int16) error                    // blocks until the engine took the audio
	finish(ctx context.Context) (Result, error) // ends the audio and waits for the result
	abort()                                     // stops the engine at once
}

// pool caps the recognitions running at once.
type pool struct {
	slots     chan struct{}
	maxFrames int
	running   atomic.Int64
}

func newPool(n int, maxAudio time.Duration) *pool {
	return &pool{slots: make(chan struct{}, n), maxFrames: int(maxAudio / (20 * time.Millisecond))}
}

func (p *pool) acquire() bool {
	select {
	case p.slots <- struct{}{}:
		p.running.Add(1)
		return true
	default:
		return false
	}
}

func (p *pool) release() {
	p.running.Add(-1)
	<-p.slots
}

// Recognition is one recognition in progress. Write, Close and Abort belong to one goroutine (the
// call's); the pump goroutine alone talks to the engine.
type Recognition struct {
	frames  chan [FrameSamples]int16
	dropped atomic.Uint64
	sess    engineSession
	pool    *pool

	// Owned by the goroutine that calls Write and Close.
	written   int
	maxFrames int
	truncated bool
	closed    bool

	pumped  chan struct{} // closed when the pump is done
	pumpErr error         // written by the pump before pumped closes
	once    sync.Once
	partial func(stable, unstable string)
}

func newRecognition(p *pool, sess engineSession, r Request) *Recognition {
	rec := &Recognition{
		frames: make(chan [FrameSamples]int16, queueFrames), sess: sess, pool: p,
		maxFrames: p.maxFrames, pumped: make(chan struct{}), partial: r.OnPartial,
	}
	go rec.pump()
	return rec
}

func (r *Recognition) pump() {
	defer close(r.pumped)
	for f := range r.frames {
		if r.pumpErr != nil {
			continue // drain: the engine is gone, the writer must never block
		}
		r.pumpErr = r.sess.write(f[:])
	}
}

// Write queues one frame (at most FrameSamples samples of 8 kHz audio) without blocking; false
// when it was dropped (queue full, past the length cap, or closed).
func (r *Recognition) Write(pcm []int16) bool {
	if r.closed {
		return false
	}
	if r.written >= r.maxFrames {
		r.truncated = true
		return false
	}
	var f [FrameSamples]int16
	copy(f[:], pcm)
	select {
	case r.frames <- f:
		r.written++
		return true
	default:
		r.dropped.Add(1)
		return false
	}
}

// Truncated reports that audio past Settings.MaxSeconds was offered: Write takes no more.
func (r *Recognition) Truncated() bool { return r.truncated }

// Dropped counts the frames the queue had no room for.
func (r *Recognition) Dropped() uint64 { return r.dropped.Load() }

// Close ends the audio and waits (up to ctx) for what the engine recognised.
func (r *Recognition) Close(ctx context.Context) (Result, error) {
	if r.closed {
		return Result{}, ErrEngine
	}
	r.closed = true
	close(r.frames)
	defer r.release()
	select {
	case <-r.pumped:
	case <-ctx.Done():
		r.sess.abort()
		return Result{}, ctx.Err()
	}
	if r.pumpErr != nil {
		r.sess.abort()
		return Result{}, r.pumpErr
	}
	res, err := r.sess.finish(ctx)
	if err != nil {
		r.sess.abort()
	}
	res.Dropped, res.Truncated = r.dropped.Load(), r.truncated
	return res, err
}

// Abort stops the recognition without a result (the call ended).
func (r *Recognition) Abort() {
	if !r.closed {
		r.closed = true
		close(r.frames)
	}
	r.sess.abort()
	r.release()
}

func (r *Recognition) release() { r.once.Do(r.pool.release) }

// offlineLanguage reports whether lang is US English, the one language Debian's model knows.
func offlineLanguage(lang string) bool {
	return lang == "" || strings.EqualFold(lang, "en-US") || strings.EqualFold(lang, "en")
}
