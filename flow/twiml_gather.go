package flow

import (
	"math"
	"time"
)

// gatherVerb is <Gather> with Twilio's defaults. It is parsed and validated now; running it (DTMF
// collection) is later work, so a document using it fails validation.
type gatherVerb struct {
	action      string // "" = the document's URL
	method      string
	timeout     time.Duration
	finishOnKey string // "" = none
	numDigits   int    // 0 = unlimited
	verbs       []twimlVerb
}

func parseGatherVerb(p *twimlParser, e *xmlElement, path string) *gatherVerb {
	a := p.attrs(e, path, "action", "method", "timeout", "finishOnKey", "numDigits", "input", "language",
		"hints", "speechTimeout", "speechModel", "profanityFilter", "enhanced", "actionOnEmptyResult",
		"partialResultCallback", "partialResultCallbackMethod")
	v := &gatherVerb{action: p.urlAttr(a, path, "action"), method: p.methodAttr(a, path)}
	v.timeout = time.Duration(p.intAttr(a, path, "timeout", 5, 1, 3600, "must be an integer between 1 and 3600")) * time.Second
	v.finishOnKey = p.dtmfAttr(a, path, "finishOnKey", "#")
	if len(v.finishOnKey) > 1 {
		p.fail(path+"@finishOnKey", "must be one DTMF key or empty")
	}
	v.numDigits = p.intAttr(a, path, "numDigits", 0, 1, math.MaxInt32, "must be a positive integer")
	p.enumAttr(a, path, "input", "dtmf", "dtmf", "speech", "dtmf speech", "speech dtmf")
	p.noText(e, path)
	p.eachChild(e, path, func(child *xmlElement, cpath string) {
		switch child.name {
		case "Say":
			v.verbs = append(v.verbs, parseSayVerb(p, child, cpath))
		case "Play":
			v.verbs = append(v.verbs, parsePlayVerb(p, child, cpath))
		case "Pause":
			v.verbs = append(v.verbs, parsePauseVerb(p, child, cpath))
		default:
			p.fail(cpath, "<"+child.name+"> is not allowed in <Gather>")
		}
	})
	return v
}
