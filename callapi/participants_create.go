package callapi

import (
	"context"
	"encoding/xml"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/pivotua/pivotua/flow"
)

// participants.create (POST .../Conferences/{Sid or FriendlyName}/Participants.json) adds a party by
// calling it out: a call placed as calls.create places it (the same api.max_calls and
// calls_per_second, the same status callbacks), whose only instruction is to join the conference, with
// Twilio's <Conference> attributes from the request. Twilio creates the conference when the path
// names a friendly name no live room has: so does pivotua, the room opening with the sid answered here
// once a party joins it.

// checkTargetTimeout bounds the DNS lookup of a sip: To checked against sip.egress.
const checkTargetTimeout = 3 * time.Second

var (
	participantCreateParams = map[string]bool{
		"To": true, "From": true, "CallerId": true, "StatusCallback": true, "StatusCallbackMethod": true,
		"StatusCallbackEvent": true, "Timeout": true, "TimeLimit": true, "Record": true, "Muted": true, "Beep": true,
		"StartConferenceOnEnter": true, "EndConferenceOnExit": true, "WaitUrl": true, "WaitMethod": true,
		"EarlyMedia": true, "MaxParticipants": true, "ConferenceRecord": true, "ConferenceTrim": true,
		"ConferenceStatusCallback": true, "ConferenceStatusCallbackMethod": true, "ConferenceStatusCallbackEvent": true,
		"Coaching": true, "CallSidToCoach": true,
	}
	participantCreateRefused = map[string]string{
		"Label":                                   "participants are named by CallSid",
		"RecordingChannels":                       "recording the participant's call is not available: use ConferenceRecord",
		"RecordingStatusCallback":                 "recording the participant's call is not available: use ConferenceRecord",
		"RecordingStatusCallbackMethod":           "recording the participant's call is not available: use ConferenceRecord",
		"RecordingStatusCallbackEvent":            "recording the participant's call is not available: use ConferenceRecord",
		"RecordingTrack":                          "recording the participant's call is not available: use ConferenceRecord",
		"ConferenceRecordingStatusCallback":       "the conference's recording is stored and reported on the Dial action, not posted",
		"ConferenceRecordingStatusCallbackMethod": "the conference's recording is stored and reported on the Dial action, not posted",
		"ConferenceRecordingStatusCallbackEvent":  "the conference's recording is stored and reported on the Dial action, not posted",
		"SipAuthUsername":                         "digest credentials are a trunk's (trunks[].username)",
		"SipAuthPassword":                         "digest credentials are a trunk's (trunks[].password)",
		"Region":                                  "a room lives on the node that holds it",
		"JitterBufferSize":                        "every party has pivotua's own jitter buffer",
		"Byoc":                                    "outbound calls go through the configured trunks",
		"CallReason":                              "branded calls are not available",
		"CallToken":                               "call tokens are not available",
		"CallerDisplayName":                       "the caller ID is From",
		"Trim":                                    "recording the participant's call is not available: use ConferenceTrim",
		"MachineDetection":                        "answering machine detection is not available",
		"MachineDetectionTimeout":                 "answering machine detection is not available",
		"MachineDetectionSpeechThreshold":         "answering machine detection is not available",
		"MachineDetectionSpeechEndThreshold":      "answering machine detection is not available",
		"MachineDetectionSilenceTimeout":          "answering machine detection is not available",
		"AmdStatusCallback":                       "answering machine detection is not available",
		"AmdStatusCallbackMethod":                 "answering machine detection is not available",
	}
	conferenceEventWords = map[string]bool{"start": true, "end": true, "join": true, "leave": true, "mute": true, "hold": true}
	conferenceSidRe      = regexp.MustCompile(`^CF[0-9a-fA-F]{32}$`)
)

// CheckTargets makes participants.create refuse a sip: To that check refuses (sip.Server.CheckTarget:
// sip.egress), so the client hears it in the answer rather than from a call that fails later.
func (c *ConferencesAPI) CheckTargets(check func(ctx context.Context, uri string) error) *ConferencesAPI {
	c.checkTarget = check
	return c
}

