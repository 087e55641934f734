package flow

import (
	"context"
	"fmt"
	"net/url"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/pivotua/pivotua/codec"
	"github.com/pivotua/pivotua/httpfetch"
)

// conferenceNoun is <Dial><Conference>name</Conference></Dial>: the caller joins the account's room
// of that name on this node (conference.go), with Twilio's attributes. Attributes pivotua does not
// build are refused by name, never ignored.
type conferenceNoun struct {
	name                    string
	muted                   bool
	beepEnter, beepExit     bool
	startOnEnter, endOnExit bool
	waitURL                 string // "" with waitSet: silence
	waitSet                 bool   // waitUrl given; absent: pivotua's default wait audio
	waitMethod              string
	max                     int
	record, trim            bool
	callback, cbMethod      string
	events                  map[string]bool
	coach                   string
}

// Limits of a <Conference>'s wait audio (waitUrl): Redirects followed, and how long the audio that is
// looped may be (what a document plays beyond it is cut).
const (
	maxWaitRedirects = 5
	maxWaitAudio     = 2 * time.Minute
)

// conferenceUnsupported are Twilio's <Conference> attributes pivotua refuses, with why.
var conferenceUnsupported = map[string]string{
	"recordingStatusCallback":       "is not supported: the recording is stored and reported as RecordingUrl on the Dial action",
	"recordingStatusCallbackMethod": "is not supported (no recordingStatusCallback)",
	"recordingStatusCallbackEvent":  "is not supported (no recordingStatusCallback)",
	"region":                        "is not supported: a room lives on the node of the call that opened it",
	"jitterBufferSize":              "is not supported: every party has pivotua's own jitter buffer",
	"participantLabel":              "is not supported: participants are named by CallSid",
	"eventCallbackUrl":              "is not supported",
}

func parseConferenceNoun(p *twimlParser, e *xmlElement, path string) *conferenceNoun {
	known := []string{"muted", "beep", "startConferenceOnEnter", "endConferenceOnExit", "waitUrl", "waitMethod",
		"maxParticipants", "record", "trim", "statusCallback", "statusCallbackEvent", "statusCallbackMethod", "coach"}
	for name := range conferenceUnsupported {
		known = append(known, name)
	}
	a := p.attrs(e, path, known...)
	for name, why := range conferenceUnsupported {
		if _, ok := a[name]; ok {
			p.fail(path+"@"+name, why)
		}
	}
	p.noChildren(e, path)
	n := &conferenceNoun{name: strings.TrimSpace(e.text)}
	if msg := checkConferenceName(n.name); msg != "" {
		p.fail(path, msg)
	}
	n.muted = p.boolAttr(a, path, "muted", false)
	switch p.enumAttr(a, path, "beep", "true", "true", "false", "onEnter", "onExit") {
	case "true":
		n.beepEnter, n.beepExit = true, true
	case "onEnter":
		n.beepEnter = true
	case "onExit":
		n.beepExit = true
	}
	n.startOnEnter = p.boolAttr(a, path, "startConferenceOnEnter", true)
	n.endOnExit = p.boolAttr(a, path, "endConferenceOnExit", false)
	if w, ok := a["waitUrl"]; ok {
		n.waitSet = true
		if strings.TrimSpace(w) != "" { // Twilio: an empty waitUrl is silence
			n.waitURL = p.urlAttr(a, path, "waitUrl")
		}
	}
	n.waitMethod = p.enumAttr(a, path, "waitMethod", "POST", "GET", "POST")
	n.max = p.intAttr(a, path, "maxParticipants", MaxConferenceParticipants, 2, MaxConferenceParticipants,
		fmt.Sprintf("must be an integer between 2 and %d", MaxConferenceParticipants))
	n.record = p.enumAttr(a, path, "record", "do-not-record", "do-not-record", "record-from-start") == "record-from-start"
	n.trim = p.enumAttr(a, path, "trim", "trim-silence", "trim-silence", "do-not-trim") == "trim-silence"
	n.callback = p.urlAttr(a, path, "statusCallback")
	n.cbMethod = p.enumAttr(a, path, "statusCallbackMethod", "POST", "GET", "POST")
	n.events = parseConferenceEvents(p, a, path)
	if coach, ok := a["coach"]; ok {
		n.coach = strings.TrimSpace(coach)
		if n.coach == "" || len(n.coach) > 128 || hasControlChars(n.coach) {
			p.fail(path+"@coach", "must be the CallSid of a participant")
		}
	}
	return n
}

