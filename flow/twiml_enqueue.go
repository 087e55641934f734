package flow

import (
	"context"
	"fmt"
	"maps"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/pivotua/pivotua/httpfetch"
)

// enqueueVerb is <Enqueue>name</Enqueue>: the caller waits in the account's queue of that name
// (queue.go) hearing waitUrl's document in a loop, until an agent's <Dial><Queue> takes it
// (twiml_queue.go), the Members API moves it onto a new document, the wait document says <Leave/>
// or <Hangup/>, or it hangs up. The action then gets QueueResult, QueueSid and QueueTime.
type enqueueVerb struct {
	name       string
	action     string
	method     string
	waitURL    string // "": pivotua's default wait audio (the conference's)
	waitMethod string
}

// leaveVerb is <Leave/>: in a waitUrl document, the caller leaves its queue (QueueResult=leave) and
// goes on with the Enqueue's action or the verb after it. Anywhere else it does nothing, as Twilio's.
type leaveVerb struct{}

// Twilio's QueueResult values.
const (
	queueBridged    = "bridged"
	queueBridging   = "bridging-in-process" // the agent went away before the bridge
	queueFull       = "queue-full"
	queueHangup     = "hangup"
	queueRedirected = "redirected"
	queueLeave      = "leave"
	queueError      = "error"
	queueSysError   = "system-error"
)

// minWaitLoop is the shortest time one loop of a wait document may take: a document that plays next
// to nothing is not fetched again at once, so a hostile waitUrl costs at most one fetch a second.
const minWaitLoop = time.Second

func parseEnqueueVerb(p *twimlParser, e *xmlElement, path string) twimlVerb {
	a := p.attrs(e, path, "action", "method", "waitUrl", "waitUrlMethod", "workflowSid", "maxQueueSize")
	if _, ok := a["workflowSid"]; ok {
		p.fail(path+"@workflowSid", "is not supported: pivotua has no TaskRouter; the call waits in the named queue")
	}
	if _, ok := a["maxQueueSize"]; ok {
		p.fail(path+"@maxQueueSize", "is not supported: set MaxSize through the Queues API")
	}
	p.noChildren(e, path)
	v := &enqueueVerb{name: strings.TrimSpace(e.text), action: p.urlAttr(a, path, "action"), method: p.methodAttr(a, path),
		waitURL: p.urlAttr(a, path, "waitUrl"), waitMethod: p.enumAttr(a, path, "waitUrlMethod", "POST", "GET", "POST")}
	if msg := checkQueueName(v.name); msg != "" {
		p.fail(path, msg)
	}
	return v
}

func parseLeaveVerb(p *twimlParser, e *xmlElement, path string) twimlVerb {
	p.attrs(e, path)
	p.noChildren(e, path)
	p.noText(e, path)
	return leaveVerb{}
}

func (leaveVerb) run(_ context.Context, c *Call, _ int) twimlOutcome {
	c.log.Info("<Leave> outside a waitUrl document does nothing")
	return twimlOutcome{}
}

// checkQueueName returns why s cannot name a queue, or "".
func checkQueueName(s string) string {
	switch {
	case s == "":
		return "a queue name is required"
	case !utf8.ValidString(s):
		return "the queue name must be UTF-8"
	case hasControlChars(s):
		return "the queue name must not contain control characters"
	case len(s) > maxQueueName:
		return fmt.Sprintf("the queue name must be at most %d bytes, not %d", maxQueueName, len(s))
	}
	return ""
}

// queueLeft is how a caller's time in a queue ended.
type queueLeft struct {
	result         string
	sid            string
	seconds        int
	url, method    string // QueueResult redirected: the Members API's document
	callerHungUp   bool
	dequeuingAgent string
}

