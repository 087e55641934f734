package flow

import (
	"context"
	"strings"
	"time"

	"github.com/pivotua/pivotua/media"
)

// queueNoun is <Dial><Queue url method>name</Queue></Dial>: the agent takes the longest-waiting
// caller of the account's queue (queue.go) and is bridged to it, as Dial bridges a callee; url is a
// TwiML document played to that caller first. An empty queue is waited on until the Dial's timeout
// (a caller that joins is taken); a queue that does not exist fails the Dial, as Twilio's.
type queueNoun struct {
	name   string
	url    string
	method string
}

func parseQueueNoun(p *twimlParser, e *xmlElement, path string) *queueNoun {
	a := p.attrs(e, path, "url", "method", "reservationSid", "postWorkActivitySid")
	for _, name := range []string{"reservationSid", "postWorkActivitySid"} {
		if _, ok := a[name]; ok {
			p.fail(path+"@"+name, "is not supported: pivotua has no TaskRouter")
		}
	}
	p.noChildren(e, path)
	n := &queueNoun{name: strings.TrimSpace(e.text), url: p.urlAttr(a, path, "url"), method: p.methodAttr(a, path)}
	if msg := checkQueueName(n.name); msg != "" {
		p.fail(path, msg)
	}
	return n
}

// checkQueueDial refuses what a <Dial> with a <Queue> cannot do: the noun is alone, and the Dial
// records nothing.
func checkQueueDial(p *twimlParser, e *xmlElement, path string, v *dialVerb) {
	if len(v.targets) > 0 || v.conference != nil || strings.TrimSpace(e.text) != "" || len(e.children) > 1 {
		p.fail(path, "<Queue> must be alone in its <Dial>")
	}
	if v.record != recordNone {
		p.fail(path+"@record", "is not supported with <Queue>")
	}
}

// runQueue dequeues and bridges, then goes on as Dial does: the action URL with DialCallStatus
// (completed once bridged, no-answer when no caller came within the timeout, failed when the queue
// does not exist), DialCallSid (the dequeued call) and DialCallDuration, or the next verb.
func (v *dialVerb) runQueue(ctx context.Context, c *Call) twimlOutcome {
	c.activity++
	if c.answer(ctx) != nil {
		return twimlStop
	}
	res := c.dequeueAndBridge(ctx, v)
	c.dial.last = res
	c.log.Info("<Dial><Queue> done", "queue", v.queue.name, "status", res.status, "dial_call_id", res.sid, "duration", res.duration)
	c.event(EventDial, map[string]any{"verb": "<Dial><Queue>", "queue": v.queue.name, "status": res.status, "dial_call_id": res.sid, "duration": res.duration})
	return v.afterDial(c, res.callerHungUp)
}

func (c *Call) dequeueAndBridge(ctx context.Context, v *dialVerb) dialResult {
	res := dialResult{status: "failed"}
	bc := c.ch.Bridge()
	qs := c.deps.Queues
	if bc == nil || qs == nil {
		c.log.Warn("<Dial><Queue>: no queues on this channel")
		return res
	}
	whisper := ""
	if v.queue.url != "" {
		u, err := c.resolveURL(v.queue.url)
		if err != nil {
			c.log.Warn("<Queue> url unusable, bridging without it", "url", v.queue.url, "err", err)
		}
		whisper = u
	}
	deadline := time.NewTimer(v.timeout)
	defer deadline.Stop()
	for {
		cl := &queueClaim{agentSid: c.callSid(), whisper: whisper, whisperMethod: v.queue.method, ready: make(chan bool, 1), done: make(chan struct{})}
		_, m, arrived, err := qs.dequeueFront(c.accountID, v.queue.name, cl)
		if err != nil {
			c.log.Info("<Dial><Queue>: no such queue", "queue", v.queue.name)
			return res
		}
		if m == nil {
			select {
			case <-arrived:
				continue
			case <-deadline.C:
				res.status = "no-answer"
				return res
			case <-c.ch.Context().Done():
				res.status, res.callerHungUp = "canceled", true
				return res
			case <-ctx.Done():
				res.status, res.callerHungUp = "canceled", true
				return res
			}
		}
		// The dequeued caller hears the <Queue url> document, then says whether it is still there (on
		// ready, buffered: it never blocks). The agent hears silence meanwhile; if it hangs up, done
		// tells the caller, which then goes on with QueueResult=bridging-in-process.
		var ok bool
		select {
		case ok = <-cl.ready:
		case <-c.ch.Context().Done():
		case <-ctx.Done():
		}
		if c.ended() || ctx.Err() != nil {
			close(cl.done)
			res.status, res.callerHungUp = "canceled", true
			return res
		}
		if !ok {
			close(cl.done)
			c.log.Info("<Dial><Queue>: the dequeued caller left; taking the next", "dial_call_id", m.callSid)
			continue
		}
		return c.bridgeQueued(ctx, v, m, cl)
	}
}

// bridgeQueued bridges the agent to the dequeued caller m until either hangs up, the Dial's time
// limit passes or the agent presses * (hangupOnStar). RFC 4733 keys are relayed by the bridge, SIP
// INFO keys each way as Dial's are.
func (c *Call) bridgeQueued(ctx context.Context, v *dialVerb, m *queueMember, cl *queueClaim) dialResult {
	defer close(cl.done)
	res := dialResult{status: "failed", sid: m.callSid}
	bc := c.ch.Bridge()
	br, err := media.NewBridge(bc.Session(), m.sess)
	if err != nil {
		c.log.Error("<Dial><Queue>: bridge", "err", err)
		return res
	}
	cl.bridged = true
	defer br.Stop()
	toCaller := startKeySender(m.sess, "", c.log)
	defer toCaller.stop()
	toAgent := startKeySender(bc.Session(), "", c.log)
	defer toAgent.stop()
	bc.RelayInfoDigits(toCaller.send)
	defer bc.RelayInfoDigits(nil)
	m.leg.RelayInfoDigits(toAgent.send)
	defer m.leg.RelayInfoDigits(nil)
	c.ctl.bridgedTo(m.callSid)
	defer c.ctl.bridgedTo("")
	c.log.Info("<Dial><Queue>: bridged", "dial_call_id", m.callSid)
	var limit <-chan time.Time
	if v.timeLimit > 0 {
		t := time.NewTimer(v.timeLimit)
		defer t.Stop()
		limit = t.C
	}
	start := time.Now()
	res.status = "completed"
	digits := c.ch.Digits()
wait:
	for {
		select {
		case <-c.ch.Context().Done():
			res.callerHungUp = true
			break wait
		case <-ctx.Done():
			res.callerHungUp = true
			break wait
		case <-m.gone:
			c.log.Info("<Dial><Queue>: the dequeued caller hung up")
			break wait
		case <-limit:
			break wait
		case k := <-digits:
			if k == '*' && v.hangupOnStar {
				break wait
			}
		}
	}
	res.duration = int(time.Since(start).Round(time.Second) / time.Second)
	return res
}