// parseConferenceEvents reads statusCallbackEvent: space-separated words; Twilio's modify, speaker and
// announcement are refused (not built). Without it, start and end are posted.
func parseConferenceEvents(p *twimlParser, a map[string]string, path string) map[string]bool {
	want := map[string]bool{}
	s, ok := a["statusCallbackEvent"]
	if !ok {
		return map[string]bool{eventStart: true, eventEnd: true}
	}
	for _, w := range strings.Fields(strings.ReplaceAll(s, ",", " ")) {
		event, ok := conferenceEventWords[w]
		switch {
		case ok:
			want[event] = true
		case w == "modify" || w == "speaker" || w == "announcement":
			p.fail(path+"@statusCallbackEvent", fmt.Sprintf("%q is not supported (start, end, join, leave, mute, hold are)", w))
		default:
			p.fail(path+"@statusCallbackEvent", "must be words among start, end, join, leave, mute, hold")
		}
	}
	return want
}

// checkConferenceName returns why s cannot name a room, or "".
func checkConferenceName(s string) string {
	switch {
	case s == "":
		return "a conference name is required"
	case !utf8.ValidString(s):
		return "the conference name must be UTF-8"
	case hasControlChars(s):
		return "the conference name must not contain control characters"
	case len(s) > maxConferenceName:
		return fmt.Sprintf("the conference name must be at most %d bytes, not %d", maxConferenceName, len(s))
	}
	return ""
}

// checkConferenceDial refuses what a <Dial> with a <Conference> cannot do: Twilio takes the noun
// alone, and the Dial's own recording is the noun's record.
func checkConferenceDial(p *twimlParser, e *xmlElement, path string, v *dialVerb) {
	if len(v.targets) > 0 || strings.TrimSpace(e.text) != "" {
		p.fail(path, "<Conference> must be alone in its <Dial> (no number, <Number> or <Sip> beside it)")
	}
	if count := len(e.children); count > 1 {
		p.fail(path, "only one <Conference> may be dialled")
	}
	if v.record != recordNone {
		p.fail(path+"@record", "is not supported with <Conference>: use <Conference record=\"record-from-start\">")
	}
}

// runConference joins the conference, then goes on as Dial does: the action URL with DialCallStatus
// and DialCallDuration (and RecordingUrl when the room was recorded), or the next verb.
func (v *dialVerb) runConference(ctx context.Context, c *Call) twimlOutcome {
	n := v.conference
	c.activity++
	spec := conferenceSpec{
		name: n.name, muted: n.muted, beepEnter: n.beepEnter, beepExit: n.beepExit,
		startOnEnter: n.startOnEnter, endOnExit: n.endOnExit, max: n.max, record: n.record, trim: n.trim,
		coach: n.coach, hangupOnStar: v.hangupOnStar, timeLimit: v.timeLimit,
	}
	if c.answer(ctx) != nil {
		return twimlStop
	}
	if c.deps.Conferences != nil && !c.deps.Conferences.started(c.accountID, n.name) {
		spec.wait = c.conferenceWaitAudio(ctx, n)
	}
	if n.waitURL != "" { // for a room another node hosts: that node runs the waitUrl (conference_cluster.go)
		if u, err := c.resolveURL(n.waitURL); err == nil {
			spec.waitURL, spec.waitMethod = u, n.waitMethod
		}
	}
	spec.events = c.conferenceCallbacks(n)
	res := c.runConference(ctx, spec, "<Dial><Conference>")
	c.dial.last = dialResult{status: res.status, duration: res.duration, callerHungUp: res.callerHungUp}
	return v.afterDial(c, res.callerHungUp)
}

// conferenceCallbacks prepares the noun's status callbacks, copying what they need of the call now;
// nil when it has none.
func (c *Call) conferenceCallbacks(n *conferenceNoun) func() *conferenceEvents {
	a := c.pivot.action
	if n.callback == "" || a == nil || c.deps.Documents == nil {
		return nil
	}
	target, err := c.resolveURL(n.callback)
	if err != nil {
		c.log.Warn("<Conference> statusCallback unusable", "statusCallback", n.callback, "err", err)
		return nil
	}
	req := c.pivotRequest(a, target, n.cbMethod)
	req.Format, req.BodyFormat = httpfetch.FormatTwiML, httpfetch.BodyForm
	fetch, log, want := c.deps.Documents, c.log, n.events
	return func() *conferenceEvents { return newConferenceEvents(req, want, fetch, log) }
}

// conferenceWaitAudio is what the caller hears until the conference starts: pivotua's default without
// a waitUrl, silence with an empty one, else the audio of waitUrl's response: an audio file, or a
// TwiML document whose <Play>, <Say> and <Pause> are joined into one prompt (looped by the room),
// following <Redirect> up to maxWaitRedirects times. A fetch or document that fails gives the default,
// logged; other verbs are skipped, logged.
func (c *Call) conferenceWaitAudio(ctx context.Context, n *conferenceNoun) *codec.Prompt {
	switch {
	case !n.waitSet:
		return nil
	case n.waitURL == "":
		return silentWait()
	}
	return c.conferenceAudio(ctx, n.waitURL, n.waitMethod, "<Conference> waitUrl")
}