func (v *enqueueVerb) run(ctx context.Context, c *Call, _ int) twimlOutcome {
	c.activity++
	if c.answer(ctx) != nil {
		return twimlStop
	}
	left := c.waitInQueue(ctx, v)
	c.log.Info("<Enqueue>: left the queue", "queue", v.name, "queue_sid", left.sid, "result", left.result, "seconds", left.seconds)
	c.event(EventDial, map[string]any{"verb": "<Enqueue>", "queue": v.name, "queue_sid": left.sid, "status": left.result, "duration": left.seconds})
	params := map[string]string{"QueueResult": left.result, "QueueSid": left.sid, "QueueTime": strconv.Itoa(left.seconds)}
	gone := left.callerHungUp || c.ended()
	if left.result == queueRedirected {
		// Twilio requests the action at once, then the call runs the Members API's document.
		if v.action != "" && c.pivot.action != nil && c.deps.Documents != nil {
			if target, err := c.resolveURL(v.action); err == nil {
				c.sideRequest(ctx, target, v.method, params)
			}
		}
		return twimlOutcome{redirect: left.url, method: left.method}
	}
	if v.action == "" {
		if gone {
			return twimlStop
		}
		return twimlOutcome{}
	}
	target, err := c.resolveURL(v.action)
	if err != nil {
		c.log.Warn("<Enqueue> action URL unusable, ending the document", "url", v.action, "err", err)
		return twimlStop
	}
	// Sent once with the action's request, as what a speech input heard is.
	c.heard.vars = params
	return twimlOutcome{redirect: target, method: v.method, final: gone}
}

// waitInQueue enqueues the caller and runs the wait until it leaves the queue, one way or another.
func (c *Call) waitInQueue(ctx context.Context, v *enqueueVerb) queueLeft {
	bc := c.ch.Bridge()
	qs := c.deps.Queues
	if bc == nil || qs == nil {
		c.log.Warn("<Enqueue>: no queues on this channel")
		return queueLeft{result: queueSysError}
	}
	m := &queueMember{callSid: c.callSid(), sess: bc.Session(), leg: bc, enqueued: time.Now(), gone: c.ch.Context().Done(),
		out: make(chan queueExit, 1)}
	q, err := qs.enqueue(c.accountID, v.name, m)
	if err != nil {
		c.log.Warn("<Enqueue>: not queued", "queue", v.name, "err", err)
		left := queueLeft{result: queueError}
		if q != nil {
			left = queueLeft{result: queueFull, sid: q.sid}
		}
		return left
	}
	c.log.Info("<Enqueue>: waiting", "queue", v.name, "queue_sid", q.sid)
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var taken *queueExit
	watchDone := make(chan struct{})
	go func() {
		defer close(watchDone)
		select {
		case e := <-m.out:
			taken = &e
			cancel()
		case <-wctx.Done():
		}
	}()
	result := c.runWait(wctx, v, q, m)
	cancel()
	<-watchDone
	if taken == nil && !qs.remove(q, m) {
		e := <-m.out // taken out under the registry's lock before remove looked: it is there
		taken = &e
	}
	left := queueLeft{result: result, sid: q.sid, seconds: int(time.Since(m.enqueued) / time.Second)}
	if c.ended() || ctx.Err() != nil {
		left.result, left.callerHungUp = queueHangup, true
	}
	switch {
	case taken == nil:
		return left
	case taken.claim != nil:
		return c.bridgedFromQueue(ctx, taken.claim, left)
	default:
		if left.callerHungUp {
			return left
		}
		left.result, left.url, left.method = queueRedirected, taken.url, taken.method
		return left
	}
}

