package flowtest

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/pivotua/pivotua/codec"
	"github.com/pivotua/pivotua/flow"
	"github.com/pivotua/pivotua/sip"
)

// Channel is the fake flow.Channel the interpreter tests drive: it records what the interpreter
// asked for, in order ("ring", "answer", "play 500ms", "send_dtmf 12 100ms", "record",
// "reject 486 Busy Here", "hangup"). It has no RTP session, so a Dial on it fails (Bridge is nil).
//
// Set PlayTime, Voice and RecordErr before the call runs; Press and RemoteHangup act as the caller
// from any goroutine while it runs.
type Channel struct {
	// PlayTime is how long each Play takes; 0 returns at once.
	PlayTime time.Duration
	// Voice is what the caller says into a recording, from its start, then silence; nil: a 440 Hz
	// tone for as long as the recording runs.
	Voice []int16
	// RecordErr is what a recording's Stop returns instead of nil (a write that failed).
	RecordErr error

	info flow.CallInfo
	ctx  context.Context // ends with the call
	end  context.CancelFunc
	keys chan byte // what the caller presses (see Press)

	mu       sync.Mutex
	events   []string
	prompts  []*codec.Prompt
	answered bool
	// While Play runs, a key Press delivers among stopKeys calls stopPlay and sets stopped
	// (barge-in, as the real leg does it).
	stopKeys string
	stopPlay context.CancelFunc
	stopped  bool
	// What Refer returns (refer.go).
	referResult sip.ReferResult
	referErr    error
}

var _ flow.Channel = (*Channel)(nil)

// NewChannel is a call from alice (caller ID "Alice") to 3004 at pivotua.test, with one custom SIP
// header (X-Foo: bar), not answered yet.
func NewChannel() *Channel {
	f := &Channel{
		info: flow.CallInfo{
			CallID: "call-1@pivotua.test", From: "alice", FromRealm: "alice.example", To: "3004",
			ToRealm: "pivotua.test", Request: "3004", RequestRealm: "pivotua.test",
			CallerIDName: "Alice", CallerIDNumber: "alice", CustomSIPHeaders: map[string]string{"X-Foo": "bar"},
		},
		keys: make(chan byte, 64),
	}
	f.ctx, f.end = context.WithCancel(context.Background())
	return f
}

// Press delivers keys as if the caller pressed them (at most 64 unread).
func (f *Channel) Press(keys string) {
	for i := 0; i < len(keys); i++ {
		f.keys <- keys[i]
		// As the real leg does: the key is in Digits before it stops the prompt.
		f.mu.Lock()
		if f.stopPlay != nil && strings.IndexByte(f.stopKeys, keys[i]) >= 0 {
			f.stopped = true
			f.stopPlay()
		}
		f.mu.Unlock()
	}
}

// RemoteHangup ends the call as a BYE from the caller would.
func (f *Channel) RemoteHangup() { f.end() }

// Events returns what the interpreter asked for so far.
func (f *Channel) Events() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.events)
}

// Kinds returns the events without play durations ("play 1.2s" -> "play").
func (f *Channel) Kinds() []string {
	var kinds []string
	for _, e := range f.Events() {
		if strings.HasPrefix(e, "play ") {
			e = "play"
		}
		kinds = append(kinds, e)
	}
	return kinds
}

// Prompts returns the prompts played so far, in order.
func (f *Channel) Prompts() []*codec.Prompt {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.prompts)
}

func (f *Channel) record(event string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.events = append(f.events, event)
}

func (f *Channel) ended() bool { return f.ctx.Err() != nil }

// Info is the call NewChannel describes.
func (f *Channel) Info() flow.CallInfo { return f.info }

// Ring records "ring" until the call is answered.
func (f *Channel) Ring() error {
	f.mu.Lock()
	answered := f.answered
	f.mu.Unlock()
	if !answered {
		f.record("ring")
	}
	return nil
}

