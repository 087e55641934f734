package flow

import "context"

// rejectVerb is <Reject>: a final response that never answers (busy -> 486, rejected -> 603).
type rejectVerb struct {
	code   int
	reason string
}

func parseRejectVerb(p *twimlParser, e *xmlElement, path string) twimlVerb {
	a := p.attrs(e, path, "reason")
	p.noChildren(e, path)
	p.noText(e, path)
	if p.enumAttr(a, path, "reason", "rejected", "rejected", "busy") == "busy" {
		return rejectVerb{code: 486, reason: "Busy Here"}
	}
	return rejectVerb{code: 603, reason: "Decline"}
}

func (v rejectVerb) run(_ context.Context, c *Call, _ int) twimlOutcome {
	c.reject(v.code, v.reason)
	return twimlStop
}