// runWait plays the wait until ctx ends (the caller hung up, or someone took it out of the queue) or
// the wait document says <Leave/> (queueLeave) or <Hangup/> (queueHangup).
func (c *Call) runWait(ctx context.Context, v *enqueueVerb, q *queue, m *queueMember) string {
	target, method := "", v.waitMethod
	if v.waitURL != "" {
		u, err := c.resolveURL(v.waitURL)
		if err != nil {
			c.log.Warn("<Enqueue> waitUrl unusable, playing the default wait audio", "waitUrl", v.waitURL, "err", err)
		}
		target = u
	}
	first, idle := target, 0
	for ctx.Err() == nil && !c.ended() {
		if target == "" {
			c.playPrompt(ctx, defaultWaitAudio(), 0, "")
			continue
		}
		pos, size, maxSize, avg := c.deps.Queues.stats(q, m)
		params := map[string]string{
			"QueuePosition": strconv.Itoa(pos), "QueueSid": q.sid, "QueueTime": strconv.Itoa(int(time.Since(m.enqueued) / time.Second)),
			"AvgQueueTime": strconv.Itoa(avg), "CurrentQueueSize": strconv.Itoa(size), "MaxQueueSize": strconv.Itoa(maxSize),
		}
		start, played := time.Now(), c.activity
		r := c.runQueueDocument(ctx, target, method, params, true)
		switch {
		case r.leave:
			return queueLeave
		case r.hangup:
			c.hangup()
			return queueHangup
		case r.stopped:
			return queueHangup
		case r.err != nil:
			c.log.Warn("<Enqueue> waitUrl failed, playing the default wait audio", "url", target, "err", r.err)
			target = ""
			continue
		}
		if r.next != "" {
			target, method = r.next, r.nextMethod
		} else if target != first && c.activity == played {
			target, method = first, v.waitMethod
		}
		if c.activity == played {
			idle++
		} else {
			idle = 0
		}
		if idle > maxWaitRedirects {
			c.log.Warn("<Enqueue> waitUrl plays nothing, playing the default wait audio", "url", target, "fetches", idle)
			target = ""
			continue
		}
		if rest := minWaitLoop - time.Since(start); rest > 0 && !c.wait(ctx, rest) {
			return queueHangup
		}
	}
	return queueHangup
}

// queueDocResult is how a waitUrl or <Queue url> document ended.
type queueDocResult struct {
	next, nextMethod string // a <Redirect> (or a <Gather>'s action): the document to run next
	leave, hangup    bool   // <Leave/>, <Hangup/> (wait documents only)
	stopped          bool   // ctx ended or the call did
	err              error  // the document could not be fetched or parsed
}

// runQueueDocument fetches target with the call's parameters and params and runs the verbs Twilio
// allows there: <Play>, <Say>, <Pause> and <Redirect>, and in a wait document (wait) <Leave>,
// <Hangup> and <Gather>; others are skipped, logged. Relative URLs resolve against the document.
func (c *Call) runQueueDocument(ctx context.Context, target, method string, params map[string]string, wait bool) queueDocResult {
	a := c.pivot.action
	if a == nil || c.deps.Documents == nil {
		return queueDocResult{err: fmt.Errorf("no document fetcher")}
	}
	req := c.queueRequest(a, target, method, params)
	fctx, cancel := context.WithTimeout(ctx, req.Timeout+fetchGrace)
	doc, err := c.deps.Documents.FetchDocument(fctx, req)
	cancel()
	clear(c.keys.digits) // a wait document's Gather sends its keys once
	if err != nil {
		if ctx.Err() != nil {
			return queueDocResult{stopped: true}
		}
		return queueDocResult{err: err}
	}
	base := target
	if doc.URL != "" {
		base = documentBase(target, doc.URL)
	}
	if strings.HasPrefix(doc.ContentType, "audio/") {
		p, err := c.loadMedia(ctx, base)
		if err != nil {
			return queueDocResult{err: err}
		}
		return queueDocResult{stopped: !c.playPrompt(ctx, p, 1, "")}
	}
	tw, err := ParseTwiML(doc.Body)
	if err != nil {
		return queueDocResult{err: err}
	}
	saved := c.pivot.documentURL
	c.pivot.documentURL = base
	defer func() { c.pivot.documentURL = saved }()
	for _, verb := range tw.verbs {
		if ctx.Err() != nil || c.ended() {
			return queueDocResult{stopped: true}
		}
		var out twimlOutcome
		switch v := verb.(type) {
		case *playVerb, *sayVerb, *pauseVerb:
			out = verb.run(ctx, c, 1)
		case *redirectVerb:
			u, err := resolveAgainst(base, v.url)
			if err != nil {
				c.log.Warn("queue document: <Redirect> URL unusable", "url", v.url, "err", err)
				return queueDocResult{}
			}
			return queueDocResult{next: u, nextMethod: v.method}
		case leaveVerb:
			if wait {
				return queueDocResult{leave: true}
			}
			c.log.Warn("queue document: <Leave> only acts in a waitUrl document; skipped", "url", base)
			continue
		case hangupVerb:
			if wait {
				return queueDocResult{hangup: true}
			}
			c.log.Warn("queue document: <Hangup> is not allowed in a <Queue url> document; skipped", "url", base)
			continue
		case *gatherVerb:
			if !wait {
				c.log.Warn("queue document: <Gather> is not allowed in a <Queue url> document; skipped", "url", base)
				continue
			}
			out = v.run(ctx, c, 1)
			c.takeTypeAhead()
		default:
			c.log.Warn("queue document: only <Play>, <Say>, <Pause>, <Redirect> (and in a waitUrl <Leave>, <Hangup>, <Gather>) run here; verb skipped", "url", base)
			continue
		}
		if out.stop {
			return queueDocResult{stopped: true}
		}
		if out.redirect != "" {
			return queueDocResult{next: out.redirect, nextMethod: out.method}
		}
	}
	return queueDocResult{}
}

