package flow

import (
	"context"
	"time"
)

// maxPause is Kazoo's ceiling on <Pause length>.
const maxPause = 3600

// pauseVerb is <Pause>: as the first verb it delays answering; elsewhere the caller hears silence.
type pauseVerb struct {
	length time.Duration
}

func parsePauseVerb(p *twimlParser, e *xmlElement, path string) twimlVerb {
	a := p.attrs(e, path, "length")
	v := &pauseVerb{}
	v.length = time.Duration(p.intAttr(a, path, "length", 1, 0, maxPause, "must be an integer between 0 and 3600")) * time.Second
	p.noChildren(e, path)
	p.noText(e, path)
	return v
}

func (v *pauseVerb) run(ctx context.Context, c *Call, index int) twimlOutcome {
	if index > 0 && c.answer(ctx) != nil {
		return twimlStop
	}
	if !c.wait(ctx, v.length) {
		return twimlStop
	}
	return twimlOutcome{}
}

// prompt is <Pause> nested in <Gather>: silence that any key ends.
func (v *pauseVerb) prompt(ctx context.Context, c *Call) bool {
	if c.answer(ctx) != nil {
		return false
	}
	_, ok := c.waitForKey(ctx, v.length)
	return ok
}
