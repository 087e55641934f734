package flow

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/pivotua/pivotua/codec"
)

// fakeChannel is the Channel the interpreter tests drive: it records what the interpreter asked for, in
// order ("ring", "answer", "play 500ms", "reject 486 Busy Here", "hangup"). Play takes playTime.
type fakeChannel struct {
	info     CallInfo
	playTime time.Duration

	mu       sync.Mutex
	events   []string
	prompts  []*codec.Prompt
	answered bool
	done     chan struct{}
	once     sync.Once
	keys     chan byte // what the caller presses (see press)
}

var _ Channel = (*fakeChannel)(nil)

func newFakeChannel() *fakeChannel {
	return &fakeChannel{
		info: CallInfo{
			CallID: "call-1@pivotua.test", From: "alice", FromRealm: "alice.example", To: "3004",
			ToRealm: "pivotua.test", Request: "3004", RequestRealm: "pivotua.test",
			CallerIDName: "Alice", CallerIDNumber: "alice", CustomSIPHeaders: map[string]string{"X-Foo": "bar"},
		},
		done: make(chan struct{}),
		keys: make(chan byte, 64),
	}
}

// press delivers keys as if the caller pressed them.
func (f *fakeChannel) press(keys string) {
	for i := 0; i < len(keys); i++ {
		f.keys <- keys[i]
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

// StartRecording "records" a 440 Hz tone for as long as the recording runs.
func (f *fakeChannel) StartRecording(w io.Writer) (Recording, error) {
	f.record("record")
	return &fakeRecording{w: w, start: time.Now()}, nil
}

type fakeRecording struct {
	w     io.Writer
	start time.Time
}

func (r *fakeRecording) Stop() (int64, error) {
	pcm := codec.Tone(440, time.Since(r.start), 0.5)
	buf := make([]byte, 2*len(pcm))
	for i, v := range pcm {
		binary.LittleEndian.PutUint16(buf[2*i:], uint16(v))
	}
	_, err := r.w.Write(buf)
	return int64(len(pcm)), err
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

func (f *fakeChannel) Play(ctx context.Context, p *codec.Prompt) error {
	if err := f.Answer(ctx); err != nil {
		return err
	}
	f.mu.Lock()
	f.events = append(f.events, "play "+p.Duration().String())
	f.prompts = append(f.prompts, p)
	f.mu.Unlock()
	t := time.NewTimer(f.playTime)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-f.done:
		return errors.New("call ended")
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

func (f *fakeChannel) Done() <-chan struct{} { return f.done }

// remoteHangup ends the call as a BYE from the caller would.
func (f *fakeChannel) remoteHangup() { f.end() }

func (f *fakeChannel) end() { f.once.Do(func() { close(f.done) }) }

func (f *fakeChannel) ended() bool {
	select {
	case <-f.done:
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
