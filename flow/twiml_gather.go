package flow

import (
	"context"
	"math"
	"strings"
	"time"
)

// gatherVerb is <Gather> with Twilio's defaults: nested <Say>, <Play> and <Pause> play until the first
// key (barge-in), then keys are collected until numDigits, finishOnKey or timeout seconds without a
// key. With at least one digit the action is requested with Digits; with none the next verb runs.
type gatherVerb struct {
	action      string // "" = the document's URL
	method      string
	timeout     time.Duration // after the prompts, and between keys
	finishOnKey string        // "" = none
	numDigits   int           // 0 = unlimited
	// actionOnEmptyResult requests the action even without digits (Twilio and SignalWire attribute).
	actionOnEmptyResult bool
	prompts             []gatherPrompt
	// speech listens to the caller too (input has speech; gather_speech.go); nil: keys only.
	speech *speechInput
	dtmf   bool // input has dtmf: a key ends speech input and the keys are gathered
}

// gatherPrompt is a verb that may be nested in <Gather>: it plays until the caller presses any key
// (the key stays in the type-ahead for the Gather). false when the call ended.
type gatherPrompt interface {
	prompt(ctx context.Context, c *Call) bool
}

// anyKey lets every key barge in on a <Gather>'s prompts.
const anyKey = allDTMFKeys + "ABCD"

func parseGatherVerb(p *twimlParser, e *xmlElement, path string) twimlVerb {
	a := p.attrs(e, path, "action", "method", "timeout", "finishOnKey", "numDigits", "input", "language",
		"hints", "speechTimeout", "speechModel", "profanityFilter", "enhanced", "actionOnEmptyResult",
		"partialResultCallback", "partialResultCallbackMethod", "maxSpeechTime", "bargeIn")
	v := &gatherVerb{action: p.urlAttr(a, path, "action"), method: p.methodAttr(a, path)}
	v.timeout = time.Duration(p.intAttr(a, path, "timeout", 5, 1, 3600, "must be an integer between 1 and 3600")) * time.Second
	v.finishOnKey = p.dtmfAttr(a, path, "finishOnKey", "#")
	if len(v.finishOnKey) > 1 {
		p.fail(path+"@finishOnKey", "must be one DTMF key or empty")
	}
	v.numDigits = p.intAttr(a, path, "numDigits", 0, 1, math.MaxInt32, "must be a positive integer")
	input := p.enumAttr(a, path, "input", "dtmf", "dtmf", "speech", "dtmf speech", "speech dtmf")
	v.dtmf = strings.Contains(input, "dtmf")
	if strings.Contains(input, "speech") {
		v.speech = parseSpeechAttrs(p, a, path, v.timeout)
	}
	v.actionOnEmptyResult = p.boolAttr(a, path, "actionOnEmptyResult", false)
	p.noText(e, path)
	p.eachChild(e, path, func(child *xmlElement, cpath string) {
		var verb twimlVerb
		switch child.name {
		case "Say":
			verb = parseSayVerb(p, child, cpath)
		case "Play":
			verb = parsePlayVerb(p, child, cpath)
		case "Pause":
			verb = parsePauseVerb(p, child, cpath)
		default:
			p.fail(cpath, "<"+child.name+"> is not allowed in <Gather>")
			return
		}
		v.prompts = append(v.prompts, verb.(gatherPrompt))
	})
	return v
}

func (v *gatherVerb) run(ctx context.Context, c *Call, _ int) twimlOutcome {
	if c.answer(ctx) != nil {
		return twimlStop
	}
	c.activity++
	c.takeTypeAhead() // keys pressed before the Gather listens do not count (Twilio)
	// Speech is heard from the start, prompts included; with bargeIn the caller's voice stops them.
	var listener *speechListener
	promptCtx := ctx
	if v.speech != nil {
		listener = c.startListening(ctx, v.speech)
		if v.speech.bargeIn {
			var stopPrompts context.CancelFunc
			promptCtx, stopPrompts = context.WithCancel(ctx)
			defer stopPrompts()
			go func() {
				select {
				case <-listener.speaking():
					stopPrompts()
				case <-promptCtx.Done():
				}
			}()
		}
	}
	for _, p := range v.prompts {
		if len(c.keys.typeAhead) > 0 || promptCtx.Err() != nil {
			break // barge-in: the first key (or the caller's voice) ends the prompts
		}
		if !p.prompt(promptCtx, c) {
			if ctx.Err() == nil && !c.ended() && promptCtx.Err() != nil {
				break
			}
			if listener != nil {
				listener.abort()
			}
			return twimlStop
		}
	}
	if v.speech != nil {
		h, ok := c.awaitSpeech(ctx, listener, v.timeout, v.dtmf)
		if !ok {
			return twimlStop
		}
		if h.keys == nil && !(h.failed && v.dtmf) { // speech, not a key, came first
			return v.spoken(c, h)
		}
	}
	max := v.numDigits
	if max == 0 {
		max = math.MaxInt
	}
	digits, ok := c.collectDigits(ctx, max, v.timeout, v.timeout, v.finishOnKey)
	c.takeTypeAhead() // keys after the finishing one belong to nobody
	if !ok {
		return twimlStop
	}
	c.log.Info("<Gather>", "digits", digits)
	c.event(EventDigits, map[string]any{"digits": digits, "verb": "Gather"})
	if digits == "" && !v.actionOnEmptyResult {
		return twimlOutcome{} // no input: the next verb runs
	}
	out, ok := v.toAction(c)
	if ok {
		c.keys.setDigits("default", digits)
	}
	return out
}

// toAction is the request of the Gather's action (the document's own URL when it has none); false
// when that URL is unusable: the next verb runs.
func (v *gatherVerb) toAction(c *Call) (twimlOutcome, bool) {
	action := v.action
	if action == "" {
		action = c.pivot.documentURL
	}
	target, err := c.resolveURL(action)
	if err != nil {
		c.log.Warn("<Gather> action unusable, continuing", "action", action, "err", err)
		return twimlOutcome{}, false
	}
	return twimlOutcome{redirect: target, method: v.method}, true
}

// spoken ends a speech Gather with what was heard: the action gets SpeechResult and Confidence;
// nothing heard runs the next verb (or the action, with actionOnEmptyResult).
func (v *gatherVerb) spoken(c *Call, h heard) twimlOutcome {
	c.log.Info("<Gather> speech", "speech_result", h.text, "confidence", h.confidence)
	c.event(EventSpeech, map[string]any{"speech_result": h.text, "confidence": h.confidence, "verb": "Gather"})
	if h.text == "" && !v.actionOnEmptyResult {
		return twimlOutcome{}
	}
	out, ok := v.toAction(c)
	if ok {
		h.keep(c)
	}
	return out
}