// Answer records "answer" once; it fails once the call ended.
func (f *Channel) Answer(context.Context) error {
	if f.ended() {
		return errors.New("call ended")
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.answered {
		f.answered = true
		f.events = append(f.events, "answer")
	}
	return nil
}

// Play answers, records "play <the prompt's duration>" and takes PlayTime, unless a key among
// stopKeys is pressed (stopped), ctx ends or the call ends first.
func (f *Channel) Play(ctx context.Context, p *codec.Prompt, stopKeys string) (bool, error) {
	if err := f.Answer(ctx); err != nil {
		return false, err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	f.mu.Lock()
	f.events = append(f.events, "play "+p.Duration().String())
	f.prompts = append(f.prompts, p)
	f.stopKeys, f.stopPlay, f.stopped = stopKeys, cancel, false
	f.mu.Unlock()
	defer func() {
		f.mu.Lock()
		f.stopKeys, f.stopPlay = "", nil
		f.mu.Unlock()
	}()
	t := time.NewTimer(f.PlayTime)
	defer t.Stop()
	select {
	case <-t.C:
		return false, nil
	case <-ctx.Done():
		f.mu.Lock()
		stopped := f.stopped
		f.mu.Unlock()
		if stopped {
			return true, nil
		}
		return false, ctx.Err()
	case <-f.ctx.Done():
		return false, errors.New("call ended")
	}
}

// Reject records "reject <code> <reason>" and ends the call; an answered call cannot be rejected.
func (f *Channel) Reject(code int, reason string) error {
	f.mu.Lock()
	answered := f.answered
	f.mu.Unlock()
	if answered {
		return errors.New("already answered")
	}
	f.record(fmt.Sprintf("reject %d %s", code, reason))
	f.end()
	return nil
}

// Hangup records "hangup" and ends the call.
func (f *Channel) Hangup() error {
	f.record("hangup")
	f.end()
	return nil
}

// Context ends when the call ends (Hangup, Reject, RemoteHangup).
func (f *Channel) Context() context.Context { return f.ctx }

// EndedBy is "caller": the fake has no media to time out.
func (f *Channel) EndedBy() string { return "caller" }

// Bridge is nil: the fake has no RTP session, so a Dial on it fails.
func (f *Channel) Bridge() flow.BridgeLeg { return nil }

// Digits delivers what Press pressed.
func (f *Channel) Digits() <-chan byte { return f.keys }

// SendDigits answers and records "send_dtmf <digits> <toneDuration>".
func (f *Channel) SendDigits(ctx context.Context, digits string, toneDuration time.Duration) error {
	if err := f.Answer(ctx); err != nil {
		return err
	}
	f.record(fmt.Sprintf("send_dtmf %s %v", digits, toneDuration))
	return nil
}

// StartRecording records "record" and "records" the caller in real time, 20 ms at a time: Voice from
// the start of the recording, then silence; with no Voice, a 440 Hz tone for as long as it runs.
func (f *Channel) StartRecording(w io.Writer) (flow.Recording, error) {
	f.record("record")
	r := &recording{w: w, start: time.Now(), voice: f.Voice, failWith: f.RecordErr, stop: make(chan struct{}), done: make(chan struct{})}
	go r.run()
	return r, nil
}

type recording struct {
	w        io.Writer
	start    time.Time
	voice    []int16 // nil: a tone throughout
	failWith error   // returned by Stop when not nil

	stop, done chan struct{}
	once       sync.Once
	written    int64 // by run, read after done
	err        error
}

// run writes what the caller "said" up to the wall clock every 20 ms, and the tail at Stop.
func (r *recording) run() {
	defer close(r.done)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-tick.C:
			r.writeUpTo(time.Since(r.start))
		case <-r.stop:
			r.writeUpTo(time.Since(r.start))
			return
		}
	}
}

func (r *recording) writeUpTo(d time.Duration) {
	end := int64(d * codec.SampleRate / time.Second)
	if end <= r.written || r.err != nil {
		return
	}
	buf := make([]byte, 2*(end-r.written))
	for i := r.written; i < end; i++ {
		var v int16
		switch {
		case r.voice == nil:
			v = int16(0.5 * 32767 * math.Sin(2*math.Pi*440*float64(i)/codec.SampleRate))
		case i < int64(len(r.voice)):
			v = r.voice[i]
		}
		binary.LittleEndian.PutUint16(buf[2*(i-r.written):], uint16(v))
	}
	_, r.err = r.w.Write(buf)
	r.written = end
}

func (r *recording) Stop() (int64, error) {
	r.once.Do(func() { close(r.stop) })
	<-r.done
	if r.failWith != nil {
		return r.written, r.failWith
	}
	return r.written, r.err
}
