package flow

import (
	"context"
	"math"
	"strings"
)

// playVerb is <Play>: play an audio URL loop times (0 = until the call ends, at most maxPlayLoops).
type playVerb struct {
	url         string // absolute, or relative to the document
	loop        int
	terminators string // Kazoo extra: keys that stop the prompt (none by default, as in Twilio)
}

func parsePlayVerb(p *twimlParser, e *xmlElement, path string) twimlVerb {
	a := p.attrs(e, path, "loop", "digits", "terminators")
	v := &playVerb{}
	v.loop = p.intAttr(a, path, "loop", 1, 0, math.MaxInt32, "must be a non-negative integer")
	v.terminators = p.dtmfAttr(a, path, "terminators", "")
	if _, ok := a["digits"]; ok {
		p.fail(path+"@digits", "not supported yet")
	}
	p.noChildren(e, path)
	if msg := checkTwiMLURL(e.text); msg != "" {
		p.fail(path, msg)
	}
	v.url = strings.TrimSpace(e.text)
	return v
}

func (v *playVerb) run(ctx context.Context, c *Call, _ int) twimlOutcome {
	if c.answer(ctx) != nil {
		return twimlStop
	}
	target, err := c.resolveURL(v.url)
	if err != nil {
		c.log.Warn("<Play> URL unusable, skipping", "url", v.url, "err", err)
		return twimlOutcome{}
	}
	prompt, err := c.loadMedia(ctx, target)
	if err != nil {
		if ctx.Err() != nil {
			return twimlStop
		}
		c.log.Warn("<Play> media unavailable, skipping", "url", target, "err", err)
		return twimlOutcome{}
	}
	loops := v.loop
	if loops == 0 || loops > maxPlayLoops {
		loops = maxPlayLoops
	}
	if !c.playPrompt(ctx, prompt, loops, v.terminators) {
		return twimlStop
	}
	return twimlOutcome{}
}
