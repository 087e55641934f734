package flow

import (
	"context"
	"errors"
	"time"

	"github.com/pivotua/pivotua/httpfetch"
	"github.com/pivotua/pivotua/mediastream"
)

// Twilio's <Stream statusCallback> events (StreamEvent).
const (
	streamStarted = "stream-started"
	streamStopped = "stream-stopped"
	streamError   = "stream-error"
)

// streamCallbacks posts one stream's events to its statusCallback, in order (started, then stopped
// or error), from a goroutine of its own: a slow or dead target delays neither the media nor the
// call. Each post is a TwiML request like the pivot's (signed, deny lists, timeouts) plus Twilio's
// StreamSid, StreamName, StreamEvent, StreamError and Timestamp. A nil *streamCallbacks posts
// nothing.
type streamCallbacks struct {
	name   string
	events chan map[string]string
	done   bool // set by ended; started and ended are called in turn, never at once
}

// streamEventQueue holds a stream's events: started and one end.
const streamEventQueue = 2

// streamCallbacks prepares n's callbacks, copying what they need of the call now (on its
// goroutine); nil when n has no statusCallback.
func (c *Call) streamCallbacks(n *streamNoun) *streamCallbacks {
	a := c.pivot.action
	if n.callback == "" || a == nil || c.deps.Documents == nil {
		return nil
	}
	target, err := c.resolveURL(n.callback)
	if err != nil {
		c.log.Warn("<Stream> statusCallback unusable", "statusCallback", n.callback, "err", err)
		return nil
	}
	req := c.pivotRequest(a, target, n.cbMethod)
	req.Format, req.BodyFormat = httpfetch.FormatTwiML, httpfetch.BodyForm
	fetch, debug, log := c.deps.Documents, c.deps.Debug, c.log
	accountID, callID, iteration, keep := c.accountID, c.info.CallID, c.pivot.iteration, a.debug
	cb := &streamCallbacks{name: n.name, events: make(chan map[string]string, streamEventQueue)}
	go func() {
		for vars := range cb.events {
			r := req
			r.Params.Variables = vars
			ctx, cancel := context.WithTimeout(context.Background(), r.Timeout+fetchGrace)
			start := time.Now()
			doc, err := fetch.FetchDocument(ctx, r)
			cancel()
			if err != nil {
				log.Warn("<Stream> statusCallback failed", "event", vars["StreamEvent"], "url", target, "err", err)
			}
			if debug != nil && (keep || err != nil) {
				ex := newExchange(callID, iteration, r, doc, time.Since(start))
				ex.AccountID, ex.Debug, ex.Err = accountID, keep, err
				debug(ex)
			}
		}
	}()
	return cb
}

func (cb *streamCallbacks) post(event, sid, streamErr string) {
	vars := map[string]string{
		"StreamSid": sid, "StreamName": cb.name, "StreamEvent": event,
		"Timestamp": time.Now().UTC().Format(time.RFC3339Nano),
	}
	if cb.name == "" {
		vars["StreamName"] = sid
	}
	if streamErr != "" {
		vars["StreamError"] = streamErr
	}
	cb.events <- vars // never blocks: started and one end fit the queue
}

// started reports the stream open.
func (cb *streamCallbacks) started(sid string) {
	if cb != nil {
		cb.post(streamStarted, sid, "")
	}
}

// ended reports the stream over, stopped when err is nil or the application closed it, and
// ends the callbacks; later calls do nothing.
func (cb *streamCallbacks) ended(sid string, err error) {
	if cb == nil || cb.done {
		return
	}
	cb.done = true
	if err == nil || errors.Is(err, mediastream.ErrClosedByApp) {
		cb.post(streamStopped, sid, "")
	} else {
		cb.post(streamError, sid, err.Error())
	}
	close(cb.events)
}
