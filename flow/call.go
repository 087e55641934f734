package flow

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/pivotua/pivotua/codec"
)

const (
	// ringDelay is how long a pivot fetch may take before an unanswered call gets 180 Ringing.
	ringDelay = time.Second
	// maxPlayLoops bounds play loop_count and <Play loop="0">.
	maxPlayLoops = 1000
	// maxSpeechChars is Kazoo's pivot.tts_texts_size.
	maxSpeechChars = codec.MaxSpeechText
)

// Call is the state machine of one inbound call. Everything in it is owned by the goroutine that runs
// Run; nothing else may touch a Call while Run is running. Its own fields are what every module and
// verb shares; each feature's state is a small type in that feature's file.
type Call struct {
	ch         Channel
	info       CallInfo
	accountID  string
	signingKey string // the account's api_key; signs every pivot request
	deps       *Deps  // shared with the server's other calls (280 bytes a call as a copy); read only
	log        *slog.Logger

	answered   bool      // we answered (or played, which answers)
	finished   bool      // we sent the final response or BYE ourselves
	activity   int       // counts plays and pauses that took time; guards fetch loops (pivotState)
	started    time.Time // when the call reached the flow
	answeredAt time.Time // zero until answered

	pivot  pivotState     // the running pivot, its iteration and document (kazoo_pivot.go)
	keys   keyState       // keys pressed and collected (dtmf.go)
	vars   callVariables  // set_variables and <Set> (kazoo_set_variables.go)
	rec    recordingState // recordings made and the last one's result (recording.go)
	dial   dialState      // the last Dial's result (dial.go)
	refer  referState     // the last <Refer>'s result (twiml_refer.go)
	events eventState     // the debug flag and how the call ended (event.go)
	ctl    *callEntry     // the call's entry in the Calls registry, steered by the API (calls.go); nil: none

	streams streamState // <Start><Stream> forks running beside the verbs (twiml_stream.go)
	heard   heardState  // the last speech input, for the next request (gather_speech.go)

	callRec *callRecording // the record_call recording running beside the modules (kazoo_record_call.go); nil: none
}

// NewCall prepares the state machine for one call on ch, for the account accountID whose api_key is
// signingKey.
func NewCall(ch Channel, accountID, signingKey string, deps Deps) *Call {
	logger := deps.Logger
	if logger == nil {
		logger = slog.Default()
	}
	return newCall(ch, accountID, signingKey, &deps, logger.With("call_id", ch.Info().CallID))
}

// newCall is NewCall logging to log, which already carries the call's attributes: an inbound call
// shares its leg's logger, and its server's deps.
func newCall(ch Channel, accountID, signingKey string, deps *Deps, log *slog.Logger) *Call {
	info := ch.Info()
	return &Call{
		ch:         ch,
		info:       info,
		accountID:  accountID,
		signingKey: signingKey,
		deps:       deps,
		log:        log,
		started:    time.Now(),
	}
}

// Run executes flow on the call until the flow ends (the call is then hung up), a module ends the call,
// the far end hangs up (ch.Context ends) or ctx is cancelled (the call is hung up).
func (c *Call) Run(ctx context.Context, flow *Node) { c.run(ctx, flow, nil, false) }

// run is Run with first, when set, run before flow's first node (whose children it may take): the
// document of a call the Calls API placed. The call's goroutine waits in its actions below this frame
// for the call's life, so what is rare (errors, a steer's log lines) is in functions of its own: the
// stack in use at rest stays under 4 KB, so the runtime shrinks the call's stack to 8 KB (HandleCall).
//
// checked says flow was validated already (a route's flow, once for all its calls: NewRouter).
func (c *Call) run(ctx context.Context, flow *Node, first kazooAction, checked bool) {
	ctx, release := c.callContext(ctx)
	defer c.wrapUp(release)

	if first == nil && !checked && !c.validFlow(flow) {
		return
	}
	steered := first // the document a Calls API update gave the call, run next
	for n := flow; n != nil && ctx.Err() == nil; {
		action := steered
		if steered != nil {
			steered = nil
		} else if action = c.compile(n); action == nil {
			return
		}
		out, s := c.runSteerable(ctx, action, n)
		switch {
		case s != nil && s.hangup:
			c.steeredHangup()
			return
		case s != nil && !c.ended():
			steered, n = c.steered(s)
			continue
		case out.stop:
			return
		case out.next != nil:
			n = out.next
		default:
			n = nextNode(n, out.child)
		}
	}
}

// callContext is ctx ended by the hangup too (the channel's context ends), and what releases it. A ctx
// that never ends, as HandleCall's, adds nothing to the channel's context, so the call runs under
// that one: a context of its own and a callback that cancels it on the hangup would be kept for the
// call's life (about 450 bytes). No goroutine per call waits for the hangup (context.AfterFunc).
func (c *Call) callContext(ctx context.Context) (context.Context, func()) {
	if ctx.Done() == nil {
		return c.ch.Context(), func() {}
	}
	ctx, cancel := context.WithCancel(ctx)
	stopHangup := context.AfterFunc(c.ch.Context(), cancel)
	return ctx, func() { stopHangup(); cancel() }
}

