package callapi

import (
	"net/http"
	"net/url"
	"strconv"

	"github.com/pivotua/pivotua/flow"
)

// participantUpdate are participants(callSid).update's parameters: every one is checked before any
// acts, so a request refused with 400 changed nothing.
var participantUpdate = map[string]bool{
	"Muted": true, "Hold": true, "HoldUrl": true, "HoldMethod": true, "AnnounceUrl": true, "AnnounceMethod": true,
	"BeepOnExit": true, "EndConferenceOnExit": true, "Coaching": true, "CallSidToCoach": true,
}

// audioParam reads a URL parameter and its method (HoldUrl and HoldMethod, AnnounceUrl and
// AnnounceMethod); nil when the URL is absent. It answers 400 itself.
func audioParam(w http.ResponseWriter, form url.Values, urlName, methodName string) (*flow.AudioRequest, bool) {
	u := param(form, urlName)
	if u == "" {
		if param(form, methodName) != "" {
			writeError(w, http.StatusBadRequest, 21200, "%s is given without %s", methodName, urlName)
			return nil, false
		}
		return nil, true
	}
	if msg := checkURL(u); msg != "" {
		writeError(w, http.StatusBadRequest, 21205, "%s %s", urlName, msg)
		return nil, false
	}
	m, ok := method(w, form, methodName)
	if !ok {
		return nil, false
	}
	return &flow.AudioRequest{URL: u, Method: m}, true
}

// announceRoom plays AnnounceUrl to the whole room (conferences(sid).update); true when the request
// goes on. Status is checked first, so a refused Status announces nothing.
func (c *ConferencesAPI) announceRoom(w http.ResponseWriter, r *http.Request, form url.Values, acct, sid string) bool {
	if s := param(form, "Status"); s != "" && s != flow.ConferenceCompleted {
		writeError(w, http.StatusBadRequest, 21200, "Status can only be completed")
		return false
	}
	ann, ok := audioParam(w, form, "AnnounceUrl", "AnnounceMethod")
	if !ok || ann == nil {
		return ok
	}
	if err := c.rooms.Announce(acct, sid, *ann); err != nil {
		c.participantGone(w, r, err)
		return false
	}
	c.api.log.Info("conferences API: announcement", "account_id", acct, "conference_sid", sid, "url", ann.URL)
	return true
}

// updateParticipant is participants(callSid).update: Muted and Hold acted on from the room's next
// 20 ms tick; HoldUrl and AnnounceUrl once their audio is fetched (on the party's call); BeepOnExit,
// EndConferenceOnExit, and Coaching with CallSidToCoach (a coach rejoins the mix as one).
func (c *ConferencesAPI) updateParticipant(w http.ResponseWriter, r *http.Request) {
	acct, ok := c.api.authenticate(w, r)
	if !ok {
		return
	}
	form, ok := readForm(w, r)
	if !ok || !refuseUnknown(w, form, participantUpdate, participantRefused) {
		return
	}
	flags := map[string]*bool{}
	for _, name := range []string{"Muted", "Hold", "BeepOnExit", "EndConferenceOnExit", "Coaching"} {
		v := param(form, name)
		if v == "" {
			continue
		}
		b, err := strconv.ParseBool(v)
		if err != nil {
			writeError(w, http.StatusBadRequest, 21200, "%s must be true or false", name)
			return
		}
		flags[name] = &b
	}
	hold, ok := audioParam(w, form, "HoldUrl", "HoldMethod")
	if !ok {
		return
	}
	announce, ok := audioParam(w, form, "AnnounceUrl", "AnnounceMethod")
	if !ok {
		return
	}
	ci, p, ok := c.findParticipant(w, r, acct)
	if !ok {
		return
	}
	coach, coachSet := p.CallSidToCoach, false
	if v := param(form, "CallSidToCoach"); v != "" {
		if flags["Coaching"] != nil && !*flags["Coaching"] {
			writeError(w, http.StatusBadRequest, 21200, "CallSidToCoach is given with Coaching=false")
			return
		}
		if v == p.CallSid || !hasParticipant(ci, v) {
			writeError(w, http.StatusBadRequest, 21200, "CallSidToCoach %s is not another participant of the conference", limitName(v))
			return
		}
		coach, coachSet = v, true
	}
	if b := flags["Coaching"]; b != nil {
		switch {
		case !*b:
			coach, coachSet = "", true
		case coach == "":
			writeError(w, http.StatusBadRequest, 21200, "Coaching=true needs CallSidToCoach")
			return
		}
	}
	act := []func() error{}
	if b := flags["Muted"]; b != nil {
		p.Muted = *b
		act = append(act, func() error { return c.rooms.SetMuted(acct, ci.Sid, p.CallSid, *b) })
	}
	if hold != nil {
		act = append(act, func() error { return c.rooms.SetHoldAudio(acct, ci.Sid, p.CallSid, *hold) })
	}
	if b := flags["Hold"]; b != nil {
		p.Hold = *b
		act = append(act, func() error { return c.rooms.SetHold(acct, ci.Sid, p.CallSid, *b) })
	}
	if announce != nil {
		act = append(act, func() error { return c.rooms.AnnounceTo(acct, ci.Sid, p.CallSid, *announce) })
	}
	if b := flags["BeepOnExit"]; b != nil {
		act = append(act, func() error { return c.rooms.SetBeepOnExit(acct, ci.Sid, p.CallSid, *b) })
	}
	if b := flags["EndConferenceOnExit"]; b != nil {
		p.EndConferenceOnExit = *b
		act = append(act, func() error { return c.rooms.SetEndOnExit(acct, ci.Sid, p.CallSid, *b) })
	}
	if coachSet {
		p.Coaching, p.CallSidToCoach = coach != "", coach
		act = append(act, func() error { return c.rooms.SetCoach(acct, ci.Sid, p.CallSid, coach) })
	}
	for _, fn := range act {
		if err := fn(); err != nil {
			c.participantGone(w, r, err)
			return
		}
	}
	c.api.log.Info("conferences API: participant updated", "account_id", acct, "conference_sid", ci.Sid, "call_sid", p.CallSid,
		"muted", p.Muted, "hold", p.Hold)
	writeJSON(w, http.StatusOK, participantJSONOf(ci, p, r.PathValue("AccountSid")))
}
