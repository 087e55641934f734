package flow

import (
	"context"
	"strings"
	"time"

	"github.com/pivotua/pivotua/codec"
)

// recordBeep is Twilio's (and Kazoo's) beep before a recording: 500 ms at 440 Hz.
var recordBeep = codec.NewPrompt(codec.Tone(440, 500*time.Millisecond, 0.4))

// recordVerb is <Record> with Twilio's defaults (Kazoo's ceilings). It records the caller until a key
// of finishOnKey, timeout seconds of silence, maxLength or a hangup; the file is kept under
// recordings.dir and served by the HTTP listener (or uploaded to the Kazoo extra recordingUrl), and the
// action gets RecordingUrl, RecordingDuration and Digits. An empty recording requests nothing: the
// next verb runs. recordingStatusCallback gets the recording's events (recording_callback.go).
type recordVerb struct {
	action       string
	method       string
	timeout      time.Duration // silence that ends the recording; 0 = none
	finishOnKey  string
	maxLength    time.Duration
	playBeep     bool
	trim         string
	recordingURL string // Kazoo extra: where to upload
	callbacks    recordingCallbackSpec
	transcribe   bool // transcribe.go: recognise the recording and post it to transcribeCallback
	transcribeCB string
}

func parseRecordVerb(p *twimlParser, e *xmlElement, path string) twimlVerb {
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
	if v.recordingURL != "" && !isHTTPURL(v.recordingURL) {
		p.fail(path+"@recordingUrl", "must be an absolute http or https URL")
	}
	v.callbacks = parseRecordingCallback(p, a, path)
	v.transcribe = p.boolAttr(a, path, "transcribe", false)
	if _, ok := a["transcribeCallback"]; ok {
		v.transcribeCB = p.urlAttr(a, path, "transcribeCallback")
		v.transcribe = true // Twilio: a transcribeCallback implies transcribe
	}
	p.noChildren(e, path)
	p.noText(e, path)
	return v
}

func (v *recordVerb) run(ctx context.Context, c *Call, _ int) twimlOutcome {
	if c.answer(ctx) != nil {
		return twimlStop
	}
	c.activity++
	if v.playBeep {
		if _, err := c.playOnce(ctx, recordBeep, ""); err != nil && (c.ended() || ctx.Err() != nil) {
			return twimlStop
		}
	}
	c.takeTypeAhead() // keys pressed before the recording started do not end it
	events := c.startRecordingCallbacks(&v.callbacks, sourceRecordVerb, 1)
	events.inProgress()
	rec, hungUp, err := c.recordCaller(ctx, recordingJob{
		stopOnKey:    func(k byte) bool { return strings.IndexByte(v.finishOnKey, k) >= 0 },
		limit:        v.maxLength,
		silenceLimit: v.timeout,
	})
	next := twimlOutcome{}
	if hungUp {
		next = twimlStop
	}
	if err != nil {
		c.log.Error("<Record> failed", "err", err)
		events.failed()
		return next
	}
	if v.trim == "trim-silence" {
		if err := rec.trimSilence(); err != nil {
			c.log.Warn("<Record> trim failed, keeping the whole recording", "err", err)
		}
	}
	if rec.empty() { // Twilio: no action request, the next verb runs
		c.log.Info("<Record> is empty: no action request", "seconds", rec.duration().Seconds())
		c.event(EventRecording, map[string]any{"duration": rec.seconds(), "ended_by": rec.endedBy(), "discarded": "empty"})
		rec.remove()
		events.absent(rec.seconds())
		return next
	}
	recURL, err := v.publish(c, rec)
	if err != nil {
		c.log.Error("<Record> recording cannot be delivered", "err", err)
		events.failed()
		return next
	}
	c.recordingSaved(rec.path(), rec.seconds(), rec.endedBy(), recURL)
	events.completed(recURL, rec.seconds())
	if v.transcribe {
		c.transcribe(rec.path(), rec.base, recURL, v.transcribeCB)
	}
	action := v.action
	if action == "" {
		action = c.pivot.documentURL
	}
	target, err := c.resolveURL(action)
	if err != nil {
		c.log.Warn("<Record> action unusable, continuing", "action", action, "err", err)
		return next
	}
	c.rec.last = recordingResult{url: recURL, duration: rec.seconds()}
	switch {
	case hungUp:
		c.keys.setDigits("default", "hangup")
	case rec.reason == "key":
		c.keys.setDigits("default", string(rec.key))
	}
	return twimlOutcome{redirect: target, method: v.method, final: hungUp}
}

// publish makes the recording reachable and returns its RecordingUrl: the upload target when the
// document names a recordingUrl, else the file's URL on the HTTP listener.
func (v *recordVerb) publish(c *Call, rec *callerRecording) (string, error) {
	if v.recordingURL != "" && c.deps.Uploads != nil {
		return c.enqueueUpload(v.recordingURL, rec.base, rec.path(), "wav", "audio/wav", "PUT")
	}
	if c.deps.RecordingLinks != nil {
		return c.deps.RecordingLinks.RecordingURL(c.accountID, rec.base+".wav"), nil
	}
	return "file://" + rec.path(), nil
}