// queueRequest is the TwiML request of a queue's document or action: the call's parameters, with
// params (the queue's: QueueSid, QueuePosition, ...) added to a copy of its variables.
func (c *Call) queueRequest(a *pivotAction, target, method string, params map[string]string) httpfetch.PivotRequest {
	req := c.pivotRequest(a, target, method)
	req.Format, req.BodyFormat = httpfetch.FormatTwiML, httpfetch.BodyForm
	vars := maps.Clone(req.Params.Variables)
	if vars == nil {
		vars = map[string]string{}
	}
	maps.Copy(vars, params)
	req.Params.Variables = vars
	return req
}

// sideRequest requests target with the call's parameters and params and ignores what it returns
// (the Enqueue action of a call the Members API moves on).
func (c *Call) sideRequest(ctx context.Context, target, method string, params map[string]string) {
	req := c.queueRequest(c.pivot.action, target, method, params)
	fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), req.Timeout+fetchGrace)
	defer cancel()
	if _, err := c.deps.Documents.FetchDocument(fctx, req); err != nil {
		c.log.Warn("<Enqueue> action failed", "url", target, "err", err)
	}
}

// bridgedFromQueue is the caller's side of an agent's dequeue: it hears the <Queue url> document,
// says whether it is still there, then waits until the bridge ends.
func (c *Call) bridgedFromQueue(ctx context.Context, cl *queueClaim, left queueLeft) queueLeft {
	if left.callerHungUp {
		cl.ready <- false
		return left
	}
	if cl.whisper != "" {
		params := map[string]string{"QueueSid": left.sid, "QueueTime": strconv.Itoa(left.seconds),
			"DequeueingCallSid": cl.agentSid, "DequeingCallSid": cl.agentSid}
		target, method := cl.whisper, cl.whisperMethod
		for hop := 0; target != "" && hop <= maxWaitRedirects; hop++ {
			r := c.runQueueDocument(ctx, target, method, params, false)
			if r.err != nil {
				c.log.Warn("<Queue url> document failed; bridging", "url", target, "err", r.err)
			}
			if r.stopped {
				break
			}
			target, method = r.next, r.nextMethod
		}
	}
	if c.ended() || ctx.Err() != nil {
		cl.ready <- false
		left.result, left.callerHungUp = queueHangup, true
		return left
	}
	cl.ready <- true
	left.result, left.dequeuingAgent = queueBridged, cl.agentSid
	select {
	case <-cl.done:
		if !cl.bridged { // the agent went away during the <Queue url> document
			left.result = queueBridging
		}
	case <-c.ch.Context().Done():
	case <-ctx.Done():
	}
	if c.ended() || ctx.Err() != nil {
		left.callerHungUp = true
	}
	return left
}