// wrapUp is what follows run: the call hung up if it is still up, then what needs the call over;
// release ends run's context (callContext).
func (c *Call) wrapUp(release func()) {
	defer release()
	defer c.postCDR()          // last: the call is over and its events are out
	defer c.hangupEvent()      // after finish: the call is over
	defer c.stopStreams()      // after finish: forks send stop once the call is over
	defer c.endCallRecording() // after finish: record_call records to the end of the call
	c.finish()
}

// validFlow reports whether flow is valid; the call ends when it is not.
func (c *Call) validFlow(flow *Node) bool {
	errs := ValidateNode(flow, "flow")
	if len(errs) == 0 {
		return true
	}
	c.log.Error("callflow is invalid", "errors", errors.Join(errs...))
	c.endCall()
	return false
}

// compile makes n's action (compileFlow made it already for a route's flow and a pivot's document)
// and notes it among the call's events; nil, the call ended, when n does not compile.
func (c *Call) compile(n *Node) kazooAction {
	action, errs := n.compiled()
	if len(errs) > 0 { // every node was validated on arrival; this is a bug, not input
		c.log.Error("callflow node is invalid", "module", n.Module, "errors", errors.Join(errs...))
		c.endCall()
		return nil
	}
	// A pivot's event is its request record; a summary is built only for a call that reports events.
	if n.Module != "pivot" && c.events.debug {
		c.event(EventVerb, moduleSummary(n))
	}
	return action
}

// steeredHangup hangs up as a Calls API update asked.
func (c *Call) steeredHangup() {
	c.log.Info("calls API: hanging up")
	c.hangup()
}

// steered is the action and node a Calls API update asked for, to run next.
func (c *Call) steered(s *steer) (kazooAction, *Node) {
	c.log.Info("calls API: running new instructions", "url", s.url, "inline", s.doc != nil, "flow", s.flow != nil)
	return c.steerAction(s)
}

// finish hangs up a call that is still up when Run returns: the flow or document ran out, or ctx ended.
func (c *Call) finish() {
	if !c.finished && !c.ended() {
		c.hangup()
	}
}

// ended reports whether the call is over (far end hung up, media timeout, or our own hangup completed).
func (c *Call) ended() bool {
	select {
	case <-c.ch.Context().Done():
		return true
	default:
		return false
	}
}

func (c *Call) answer(ctx context.Context) error {
	if c.answered {
		return nil
	}
	if err := c.ch.Answer(ctx); err != nil {
		if !c.ended() && ctx.Err() == nil {
			c.log.Warn("answer failed", "err", err)
		}
		return err
	}
	c.answered, c.answeredAt = true, time.Now()
	c.ctl.answeredNow(c.answeredAt)
	c.event(EventAnswered, nil)
	return nil
}

func (c *Call) hangup() {
	if c.answered {
		c.noteEnding(0, "")
	} else {
		c.noteEnding(480, "Temporarily Unavailable") // the Channel's answer to an unanswered hangup
	}
	c.finished = true
	if err := c.ch.Hangup(); err != nil && !c.ended() {
		c.log.Warn("hangup failed", "err", err)
	}
}

// reject ends an unanswered call with a final response; an answered one can only be hung up.
func (c *Call) reject(code int, reason string) {
	if c.answered {
		c.hangup()
		return
	}
	c.noteEnding(code, reason)
	c.finished = true
	if err := c.ch.Reject(code, reason); err != nil && !c.ended() {
		c.log.Warn("reject failed, hanging up", "code", code, "err", err)
		c.hangup()
	}
}

// endCall ends the call after a failure: 503 before answer, BYE after.
func (c *Call) endCall() {
	c.reject(503, "Service Unavailable")
}

// playPrompt answers and plays p loops times (0 = until the call ends); a key among terminators stops
// it (every key is kept for collect_dtmf). false when the call ended.
func (c *Call) playPrompt(ctx context.Context, p *codec.Prompt, loops int, terminators string) bool {
	if err := c.answer(ctx); err != nil {
		return false
	}
	if p.Duration() <= 0 {
		return true
	}
	for i := 0; loops == 0 || i < loops; i++ {
		c.activity++
		interrupted, err := c.playOnce(ctx, p, terminators)
		if interrupted {
			return true
		}
		if err != nil {
			if c.ended() || ctx.Err() != nil {
				return false
			}
			c.log.Warn("play failed", "err", err)
			return true
		}
		if ctx.Err() != nil {
			return false
		}
	}
	return true
}

// wait lets d pass; false when the call ended first.
func (c *Call) wait(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	c.activity++
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// speak renders text with the configured engine unless r names one.
func (c *Call) speak(ctx context.Context, r codec.SpeechRequest) (*codec.Prompt, error) {
	if c.deps.Speech == nil {
		return nil, errors.New("no text-to-speech configured")
	}
	if r.Engine == "" {
		r.Engine = c.deps.TTSEngine
	}
	p, err := c.deps.Speech.Prompt(ctx, r)
	if err != nil {
		return nil, fmt.Errorf("text to speech (%s): %w", r.Engine, err)
	}
	return p, nil
}
