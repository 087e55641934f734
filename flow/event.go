package flow

import (
	"path/filepath"
	"strings"
	"time"
	"unicode/utf8"
)

// Event names: what the call inspector's timeline shows between the pivot exchanges.
const (
	EventAnswered  = "answered"  // 200 OK went out
	EventVerb      = "verb"      // a TwiML verb or Kazoo module starts: name, attrs/data, text
	EventDigits    = "digits"    // keys collected: digits, and the verb or collection
	EventRecording = "recording" // a recording ended: duration, ended_by, url, playable_url
	EventDial      = "dial"      // a Dial ended: status, dial_call_id, duration
	EventHangup    = "hangup"    // the call ended: by, sip, code, reason
	EventWarning   = "warning"   // something of the document is not done as its author may expect: verb, message
)

// Event is something that happened on a call, for the debug store beside the pivot exchanges.
// Deps.Events receives them while the running pivot has debug: true; the hangup also when the call
// reported any Exchange (a failure is kept whatever the flag), so every call with records ends with
// its hangup. Events before the call's first pivot request are not reported: its flag is not known.
type Event struct {
	AccountID string
	CallID    string
	Iteration int // of the pivot request whose document is running; 0 before any
	At        time.Time
	Name      string
	Data      map[string]any // small, JSON-encodable
}

// eventState is what a call's events depend on.
type eventState struct {
	debug    bool           // the running pivot has debug: true: events are reported
	reported bool           // an Exchange went to Deps.Debug: the hangup event is reported
	ending   map[string]any // how we ended the call (EventHangup data); nil: we did not
}

// maxEventText bounds the text (a <Say>'s words, a module's data) an event carries.
const maxEventText = 2000

// event reports an event when the running pivot keeps debug records. Called by the call's goroutine.
func (c *Call) event(name string, data map[string]any) {
	if c.events.debug {
		c.sendEvent(name, data)
	}
}

func (c *Call) sendEvent(name string, data map[string]any) {
	if c.deps.Events == nil {
		return
	}
	c.deps.Events(Event{
		AccountID: c.accountID, CallID: c.info.CallID, Iteration: c.pivot.iteration,
		At: time.Now(), Name: name, Data: data,
	})
}

// hangupEvent reports how the call ended, once Run is done: by us (the cause set by hangup or
// reject), else by the far end (BYE, or CANCEL before an answer) or the media timeout.
func (c *Call) hangupEvent() {
	if !c.events.debug && !c.events.reported {
		return
	}
	c.sendEvent(EventHangup, c.endingData())
}

// endingData says how the call ended: by whom ("pivotua", "caller", "media_timeout"), with which SIP
// message, and the final response's code and reason when we sent one.
func (c *Call) endingData() map[string]any {
	if c.events.ending != nil {
		return c.events.ending
	}
	by := c.ch.EndedBy()
	sip := "CANCEL"
	if c.answered {
		sip = "BYE"
	}
	return map[string]any{"by": by, "sip": sip}
}

// noteEnding remembers that we are ending the call, unless the far end already did: with a BYE
// (code 0), else with the final response code.
func (c *Call) noteEnding(code int, reason string) {
	if c.events.ending != nil || c.ended() {
		return
	}
	c.events.ending = map[string]any{"by": "pivotua", "sip": "BYE"}
	if code > 0 {
		c.events.ending["sip"], c.events.ending["code"], c.events.ending["reason"] = "response", code, reason
	}
}

// moduleSummary describes a Kazoo module for its event: its name and data (unless large).
func moduleSummary(n *Node) map[string]any {
	out := map[string]any{"name": n.Module}
	switch {
	case len(n.Data) > maxEventText:
		out["data_bytes"] = len(n.Data)
	case len(n.Data) > 0:
		out["data"] = n.Data
	}
	return out
}

// recordingSaved counts a finished recording and reports its event: the URL the next request reports
// and, while the file is kept under recordings.dir, the URL pivotua serves it at (the inspector plays
// it from there).
func (c *Call) recordingSaved(file string, seconds int, endedBy, reportedURL string) {
	if c.deps.Observer != nil {
		c.deps.Observer.RecordingSaved()
	}
	if !c.events.debug {
		return
	}
	data := map[string]any{"duration": seconds, "ended_by": endedBy, "url": reportedURL}
	if c.deps.RecordingLinks != nil && file != "" {
		data["playable_url"] = c.deps.RecordingLinks.RecordingURL(c.accountID, filepath.Base(file))
	}
	c.sendEvent(EventRecording, data)
}

// verbSummary describes a TwiML verb for its event: name, attributes, text and nested verbs.
func verbSummary(e *xmlElement) map[string]any {
	out := map[string]any{"name": e.name}
	if len(e.attrs) > 0 {
		attrs := make(map[string]string, len(e.attrs))
		for _, a := range e.attrs {
			attrs[a.Name.Local] = clip(a.Value)
		}
		out["attrs"] = attrs
	}
	if text := strings.TrimSpace(e.text); text != "" {
		out["text"] = clip(text)
	}
	if len(e.children) > 0 {
		nested := make([]map[string]any, 0, len(e.children))
		for _, child := range e.children {
			nested = append(nested, verbSummary(child))
		}
		out["nested"] = nested
	}
	return out
}

// clip bounds s to maxEventText bytes, on a rune boundary.
func clip(s string) string {
	if len(s) <= maxEventText {
		return s
	}
	cut := maxEventText
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}
