package flow

import (
	"context"
	"math"
	"strings"
	"time"
)

// playDigitDuration is how long each key of <Play digits> sounds (Kazoo's send_dtmf default).
const playDigitDuration = 100 * time.Millisecond

// playVerb is <Play>: play an audio URL loop times (0 = until the call ends, at most maxPlayLoops), or
// with digits send DTMF to the caller ('w' = 0.5 s pause) and then play the URL if there is one.
type playVerb struct {
	url         string // absolute, or relative to the document; "" with digits
	loop        int
	digits      string
	terminators string // Kazoo extra: keys that stop the prompt (none by default, as in Twilio)
}

func parsePlayVerb(p *twimlParser, e *xmlElement, path string) twimlVerb {
	a := p.attrs(e, path, "loop", "digits", "terminators")
	v := &playVerb{}
	v.loop = p.intAttr(a, path, "loop", 1, 0, math.MaxInt32, "must be a non-negative integer")
	v.terminators = p.dtmfAttr(a, path, "terminators", "")
	if digits, ok := a["digits"]; ok {
		v.digits = strings.TrimSpace(digits)
		if !validSendDigits(v.digits) {
			p.fail(path+"@digits", "must be DTMF keys (0-9, *, #, A-D) and w pauses")
		}
	}
	p.noChildren(e, path)
	v.url = strings.TrimSpace(e.text)
	if v.url != "" || v.digits == "" {
		if msg := checkTwiMLURL(e.text); msg != "" {
			p.fail(path, msg)
		}
	}
	return v
}

// validSendDigits reports whether s is a non-empty string of keys and w/W pauses.
func validSendDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if k := s[i]; !isDTMFKey(k) && !isDTMFExtraKey(k) && k != 'w' && k != 'W' {
			return false
		}
	}
	return s != ""
}

func (v *playVerb) run(ctx context.Context, c *Call, _ int) twimlOutcome {
	if !v.play(ctx, c, v.terminators) {
		return twimlStop
	}
	return twimlOutcome{}
}

// prompt is <Play> nested in <Gather>: any key stops it.
func (v *playVerb) prompt(ctx context.Context, c *Call) bool { return v.play(ctx, c, anyKey) }

// play answers, sends the digits, then plays the URL; a key among terminators stops the audio.
// false when the call ended.
func (v *playVerb) play(ctx context.Context, c *Call, terminators string) bool {
	if c.answer(ctx) != nil {
		return false
	}
	if v.digits != "" {
		c.activity++
		if err := c.ch.SendDigits(ctx, v.digits, playDigitDuration); err != nil {
			if c.ended() || ctx.Err() != nil {
				return false
			}
			c.log.Warn("<Play digits> failed, continuing", "digits", v.digits, "err", err)
		}
		if v.url == "" {
			return true
		}
	}
	target, err := c.resolveURL(v.url)
	if err != nil {
		c.log.Warn("<Play> URL unusable, skipping", "url", v.url, "err", err)
		return true
	}
	prompt, err := c.loadMedia(ctx, target)
	if err != nil {
		if ctx.Err() != nil {
			return false
		}
		c.log.Warn("<Play> media unavailable, skipping", "url", target, "err", err)
		return true
	}
	loops := v.loop
	if loops == 0 || loops > maxPlayLoops {
		loops = maxPlayLoops
	}
	return c.playPrompt(ctx, prompt, loops, terminators)
}