// createParticipant is participants.create.
func (c *ConferencesAPI) createParticipant(w http.ResponseWriter, r *http.Request) {
	acct, ok := c.api.authenticate(w, r)
	if !ok {
		return
	}
	form, ok := readForm(w, r)
	if !ok || !refuseUnknown(w, form, participantCreateParams, participantCreateRefused) {
		return
	}
	req, ok := callTarget(w, acct, form)
	if !ok || !callOptions(w, form, &req) {
		return
	}
	conf, ok := conferenceAttrs(w, form)
	if !ok {
		return
	}
	ref := r.PathValue("ConferenceSid")
	name, sid := ref, ""
	switch ci, err := c.rooms.Lookup(acct, ref); {
	case err == nil:
		name, sid = ci.FriendlyName, ci.Sid
		if coach := conf.coach; coach != "" && !hasParticipant(ci, coach) {
			writeError(w, http.StatusBadRequest, 21200, "CallSidToCoach %s is not a participant of the conference", limitName(coach))
			return
		}
	case conferenceSidRe.MatchString(ref) || len(ref) > 256:
		writeError(w, http.StatusNotFound, 20404, "The requested resource %s was not found", r.URL.Path)
		return
	case conf.coach != "":
		writeError(w, http.StatusBadRequest, 21200, "CallSidToCoach %s is not a participant: the conference %s is not live", limitName(conf.coach), limitName(ref))
		return
	default:
		if sid, err = c.rooms.Reserve(acct, ref); err != nil {
			writeError(w, http.StatusBadRequest, 21200, "the path names no live conference, and %s cannot name one: %v", limitName(ref), err)
			return
		}
	}
	if c.checkTarget != nil && isSIPURI(req.To) {
		ctx, cancel := context.WithTimeout(r.Context(), checkTargetTimeout)
		err := c.checkTarget(ctx, req.To)
		cancel()
		if err != nil {
			writeError(w, http.StatusBadRequest, 21211, "Invalid 'To' %s: %v", limitName(req.To), err)
			return
		}
	}
	doc, err := flow.ParseTwiML([]byte(conf.twiml(name)))
	if err != nil { // each attribute was checked above: a document that does not parse is pivotua's fault
		writeError(w, http.StatusInternalServerError, 20500, "the participant's conference could not be built: %v", err)
		return
	}
	req.TwiML = doc
	rec, err := c.api.Place(req)
	if err != nil {
		c.api.placeFailed(w, acct, err)
		return
	}
	c.api.log.Info("conferences API: participant called", "account_id", acct, "conference_sid", sid, "conference", name, "call_sid", rec.Sid, "to", req.To)
	p := flow.ParticipantInfo{CallSid: rec.Sid, Muted: conf.muted, Coaching: conf.coach != "", CallSidToCoach: conf.coach,
		StartConferenceOnEnter: conf.startOnEnter, EndConferenceOnExit: conf.endOnExit, Joined: rec.Created}
	pj := participantJSONOf(flow.ConferenceInfo{Sid: sid, AccountID: acct}, p, r.PathValue("AccountSid"))
	pj.Status = "queued"
	writeJSON(w, http.StatusCreated, pj)
}

func hasParticipant(ci flow.ConferenceInfo, callSid string) bool {
	for _, p := range ci.Participants {
		if p.CallSid == callSid {
			return true
		}
	}
	return false
}

func isSIPURI(s string) bool {
	lower := strings.ToLower(s)
	return strings.HasPrefix(lower, "sip:") || strings.HasPrefix(lower, "sips:")
}

// participantConference is the <Conference> a participant added by the API joins.
type participantConference struct {
	muted, startOnEnter, endOnExit bool
	attrs                          [][2]string // attribute, value: in the request's order of checks
	coach                          string
}

// twiml is the participant's document: <Dial><Conference> of the room name with its attributes,
// every value escaped.
func (p participantConference) twiml(name string) string {
	var b strings.Builder
	b.WriteString("<Response><Dial><Conference")
	for _, a := range p.attrs {
		b.WriteString(" " + a[0] + `="`)
		_ = xml.EscapeText(&b, []byte(a[1]))
		b.WriteString(`"`)
	}
	b.WriteString(">")
	_ = xml.EscapeText(&b, []byte(name))
	b.WriteString("</Conference></Dial></Response>")
	return b.String()
}

