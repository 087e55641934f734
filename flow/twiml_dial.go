package flow

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/pivotua/pivotua/codec"
	"github.com/pivotua/pivotua/sip"
)

// dialVerb is <Dial> with Twilio's defaults: a number as text (sent through a trunk), or <Number> and
// <Sip> nouns, rung at once; the first to answer is bridged to the caller (dial.go).
type dialVerb struct {
	action         string
	method         string
	timeout        time.Duration
	timeLimit      time.Duration
	callerID       string
	hangupOnStar   bool
	answerOnBridge bool
	record         string // recordNone, recordFromAnswer, recordFromRinging
	dual           bool
	ringTone       string // the ringback country played to an answered caller while targets ring
	trunk          string // pivotua extra: the trunk numbers go through; "" = the first
	recordCallback recordingCallbackSpec
	trim           bool // Twilio's default for Dial: do-not-trim
	targets        []dialTarget
	conference     *conferenceNoun // <Conference>, alone in its Dial (twiml_conference.go)
}

type dialTarget struct {
	number             string // E.164 or digits, for <Number> or text
	sipURI             string // for <Sip>
	username, password string
	sendDigits         string // <Number sendDigits>: keys sent to the callee once it is bridged
	whisper            string // the noun's url: TwiML run on the callee before bridging (dial_whisper.go)
	whisperMethod      string // GET or POST for whisper
	statusCallback     *legCallbackSpec
}

func parseDialVerb(p *twimlParser, e *xmlElement, path string) *dialVerb {
	a := p.attrs(e, path, "action", "method", "timeout", "timeLimit", "callerId", "hangupOnStar", "record",
		"answerOnBridge", "ringTone", "trim", "recordingStatusCallback", "recordingStatusCallbackMethod",
		"recordingStatusCallbackEvent", "strategy", "trunk")
	v := &dialVerb{action: p.urlAttr(a, path, "action"), method: p.methodAttr(a, path), callerID: strings.TrimSpace(a["callerId"])}
	if _, ok := a["callerId"]; ok {
		if msg := checkCallerID(v.callerID); msg != "" {
			p.fail(path+"@callerId", msg)
		}
	}
	v.timeout = time.Duration(p.intAttr(a, path, "timeout", 30, 1, 600, "must be an integer between 1 and 600")) * time.Second
	v.timeLimit = time.Duration(p.intAttr(a, path, "timeLimit", 14400, 1, 14400, "must be an integer between 1 and 14400")) * time.Second
	v.hangupOnStar = p.boolAttr(a, path, "hangupOnStar", false)
	v.answerOnBridge = p.boolAttr(a, path, "answerOnBridge", false)
	if p.enumAttr(a, path, "strategy", "simultaneous", "simultaneous", "single") == "single" { // Kazoo's
		p.fail(path+"@strategy", `strategy="single" (one target after another) is not supported: every target rings at once`)
	}
	rec := p.enumAttr(a, path, "record", recordNone, recordNone, recordFromAnswer, recordFromRinging,
		recordFromAnswer+"-dual", recordFromRinging+"-dual")
	v.record, v.dual = strings.TrimSuffix(rec, "-dual"), strings.HasSuffix(rec, "-dual")
	v.ringTone = p.enumAttr(a, path, "ringTone", "us", codec.RingbackCountries()...)
	v.recordCallback = parseRecordingCallback(p, a, path)
	v.trim = p.enumAttr(a, path, "trim", "do-not-trim", "trim-silence", "do-not-trim") == "trim-silence"
	v.trunk = strings.TrimSpace(a["trunk"])
	if number := normaliseNumber(e.text); number != "" {
		if msg := checkPhoneNumber(number); msg != "" {
			p.fail(path, msg)
		}
		v.targets = append(v.targets, dialTarget{number: number})
	}
	p.eachChild(e, path, func(child *xmlElement, cpath string) {
		switch child.name {
		case "Number":
			ca := p.attrs(child, cpath, "sendDigits", "url", "method", "statusCallback", "statusCallbackEvent", "statusCallbackMethod")
			p.noChildren(child, cpath)
			digits := strings.TrimSpace(ca["sendDigits"])
			if _, ok := ca["sendDigits"]; ok && !validSendDigits(digits) {
				p.fail(cpath+"@sendDigits", "must be DTMF keys (0-9, *, #, A-D) and w pauses")
			}
			number := normaliseNumber(child.text)
			if number == "" {
				p.fail(cpath, "number required")
			} else if msg := checkPhoneNumber(number); msg != "" {
				p.fail(cpath, msg)
			}
			v.targets = append(v.targets, dialTarget{number: number, sendDigits: digits,
				whisper: p.urlAttr(ca, cpath, "url"), whisperMethod: p.methodAttr(ca, cpath), statusCallback: parseLegCallback(p, ca, cpath)})
		case "Sip":
			ca := p.attrs(child, cpath, "username", "password", "url", "method", "statusCallback", "statusCallbackEvent", "statusCallbackMethod")
			p.noChildren(child, cpath)
			uri := strings.TrimSpace(child.text)
			if msg := CheckSIPURI(uri); msg != "" {
				p.fail(cpath, msg)
			}
			for _, name := range []string{"username", "password"} {
				if msg := checkSIPText(ca[name]); msg != "" {
					p.fail(cpath+"@"+name, msg)
				}
			}
			v.targets = append(v.targets, dialTarget{sipURI: uri, username: ca["username"], password: ca["password"],
				whisper: p.urlAttr(ca, cpath, "url"), whisperMethod: p.methodAttr(ca, cpath), statusCallback: parseLegCallback(p, ca, cpath)})
		case "Conference":
			v.conference = parseConferenceNoun(p, child, cpath)
		default:
			p.fail(cpath, "<"+child.name+"> is not supported in <Dial>")
		}
	})
	switch {
	case v.conference != nil:
		checkConferenceDial(p, e, path, v)
		// The Dial's recording attributes are for its Number/Sip bridge: silently unused otherwise.
		for _, name := range []string{"trim", "recordingStatusCallback", "recordingStatusCallbackMethod", "recordingStatusCallbackEvent"} {
			if _, ok := a[name]; ok {
				p.fail(path+"@"+name, "is not supported with <Conference>: the room is recorded by <Conference record>")
			}
		}
	case len(v.targets) == 0:
		p.fail(path, "a number, <Number> or <Sip> is required")
	case len(v.targets) > maxDialNouns:
		p.fail(path, fmt.Sprintf("at most %d nouns (<Number>, <Sip>) may be dialled at once, not %d", maxDialNouns, len(v.targets)))
	}
	return v
}

