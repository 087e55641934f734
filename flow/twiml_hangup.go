package flow

import "context"

// hangupVerb is <Hangup>: BYE when answered, else the Channel's 480.
type hangupVerb struct{}

func parseHangupVerb(p *twimlParser, e *xmlElement, path string) twimlVerb {
	p.attrs(e, path)
	p.noChildren(e, path)
	p.noText(e, path)
	return hangupVerb{}
}

func (hangupVerb) run(_ context.Context, c *Call, _ int) twimlOutcome {
	c.hangup()
	return twimlStop
}
