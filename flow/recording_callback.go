package flow

import (
	"crypto/rand"
	"encoding/hex"
	"strconv"
	"strings"
	"time"

	"github.com/pivotua/pivotua/httpfetch"
)

// Twilio's recording status events: the values of recordingStatusCallbackEvent and of the
// callback's RecordingStatus.
const (
	recordingInProgress = "in-progress" // the recording has begun
	recordingCompleted  = "completed"   // the file is stored and reachable at RecordingUrl
	recordingAbsent     = "absent"      // nothing was kept: no speech, or under a second (<Record>)
)

// Twilio's RecordingSource of the recordings pivotua makes.
const (
	sourceRecordVerb = "RecordVerb"
	sourceDialVerb   = "DialVerb"
)

// recordingCallbackRetries is how many more times a recording's callback is tried when the
// application does not take it (down, 5xx): with the doubling backoff from 1 s, about a minute.
const recordingCallbackRetries = 6

// recordingCallbackSpec is a verb's recordingStatusCallback, recordingStatusCallbackMethod and
// recordingStatusCallbackEvent (Twilio's <Record> and <Dial>); url "" = none.
type recordingCallbackSpec struct {
	url, method string
	events      []string // of recordingInProgress, recordingCompleted, recordingAbsent
}

// parseRecordingCallback reads the three attributes. Events are space-separated (Twilio also
// accepts commas); the default is completed.
func parseRecordingCallback(p *twimlParser, a map[string]string, path string) recordingCallbackSpec {
	spec := recordingCallbackSpec{
		url:    p.urlAttr(a, path, "recordingStatusCallback"),
		method: p.enumAttr(a, path, "recordingStatusCallbackMethod", "POST", "GET", "POST"),
		events: []string{recordingCompleted},
	}
	if s, ok := a["recordingStatusCallbackEvent"]; ok {
		spec.events = nil
		for _, ev := range strings.FieldsFunc(s, func(r rune) bool { return r == ' ' || r == ',' }) {
			switch ev {
			case recordingInProgress, recordingCompleted, recordingAbsent:
				spec.events = append(spec.events, ev)
			default:
				p.fail(path+"@recordingStatusCallbackEvent", "must be in-progress, completed and/or absent, separated by spaces")
				return spec
			}
		}
	}
	return spec
}

func (s *recordingCallbackSpec) wants(event string) bool {
	for _, ev := range s.events {
		if ev == event {
			return true
		}
	}
	return false
}

// recordingCallbacks posts one recording's events to its recordingStatusCallback, in order, with
// Twilio's parameters (AccountSid, CallSid, RecordingSid, RecordingUrl, RecordingStatus,
// RecordingDuration, RecordingChannels, RecordingStartTime, RecordingSource, ErrorCode), signed. The
// events go out after what they report happened: completed once the file is stored (and its upload
// queued). A nil *recordingCallbacks posts nothing.
type recordingCallbacks struct {
	spec     recordingCallbackSpec
	sid      string // RE + 32 hex digits
	source   string
	channels int
	started  time.Time
	req      httpfetch.PivotRequest // URL, method, signing and the call's identity
	callID   string
	iter     int
	poster   *callbackPoster
}

// startRecordingCallbacks prepares the callbacks of a recording that starts now; nil when spec has no
// URL or it cannot be resolved (logged, as Twilio warns 13256 and records anyway).
func (c *Call) startRecordingCallbacks(spec *recordingCallbackSpec, source string, channels int) *recordingCallbacks {
	a := c.pivot.action
	if spec == nil || spec.url == "" || a == nil || c.deps.Documents == nil {
		return nil
	}
	target, err := c.resolveURL(spec.url)
	if err != nil {
		c.log.Warn("recordingStatusCallback unusable, the recording goes on without it", "url", spec.url, "err", err)
		return nil
	}
	base := c.pivotRequest(a, target, spec.method)
	req := httpfetch.PivotRequest{
		URL: target, Method: spec.method, Format: httpfetch.FormatTwiML, BodyFormat: httpfetch.BodyForm,
		Timeout: base.Timeout, SigningKey: base.SigningKey,
		Params: httpfetch.CallParams{AccountID: base.Params.AccountID, CallID: base.Params.CallID, Direction: base.Params.Direction},
	}
	return &recordingCallbacks{
		spec: *spec, sid: newSid("RE"), source: source, channels: channels, started: time.Now(),
		req: req, callID: c.info.CallID, iter: c.pivot.iteration,
		poster: newCallbackPoster(callbackPosterConfig{
			fetch: c.deps.Documents, debug: c.deps.Debug, accountID: c.accountID, keep: a.debug,
			what: "recordingStatusCallback", log: c.log, retries: recordingCallbackRetries,
		}),
	}
}

// inProgress reports the recording begun.
func (rc *recordingCallbacks) inProgress() {
	if rc != nil {
		rc.post(recordingInProgress, "", -1)
	}
}

// completed reports the recording stored at url, seconds long, and ends the series.
func (rc *recordingCallbacks) completed(url string, seconds int) {
	if rc != nil {
		rc.post(recordingCompleted, url, seconds)
		rc.poster.close()
	}
}

// absent reports that nothing was kept, and ends the series.
func (rc *recordingCallbacks) absent(seconds int) {
	if rc != nil {
		rc.post(recordingAbsent, "", seconds)
		rc.poster.close()
	}
}

// failed ends the series without a further event: the file could not be written or published
// (logged where it failed); Twilio's callback has no event for that.
func (rc *recordingCallbacks) failed() {
	if rc != nil {
		rc.poster.close()
	}
}

// post queues status's callback when the verb asked for it; seconds < 0 sends no duration.
func (rc *recordingCallbacks) post(status, url string, seconds int) {
	if !rc.spec.wants(status) {
		return
	}
	vars := map[string]string{
		"RecordingSid":       rc.sid,
		"RecordingStatus":    status,
		"RecordingChannels":  strconv.Itoa(rc.channels),
		"RecordingSource":    rc.source,
		"RecordingStartTime": rc.started.UTC().Format(time.RFC1123Z),
		"RecordingUrl":       url,
		"ErrorCode":          "0",
	}
	if seconds >= 0 {
		vars["RecordingDuration"] = strconv.Itoa(seconds)
	}
	r := rc.req
	r.Params.Variables = vars
	rc.poster.post(callbackPost{event: status, req: r, callID: rc.callID, iteration: rc.iter})
}

// newSid is a Twilio-shaped sid: prefix and 32 random hex digits.
func newSid(prefix string) string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (Go 1.24)
	return prefix + hex.EncodeToString(b[:])
}