// CheckSIPURI returns why s is not a URI Dial can call (a sip: or sips: URI with a host and no control
// characters), or "". Headers after ? (Twilio's <Sip>: "?x-myheader=foo&User-to-User=...") are sent as
// SIP headers of the callee's INVITE, so they must be X- headers or User-to-User (sip.SplitURIHeaders).
func CheckSIPURI(s string) string {
	if hasControlChars(s) {
		return msgControlChars
	}
	lower := strings.ToLower(s)
	if !strings.HasPrefix(lower, "sip:") && !strings.HasPrefix(lower, "sips:") {
		return "must be a sip: or sips: URI"
	}
	bare, _, err := sip.SplitURIHeaders(s)
	if err != nil {
		return err.Error()
	}
	if _, host := sipUserHost(bare); host == "" || strings.HasPrefix(host, ":") {
		return "must be a sip: or sips: URI with a host"
	}
	return ""
}

// plan resolves the targets: numbers through the trunk, <Sip> as written. A number without a trunk is
// left out (logged); with no target left the Dial fails.
func (v *dialVerb) plan(c *Call) dialPlan {
	pl := dialPlan{
		callerID: v.callerID, timeout: v.timeout, timeLimit: v.timeLimit, hangupOnStar: v.hangupOnStar,
		record: v.record, dual: v.dual, answerOnBridge: v.answerOnBridge, ringTone: v.ringTone,
		recordCallback: &v.recordCallback, trim: v.trim,
	}
	for _, t := range v.targets {
		if t.sipURI != "" {
			pl.targets = append(pl.targets, dialEndpoint{uri: t.sipURI, username: t.username, password: t.password,
				whisper: t.whisper, whisperMethod: t.whisperMethod, statusCallback: t.statusCallback})
			continue
		}
		ep, err := trunkURI(c.deps.Dial.Trunks, v.trunk, t.number, c.accountID)
		if err != nil {
			pl.refuse(c, "<Dial>", t.number, err)
			continue
		}
		ep.sendDigits, ep.whisper, ep.whisperMethod = t.sendDigits, t.whisper, t.whisperMethod
		ep.number, ep.statusCallback = t.number, t.statusCallback
		pl.targets = append(pl.targets, ep)
	}
	return pl
}

// run bridges the caller to the first target that answers. Afterwards the call goes on with the action
// URL (DialCallStatus, DialCallSid, DialCallDuration) or, without one, the next verb. When the caller
// hung up, the action URL is still requested, as Twilio does, but what it returns is not run.
func (v *dialVerb) run(ctx context.Context, c *Call, _ int) twimlOutcome {
	if c.pivot.parentID != "" { // Twilio refuses it too: a callee cannot dial on while its caller waits
		c.log.Warn("<Dial> in a Dial noun's url document is not allowed; hanging up the callee")
		c.endCall()
		return twimlStop
	}
	if v.conference != nil {
		return v.runConference(ctx, c)
	}
	c.activity++
	res := c.runDial(ctx, v.plan(c), "<Dial>")
	callerGone := res.callerHungUp || c.ended()
	if v.action == "" {
		if callerGone {
			return twimlStop
		}
		return twimlOutcome{}
	}
	target, err := c.resolveURL(v.action)
	if err != nil {
		c.log.Warn("<Dial> action URL unusable, ending the document", "url", v.action, "err", err)
		return twimlStop
	}
	return twimlOutcome{redirect: target, method: v.method, final: callerGone}
}
