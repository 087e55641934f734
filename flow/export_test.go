package flow

import "context"

// What flow's external tests (package flow_test, which drive calls on flowtest.Channel) may see of
// its internals: the limits they test against and the call state they set up or check. Test
// builds only; nothing here is part of flow's API.

const (
	GregorianOffset = gregorianOffset
	MaxIdleFetches  = maxIdleFetches
	MaxPlayLoops    = maxPlayLoops
	MsgControlChars = msgControlChars
)

// Speech is speech (twiml_record_internal_test.go) for the external record tests.
var Speech = speech

// Digits is the call's collected DTMF by collection name, as the next pivot request sends it (made
// for a test to set some).
func (c *Call) Digits() map[string]string {
	if c.keys.digits == nil {
		c.keys.digits = map[string]string{}
	}
	return c.keys.digits
}

// CustomVars is the call's custom application vars (set_variables; made for a test to set some).
func (c *Call) CustomVars() map[string]string {
	if c.vars.cavs == nil {
		c.vars.cavs = map[string]string{}
	}
	return c.vars.cavs
}

// RunAsCallee makes the call what runWhisper makes a Dial callee's: answered, with the caller's
// Call-ID as its parent.
func (c *Call) RunAsCallee(parentCallID string) { c.answered, c.pivot.parentID = true, parentCallID }

// RefusedTwiMLAttrs lists, by element, the Twilio attributes the parser refuses (twiml_attrs.go).
func RefusedTwiMLAttrs() map[string][]string {
	out := map[string][]string{}
	for verb, attrs := range refusedTwiMLAttrs {
		for name := range attrs {
			out[verb] = append(out[verb], name)
		}
	}
	return out
}

// RunRoute runs flow as Server.HandleCall runs a route's: under a context that never ends (the
// channel's ends the call) and validated already, once for the route.
func (c *Call) RunRoute(flow *Node) { c.run(context.Background(), flow, nil, true) }