// conferenceAttrs checks the participant's conference parameters and turns them into <Conference>
// attributes; it answers 400 itself, naming the parameter.
func conferenceAttrs(w http.ResponseWriter, form url.Values) (participantConference, bool) {
	p := participantConference{startOnEnter: true}
	boolean := func(name string, def bool) (bool, bool) {
		v := param(form, name)
		if v == "" {
			return def, true
		}
		b, err := strconv.ParseBool(v)
		if err != nil {
			writeError(w, http.StatusBadRequest, 21200, "%s must be true or false", name)
			return false, false
		}
		return b, true
	}
	set := func(attr, v string) { p.attrs = append(p.attrs, [2]string{attr, v}) }
	var ok bool
	if p.muted, ok = boolean("Muted", false); !ok {
		return p, false
	}
	if p.startOnEnter, ok = boolean("StartConferenceOnEnter", true); !ok {
		return p, false
	}
	if p.endOnExit, ok = boolean("EndConferenceOnExit", false); !ok {
		return p, false
	}
	set("muted", strconv.FormatBool(p.muted))
	set("startConferenceOnEnter", strconv.FormatBool(p.startOnEnter))
	set("endConferenceOnExit", strconv.FormatBool(p.endOnExit))
	switch v := param(form, "Beep"); v {
	case "":
	case "true", "false", "onEnter", "onExit":
		set("beep", v)
	default:
		writeError(w, http.StatusBadRequest, 21200, "Beep must be true, false, onEnter or onExit, not %s", limitName(v))
		return p, false
	}
	if early, ok := boolean("EarlyMedia", false); !ok {
		return p, false
	} else if early {
		writeError(w, http.StatusBadRequest, 21200, "EarlyMedia=true is not supported by pivotua: the room does not hear the participant's call before it answers")
		return p, false
	}
	if _, given := form["WaitUrl"]; given {
		if u := param(form, "WaitUrl"); u != "" {
			if msg := checkURL(u); msg != "" {
				writeError(w, http.StatusBadRequest, 21205, "WaitUrl %s", msg)
				return p, false
			}
		}
		set("waitUrl", param(form, "WaitUrl")) // empty: silence, as Twilio
	}
	for _, m := range [][2]string{{"WaitMethod", "waitMethod"}, {"ConferenceStatusCallbackMethod", "statusCallbackMethod"}} {
		if param(form, m[0]) == "" {
			continue
		}
		v, ok := method(w, form, m[0])
		if !ok {
			return p, false
		}
		set(m[1], v)
	}
	if v := param(form, "MaxParticipants"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 2 || n > flow.MaxConferenceParticipants {
			writeError(w, http.StatusBadRequest, 21200, "MaxParticipants must be a whole number between 2 and %d", flow.MaxConferenceParticipants)
			return p, false
		}
		set("maxParticipants", strconv.Itoa(n))
	}
	switch v := param(form, "ConferenceRecord"); v {
	case "", "false", "do-not-record":
	case "true", "record-from-start":
		set("record", "record-from-start")
	default:
		writeError(w, http.StatusBadRequest, 21200, "ConferenceRecord must be true, false, record-from-start or do-not-record, not %s", limitName(v))
		return p, false
	}
	switch v := param(form, "ConferenceTrim"); v {
	case "":
	case "trim-silence", "do-not-trim":
		set("trim", v)
	default:
		writeError(w, http.StatusBadRequest, 21200, "ConferenceTrim must be trim-silence or do-not-trim, not %s", limitName(v))
		return p, false
	}
	if u := param(form, "ConferenceStatusCallback"); u != "" {
		if msg := checkURL(u); msg != "" {
			writeError(w, http.StatusBadRequest, 21205, "ConferenceStatusCallback %s", msg)
			return p, false
		}
		set("statusCallback", u)
	}
	var events []string
	for _, v := range form["ConferenceStatusCallbackEvent"] {
		for _, ev := range strings.Fields(strings.ReplaceAll(v, ",", " ")) {
			if !conferenceEventWords[ev] {
				writeError(w, http.StatusBadRequest, 21200, "ConferenceStatusCallbackEvent %s is not one of start, end, join, leave, mute, hold", limitName(ev))
				return p, false
			}
			events = append(events, ev)
		}
	}
	if len(events) > 0 {
		set("statusCallbackEvent", strings.Join(events, " "))
	}
	coaching, ok := boolean("Coaching", false)
	if !ok {
		return p, false
	}
	p.coach = param(form, "CallSidToCoach")
	switch {
	case coaching && p.coach == "":
		writeError(w, http.StatusBadRequest, 21200, "Coaching=true needs CallSidToCoach")
		return p, false
	case p.coach != "" && param(form, "Coaching") != "" && !coaching:
		writeError(w, http.StatusBadRequest, 21200, "CallSidToCoach is given with Coaching=false")
		return p, false
	case p.coach != "":
		set("coach", p.coach)
	}
	return p, true
}