// conferenceAudio is the audio of ref's response, fetched as the call's pivot requests are (signed,
// with its parameters): an audio file, or a TwiML document whose <Play>, <Say> and <Pause> are joined
// into one prompt, following <Redirect> up to maxWaitRedirects times, at most maxWaitAudio long. The
// loader of waitUrl, and of the Participants API's HoldUrl and AnnounceUrl (what names which in the
// logs). nil when it could not be fetched (logged): the caller picks its default.
func (c *Call) conferenceAudio(ctx context.Context, ref, method, what string) *codec.Prompt {
	a := c.pivot.action
	if a == nil || c.deps.Documents == nil {
		return nil
	}
	target, err := c.resolveURL(ref)
	if err != nil {
		c.log.Warn(what+" unusable", "url", ref, "err", err)
		return nil
	}

	var pcm []int16
	limit := int(maxWaitAudio * codec.SampleRate / time.Second)
	for hop := 0; target != "" && len(pcm) < limit; hop++ {
		if hop > maxWaitRedirects {
			c.log.Warn(what+": too many Redirects, looping what was gathered", "redirects", maxWaitRedirects)
			break
		}
		req := c.pivotRequest(a, target, method)
		req.Format, req.BodyFormat = httpfetch.FormatTwiML, httpfetch.BodyForm
		fctx, cancel := context.WithTimeout(ctx, req.Timeout+fetchGrace)
		doc, err := c.deps.Documents.FetchDocument(fctx, req)
		cancel()
		if err != nil {
			c.log.Warn(what+" failed", "url", target, "err", err)
			return nil
		}
		base := target
		if doc.URL != "" {
			base = doc.URL
		}
		if strings.HasPrefix(doc.ContentType, "audio/") {
			p, err := c.loadMedia(ctx, base)
			if err != nil {
				c.log.Warn(what+" audio unusable", "url", base, "err", err)
				return nil
			}
			pcm = append(pcm, p.PCM()...)
			break
		}
		tw, err := ParseTwiML(doc.Body)
		if err != nil {
			c.log.Warn(what+" document invalid", "url", base, "err", err)
			return nil
		}
		target = ""
		for _, verb := range tw.verbs {
			switch v := verb.(type) {
			case *playVerb:
				if v.url == "" {
					continue
				}
				u, err := resolveAgainst(base, v.url)
				if err != nil {
					c.log.Warn(what+" <Play> URL unusable, skipped", "url", v.url, "err", err)
					continue
				}
				p, err := c.loadMedia(ctx, u)
				if err != nil {
					c.log.Warn(what+" <Play> media unavailable, skipped", "url", u, "err", err)
					continue
				}
				for range max(1, min(v.loop, 10)) {
					pcm = append(pcm, p.PCM()...)
				}
			case *sayVerb:
				p, err := v.render(ctx, c)
				if err != nil {
					c.log.Warn(what+" <Say> failed, skipped", "err", err)
					continue
				}
				pcm = append(pcm, p.PCM()...)
			case *pauseVerb:
				pcm = append(pcm, make([]int16, int(min(v.length, maxWaitAudio)*codec.SampleRate/time.Second))...)
			case *redirectVerb:
				u, err := resolveAgainst(base, v.url)
				if err != nil {
					c.log.Warn(what+" <Redirect> URL unusable", "url", v.url, "err", err)
				} else {
					target, method = u, v.method
				}
			default:
				c.log.Warn(what+": only <Play>, <Say>, <Pause> and <Redirect> play while waiting; verb skipped", "url", base)
			}
			if target != "" || len(pcm) >= limit {
				break
			}
		}
	}
	if len(pcm) > limit {
		pcm = pcm[:limit]
	}
	if len(pcm) == 0 {
		return silentWait()
	}
	return codec.NewPrompt(pcm)
}

// resolveAgainst resolves ref against base (RFC 3986 §5.2) and checks that the result is http(s).
func resolveAgainst(base, ref string) (string, error) {
	b, err := url.Parse(base)
	if err != nil {
		return "", err
	}
	r, err := url.Parse(strings.TrimSpace(ref))
	if err != nil {
		return "", err
	}
	abs := b.ResolveReference(r).String()
	if !isHTTPURL(abs) {
		return "", fmt.Errorf("%q is not an http or https URL", abs)
	}
	return abs, nil
}
