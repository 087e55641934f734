package flow

import (
	"strings"
	"time"
)

// dialVerb is <Dial> with Twilio's defaults: a number as text, or <Number> and <Sip> nouns. It is
// parsed and validated now; bridging is later work, so a document using it fails validation.
type dialVerb struct {
	action       string
	method       string
	timeout      time.Duration
	timeLimit    time.Duration
	callerID     string
	hangupOnStar bool
	targets      []dialTarget
}

type dialTarget struct {
	number             string // E.164 or digits, for <Number> or text
	sipURI             string // for <Sip>
	username, password string
}

func parseDialVerb(p *twimlParser, e *xmlElement, path string) *dialVerb {
	a := p.attrs(e, path, "action", "method", "timeout", "timeLimit", "callerId", "hangupOnStar", "record",
		"answerOnBridge", "ringTone", "trim", "recordingStatusCallback", "recordingStatusCallbackMethod",
		"recordingStatusCallbackEvent", "hangupOn", "strategy", "continueOnFail")
	v := &dialVerb{action: p.urlAttr(a, path, "action"), method: p.methodAttr(a, path), callerID: a["callerId"]}
	v.timeout = time.Duration(p.intAttr(a, path, "timeout", 30, 1, 600, "must be an integer between 1 and 600")) * time.Second
	v.timeLimit = time.Duration(p.intAttr(a, path, "timeLimit", 14400, 1, 14400, "must be an integer between 1 and 14400")) * time.Second
	v.hangupOnStar = p.boolAttr(a, path, "hangupOnStar", false)
	p.boolAttr(a, path, "answerOnBridge", false)
	p.boolAttr(a, path, "continueOnFail", true)
	p.enumAttr(a, path, "strategy", "simultaneous", "simultaneous", "single")
	if number := strings.TrimSpace(e.text); number != "" {
		v.targets = append(v.targets, dialTarget{number: number})
	}
	p.eachChild(e, path, func(child *xmlElement, cpath string) {
		switch child.name {
		case "Number":
			p.attrs(child, cpath, "sendDigits", "url", "method", "statusCallback", "statusCallbackEvent", "statusCallbackMethod")
			p.noChildren(child, cpath)
			number := strings.TrimSpace(child.text)
			if number == "" {
				p.fail(cpath, "number required")
			}
			v.targets = append(v.targets, dialTarget{number: number})
		case "Sip":
			ca := p.attrs(child, cpath, "username", "password", "url", "method", "statusCallback", "statusCallbackEvent", "statusCallbackMethod")
			p.noChildren(child, cpath)
			uri := strings.TrimSpace(child.text)
			if !strings.HasPrefix(strings.ToLower(uri), "sip:") && !strings.HasPrefix(strings.ToLower(uri), "sips:") {
				p.fail(cpath, "must be a sip: or sips: URI")
			}
			v.targets = append(v.targets, dialTarget{sipURI: uri, username: ca["username"], password: ca["password"]})
		default:
			p.fail(cpath, "<"+child.name+"> is not supported in <Dial>")
		}
	})
	if len(v.targets) == 0 {
		p.fail(path, "a number, <Number> or <Sip> is required")
	}
	return v
}
