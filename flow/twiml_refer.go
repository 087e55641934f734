package flow

import (
	"context"
	"strconv"
	"strings"
	"time"

	"github.com/pivotua/pivotua/sip"
)

// referNotifyWait bounds a <Refer>: the REFER's transaction and then the NOTIFY that reports the
// transferee's call. A peer that accepts the REFER and never NOTIFYs costs its call this long.
const referNotifyWait = 30 * time.Second

// ReferCallStatus values (Twilio's <Refer> action parameter).
const (
	referCompleted = "completed" // the REFER was accepted and a NOTIFY reported a 2xx
	referFailed    = "failed"    // refused, a non-2xx NOTIFY, no NOTIFY in time, or no answer at all
)

// referVerb is <Refer>: a blind transfer of the caller by SIP REFER (RFC 3515) to the <Sip> noun's
// URI, whose ?X-...= headers the transferee copies into its INVITE.
type referVerb struct {
	action string
	method string
	target string
}

// referState is the last <Refer>'s outcome, sent as ReferCallStatus and ReferSipResponseCode.
type referState struct {
	status, code string
}

func parseReferVerb(p *twimlParser, e *xmlElement, path string) twimlVerb {
	a := p.attrs(e, path, "action", "method")
	p.noText(e, path)
	v := &referVerb{action: p.urlAttr(a, path, "action"), method: p.methodAttr(a, path)}
	nouns := 0
	p.eachChild(e, path, func(child *xmlElement, cpath string) {
		if child.name != "Sip" {
			p.fail(cpath, "<"+child.name+"> is not supported in <Refer>")
			return
		}
		p.attrs(child, cpath)
		p.noChildren(child, cpath)
		if nouns++; nouns > 1 {
			p.fail(cpath, "<Refer> takes one <Sip>")
			return
		}
		v.target = strings.TrimSpace(child.text)
		if err := sip.CheckReferTarget(v.target); err != nil {
			p.fail(cpath, err.Error())
		}
	})
	if nouns == 0 {
		p.fail(path, "a <Sip> is required")
	}
	return v
}

// run answers if needed, sends the REFER and waits for its outcome. With an action, the outcome goes
// to it (even when the transferee already hung up, as Dial's action does; what it returns then is
// not run). Without one, a completed transfer ends the call and a failed one goes on with the next
// verb.
func (v *referVerb) run(ctx context.Context, c *Call, _ int) twimlOutcome {
	if err := c.answer(ctx); err != nil {
		return twimlStop
	}
	c.activity++
	rctx, cancel := context.WithTimeout(ctx, referNotifyWait)
	res, err := c.ch.Refer(rctx, v.target)
	cancel()
	c.refer = referOutcome(res)
	if err != nil && !c.ended() {
		c.log.Warn("<Refer> failed", "target", v.target, "err", err)
	}
	c.log.Info("<Refer> done", "target", v.target, "refer_status", res.ReferStatus, "notify_status", res.NotifyStatus,
		"outcome", c.refer.status)
	if v.action == "" {
		if c.refer.status == referCompleted || c.ended() {
			return twimlStop
		}
		return twimlOutcome{}
	}
	target, err := c.resolveURL(v.action)
	if err != nil {
		c.log.Warn("<Refer> action URL unusable, ending the document", "url", v.action, "err", err)
		return twimlStop
	}
	return twimlOutcome{redirect: target, method: v.method, final: c.ended()}
}

// referOutcome maps a REFER's result to Twilio's parameters: completed only for an accepted REFER
// whose NOTIFY reported a 2xx; the code is the NOTIFY's status, else the REFER's final response.
func referOutcome(res sip.ReferResult) referState {
	out := referState{status: referFailed}
	switch {
	case res.NotifyStatus != 0:
		out.code = strconv.Itoa(res.NotifyStatus)
		if res.ReferStatus >= 200 && res.ReferStatus < 300 && res.NotifyStatus < 300 && res.NotifyStatus >= 200 {
			out.status = referCompleted
		}
	case res.ReferStatus != 0:
		out.code = strconv.Itoa(res.ReferStatus)
	}
	return out
}
