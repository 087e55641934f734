package flow

import (
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
// or error), through a callbackPoster of its own: a slow or dead target delays neither the media nor
// the call. Each post is a TwiML request like the pivot's plus Twilio's StreamSid, StreamName,
// StreamEvent, StreamError and Timestamp. A nil *streamCallbacks posts nothing.
type streamCallbacks struct {
	name   string
	req    httpfetch.PivotRequest // the pivot's parameters of the moment the stream started
	callID string
	iter   int
	poster *callbackPoster
	done   bool // set by ended; started and ended are called in turn, never at once
}

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
	return &streamCallbacks{
		name: n.name, req: req, callID: c.info.CallID, iter: c.pivot.iteration,
		poster: newCallbackPoster(callbackPosterConfig{
			fetch: c.deps.Documents, debug: c.deps.Debug, accountID: c.accountID, keep: a.debug,
			what: "<Stream> statusCallback", log: c.log,
		}),
	}
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
	r := cb.req
	r.Params.Variables = vars
	cb.poster.post(callbackPost{event: event, req: r, callID: cb.callID, iteration: cb.iter}) // started and one end fit the queue
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
	cb.poster.close()
}
