package flow

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pivotua/pivotua/codec"
)

// fakeChannel is the Channel the interpreter tests drive: it records what the interpreter asked for, in
// order ("ring", "answer", "play 500ms", "reject 486 Busy Here", "hangup"). Play takes playTime.
//
// It is the only fake Channel, but it cannot be imported from internal/testkit or a flow/flowtest:
// such a package must import flow (for CallInfo, Recording, Channel), and flow's own tests are
// package flow, so importing it back from them is an import cycle. Moving the verb tests to
// package flow_test (they would then reach only flow's exported API) would let this move to
// flow/flowtest for other packages' tests too.
type fakeChannel struct {
	info     CallInfo
	playTime time.Duration

	mu       sync.Mutex
	events   []string
	prompts  []*codec.Prompt
	answered bool
	ctx      context.Context // ends with the call
	end      context.CancelFunc
	keys     chan byte // what the caller presses (see press)
	barge    atomic.Pointer[barge]
	voice    []int16 // what the caller says into a recording (see StartRecording)
	recErr   error   // what a recording's Stop returns instead of nil (a write that failed)
}

var _ Channel = (*fakeChannel)(nil)

func newFakeChannel() *fakeChannel {
	f := &fakeChannel{
		info: CallInfo{
			CallID: "call-1@pivotua.test", From: "alice", FromRealm: "alice.example", To: "3004",
			ToRealm: "pivotua.test", Request: "3004", RequestRealm: "pivotua.test",
			CallerIDName: "Alice", CallerIDNumber: "alice", CustomSIPHeaders: map[string]string{"X-Foo": "bar"},
		},
		keys: make(chan byte, 64),
	}
	f.ctx, f.end = context.WithCancel(context.Background())
	return f
}

// press delivers keys as if the caller pressed them.
func (f *fakeChannel) press(keys string) {
	for i := 0; i < len(keys); i++ {
		f.keys <- keys[i]
		if b := f.barge.Load(); b != nil { // as the real leg does: after the key is in keys
			b.key(keys[i])
		}
	}
}

func (f *fakeChannel) Digits() <-chan byte { return f.keys }

func (f *fakeChannel) SendDigits(ctx context.Context, digits string, toneDuration time.Duration) error {
	if err := f.Answer(ctx); err != nil {
		return err
	}
	f.record(fmt.Sprintf("send_dtmf %s %v", digits, toneDuration))
	return nil
}

// StartRecording "records" the caller in real time, 20 ms at a time: f.voice from the start of the
// recording, then silence; with no voice, a 440 Hz tone for as long as the recording runs.
func (f *fakeChannel) StartRecording(w io.Writer) (Recording, error) {
	f.record("record")
	f.mu.Lock()
	voice, recErr := f.voice, f.recErr
	f.mu.Unlock()
	r := &fakeRecording{w: w, start: time.Now(), voice: voice, failWith: recErr, stop: make(chan struct{}), done: make(chan struct{})}
	go r.run()
	return r, nil
}

type fakeRecording struct {
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
func (r *fakeRecording) run() {
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

func (r *fakeRecording) writeUpTo(d time.Duration) {
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

func (r *fakeRecording) Stop() (int64, error) {
	r.once.Do(func() { close(r.stop) })
	<-r.done
	if r.failWith != nil {
		return r.written, r.failWith
	}
	return r.written, r.err
}

func (f *fakeChannel) record(event string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.events = append(f.events, event)
}

func (f *fakeChannel) Info() CallInfo { return f.info }

func (f *fakeChannel) Ring() error {
	f.mu.Lock()
	answered := f.answered
	f.mu.Unlock()
	if !answered {
		f.record("ring")
	}
	return nil
}

func (f *fakeChannel) Answer(context.Context) error {
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

func (f *fakeChannel) Play(ctx context.Context, p *codec.Prompt, stopKeys string) (bool, error) {
	if err := f.Answer(ctx); err != nil {
		return false, err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	b := &barge{keys: stopKeys, stop: cancel}
	f.barge.Store(b)
	defer f.barge.Store(nil)
	f.mu.Lock()
	f.events = append(f.events, "play "+p.Duration().String())
	f.prompts = append(f.prompts, p)
	f.mu.Unlock()
	t := time.NewTimer(f.playTime)
	defer t.Stop()
	select {
	case <-t.C:
		return false, nil
	case <-ctx.Done():
		if b.hit.Load() {
			return true, nil
		}
		return false, ctx.Err()
	case <-f.ctx.Done():
		return false, errors.New("call ended")
	}
}

func (f *fakeChannel) Reject(code int, reason string) error {
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

func (f *fakeChannel) Hangup() error {
	f.record("hangup")
	f.end()
	return nil
}

func (f *fakeChannel) Context() context.Context { return f.ctx }

// remoteHangup ends the call as a BYE from the caller would.
func (f *fakeChannel) remoteHangup() { f.end() }

func (f *fakeChannel) ended() bool {
	select {
	case <-f.ctx.Done():
		return true
	default:
		return false
	}
}

// Events returns what happened so far.
func (f *fakeChannel) Events() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.events...)
}

// Kinds returns the events without play durations ("play 1.2s" -> "play").
func (f *fakeChannel) Kinds() []string {
	var kinds []string
	for _, e := range f.Events() {
		if strings.HasPrefix(e, "play ") {
			e = "play"
		}
		kinds = append(kinds, e)
	}
	return kinds
}

// EndedBy: the fake's calls end by the caller's BYE (remoteHangup) or our own hangup.
func (f *fakeChannel) EndedBy() string { return "caller" }

// Bridge is nil: the fake has no RTP session, so Dial fails on it.
func (f *fakeChannel) Bridge() BridgeLeg { return nil }
