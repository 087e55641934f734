package flow

import "time"

// recordVerb is <Record> with Twilio's defaults (Kazoo's ceilings). It is parsed and validated now;
// recording is later work, so a document using it fails validation.
type recordVerb struct {
	action       string
	method       string
	timeout      time.Duration // silence that ends the recording; 0 = none
	finishOnKey  string
	maxLength    time.Duration
	playBeep     bool
	trim         string
	recordingURL string // Kazoo extra: where to upload
}

func parseRecordVerb(p *twimlParser, e *xmlElement, path string) *recordVerb {
	a := p.attrs(e, path, "action", "method", "timeout", "finishOnKey", "maxLength", "playBeep", "trim",
		"recordingUrl", "recordingStatusCallback", "recordingStatusCallbackMethod",
		"recordingStatusCallbackEvent", "transcribe", "transcribeCallback")
	v := &recordVerb{action: p.urlAttr(a, path, "action"), method: p.methodAttr(a, path)}
	v.timeout = time.Duration(p.intAttr(a, path, "timeout", 5, 0, 3600, "must be an integer between 0 and 3600")) * time.Second
	v.finishOnKey = p.dtmfAttr(a, path, "finishOnKey", "1234567890*#")
	v.maxLength = time.Duration(p.intAttr(a, path, "maxLength", 3600, 1, 3600, "must be an integer between 1 and 3600")) * time.Second
	v.playBeep = p.boolAttr(a, path, "playBeep", true)
	v.trim = p.enumAttr(a, path, "trim", "trim-silence", "trim-silence", "do-not-trim")
	v.recordingURL = p.urlAttr(a, path, "recordingUrl")
	p.noChildren(e, path)
	p.noText(e, path)
	return v
}
