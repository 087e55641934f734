package debugapi

import (
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"time"
)

// The conferences API is Kazoo's crossbar conferences resource (applications/crossbar/doc/
// conference.md) where it maps onto pivotua's live rooms, with the same tokens and envelopes as the
// debug API:
//
//	GET /v2/accounts/{ACCOUNT_ID}/conferences                                   the account's live rooms
//	GET /v2/accounts/{ACCOUNT_ID}/conferences/{CONFERENCE_ID}                   one, its participants under _read_only
//	GET /v2/accounts/{ACCOUNT_ID}/conferences/{CONFERENCE_ID}/participants      its participants
//	PUT /v2/accounts/{ACCOUNT_ID}/conferences/{CONFERENCE_ID}/participants      {"data":{"action":...}} on all of them
//	PUT /v2/accounts/{ACCOUNT_ID}/conferences/{CONFERENCE_ID}/participants/{ID} {"data":{"action":...}} on one
//
// pivotua keeps no conference documents: a room exists while parties are in it, and its
// CONFERENCE_ID is the room's name (the conference module's id or config.name, <Conference>'s text)
// or its Twilio sid (CF...). A participant's ID is Kazoo's participant_id (its order of joining) or
// its call_id. The actions are mute, unmute, deaf, undeaf and kick; what rooms do is behind
// ConferenceControl, which cmd/pivotua implements over flow.

// ConferenceControl is what the conferences API needs of the rooms, keyed by the token's account so
// an account only ever sees and steers its own. Errors: ErrConferenceNotFound, ErrParticipantNotFound.
type ConferenceControl interface {
	// List returns the account's live rooms, oldest first.
	List(accountID string) []Conference
	// Get returns the account's live room id (its name or sid).
	Get(accountID, id string) (Conference, bool)
	// Act does action (one of ConferenceActions) to the participant of room id (its participant_id or
	// call_id), or to every participant when participant is "".
	Act(accountID, id, participant, action string) error
}

// Conference is a live room as the conferences API shows it.
type Conference struct {
	Name         string // its id in the API
	Sid          string // Twilio's sid for it
	Started      bool   // mixing; false while its parties wait for one that starts it
	Created      time.Time
	Participants []Participant
}

// Participant is one party of a live room.
type Participant struct {
	ID                 int    // Kazoo's participant_id
	CallID             string // the call's CallSid: its SIP Call-ID, or a placed call's CA sid
	Muted, Deaf, Hold  bool
	Joined             time.Time
	StartsOnEnter      bool
	EndsConferenceExit bool
	Moderator          bool // joined as the room's moderator (the conference module's moderator)
}

// Why a conferences request was refused.
var (
	ErrConferenceNotFound  = errors.New("conference not found")
	ErrParticipantNotFound = errors.New("participant not found")
)

// ConferenceActions are the participant actions pivotua does.
var ConferenceActions = []string{"mute", "unmute", "deaf", "undeaf", "kick"}

var (
	// refusedParticipantActions are Kazoo's participant actions pivotua does not do, and why.
	refusedParticipantActions = map[string]string{
		"relate": "participants cannot be related: use Twilio's coaching (the Participants API's CallSidToCoach)",
		"play":   "use the Participants API's AnnounceUrl to play to one participant",
	}
	// refusedConferenceActions are Kazoo's conference actions (PUT .../conferences/{ID}).
	refusedConferenceActions = map[string]string{
		"lock":   "rooms cannot be locked: give the room a maxParticipants",
		"unlock": "rooms cannot be locked",
		"dial":   "add a participant through the Participants API (POST .../Conferences/{name}/Participants.json)",
		"play":   "use the Conferences API's AnnounceUrl to play to the room",
		"record": "a room is recorded from its start (<Conference record=\"record-from-start\">)",
	}
)

// maxConferenceID bounds a CONFERENCE_ID or participant ID in a path.
const maxConferenceID = 256

// UseConferences serves the conferences API over cc; until it is called the API answers 503.
func (a *API) UseConferences(cc ConferenceControl) { a.conferences = cc }

// registerConferences adds the conferences routes to mux.
func (a *API) registerConferences(mux *http.ServeMux) {
	mux.HandleFunc("/v2/accounts/{account_id}/conferences", a.conferencesList)
	mux.HandleFunc("/v2/accounts/{account_id}/conferences/{conference_id}", a.conferenceResource)
	mux.HandleFunc("/v2/accounts/{account_id}/conferences/{conference_id}/participants", a.participantsResource)
	mux.HandleFunc("/v2/accounts/{account_id}/conferences/{conference_id}/participants/{participant_id}", a.participantsResource)
}

// conferenceRowJSON is a row of the list, as Kazoo's (its real-time summary), plus the sid.
type conferenceRowJSON struct {
	ID            string `json:"id"`
	Name          string `json:"name"`
	ConferenceSid string `json:"conference_sid"`
	Members       int    `json:"members"`
	Duration      int    `json:"duration"`
	IsLocked      bool   `json:"is_locked"`
	Status        string `json:"status"`
}

// participantJSON is a participant as Kazoo's _read_only.participants shows it (hear and speak are
// false while deaf, muted or on hold; is_moderator for a caller the conference module sent in as
// moderator), plus pivotua's muted, deaf and hold.
type participantJSON struct {
	CallID         string `json:"call_id"`
	ConferenceName string `json:"conference_name"`
	ConferenceUUID string `json:"conference_uuid"`
	ParticipantID  int    `json:"participant_id"`
	Hear           bool   `json:"hear"`
	Speak          bool   `json:"speak"`
	Muted          bool   `json:"muted"`
	Deaf           bool   `json:"deaf"`
	Hold           bool   `json:"hold"`
	IsModerator    bool   `json:"is_moderator"`
	JoinTime       int64  `json:"join_time"`
	Duration       int    `json:"duration"`
}

// conferenceDocJSON is a conference document with its real-time part.
type conferenceDocJSON struct {
	ID       string `json:"id"`
	Name     string `json:"name"`
	ReadOnly struct {
		conferenceRowJSON
		Participants []participantJSON `json:"participants"`
	} `json:"_read_only"`
}

func (a *API) conferenceRow(c Conference) conferenceRowJSON {
	status := "init"
	if c.Started {
		status = "in-progress"
	}
	return conferenceRowJSON{ID: c.Name, Name: c.Name, ConferenceSid: c.Sid, Members: len(c.Participants),
		Duration: int(a.cfg.Now().Sub(c.Created) / time.Second), Status: status}
}

func (a *API) participantsOf(c Conference) []participantJSON {
	out := make([]participantJSON, 0, len(c.Participants))
	for _, p := range c.Participants {
		out = append(out, participantJSON{
			CallID: p.CallID, ConferenceName: c.Name, ConferenceUUID: c.Sid, ParticipantID: p.ID,
			Hear: !p.Deaf && !p.Hold, Speak: !p.Muted && !p.Hold, Muted: p.Muted, Deaf: p.Deaf, Hold: p.Hold,
			IsModerator: p.Moderator, JoinTime: GregorianSeconds(p.Joined), Duration: int(a.cfg.Now().Sub(p.Joined) / time.Second),
		})
	}
	return out
}

// conferencesReady answers 503 until the rooms are there, and authorizes the request.
func (a *API) conferencesReady(rp *reply, r *http.Request) (string, bool) {
	account, ok := a.authorize(rp, r)
	if !ok {
		return "", false
	}
	if a.conferences == nil {
		rp.fail(http.StatusServiceUnavailable, "the conferences API is not available on this node")
		return "", false
	}
	return account, true
}

// conferencesList serves GET .../conferences.
func (a *API) conferencesList(w http.ResponseWriter, r *http.Request) {
	rp := a.newReply(w, r)
	if !isRead(r) {
		rp.methodNotAllowed(http.MethodGet)
		return
	}
	account, ok := a.conferencesReady(rp, r)
	if !ok {
		return
	}
	list := a.conferences.List(account)
	out := make([]conferenceRowJSON, 0, len(list))
	for _, c := range list {
		out = append(out, a.conferenceRow(c))
	}
	remote, ok := a.remoteConferences(rp, r)
	if !ok {
		return
	}
	rp.ok(http.StatusOK, append(out, remote...))
}

// findConference answers 404 itself for a room the account does not have live.
func (a *API) findConference(rp *reply, r *http.Request, account string) (Conference, bool) {
	id := r.PathValue("conference_id")
	if id != "" && len(id) <= maxConferenceID {
		if c, ok := a.conferences.Get(account, id); ok {
			return c, true
		}
		if a.forwardConference(rp, r) {
			return Conference{}, false
		}
	}
	rp.fail(http.StatusNotFound, "conference not found: the account has no live conference "+strconv.Quote(limitText(id)))
	return Conference{}, false
}

// conferenceOf is the preamble of a request on one room (GET, or PUT of an action): the method, the
// account's readiness and the room the path names; false once rp has answered.
func (a *API) conferenceOf(rp *reply, r *http.Request) (account string, c Conference, ok bool) {
	if !isRead(r) && r.Method != http.MethodPut {
		rp.methodNotAllowed(http.MethodGet, http.MethodPut)
		return "", Conference{}, false
	}
	if account, ok = a.conferencesReady(rp, r); !ok {
		return "", Conference{}, false
	}
	c, ok = a.findConference(rp, r, account)
	return account, c, ok
}

// conferenceResource serves GET (the document) and PUT (a conference action: none is done, each
// refused with why) on .../conferences/{ID}.
func (a *API) conferenceResource(w http.ResponseWriter, r *http.Request) {
	rp := a.newReply(w, r)
	_, c, ok := a.conferenceOf(rp, r)
	if !ok {
		return
	}
	if isRead(r) {
		doc := conferenceDocJSON{ID: c.Name, Name: c.Name}
		doc.ReadOnly.conferenceRowJSON = a.conferenceRow(c)
		doc.ReadOnly.Participants = a.participantsOf(c)
		rp.ok(http.StatusOK, doc)
		return
	}
	// Kazoo takes this body's action at the top level ({"action":...,"data":{...}}).
	var body struct {
		Action string `json:"action"`
	}
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxChannelBody)).Decode(&body); err != nil || body.Action == "" {
		rp.badParam(&paramError{"action", `required: {"action":"...","data":{...}}`})
		return
	}
	if reason, known := refusedConferenceActions[body.Action]; known {
		rp.badParam(&paramError{"action", strconv.Quote(body.Action) + " is not supported: " + reason})
		return
	}
	rp.badEnum("action", body.Action, []string{"lock", "unlock", "dial", "play", "record"})
}

// participantsResource serves GET and PUT {"data":{"action":...}} on a room's participants, all of
// them or one.
func (a *API) participantsResource(w http.ResponseWriter, r *http.Request) {
	rp := a.newReply(w, r)
	account, c, ok := a.conferenceOf(rp, r)
	if !ok {
		return
	}
	pid := r.PathValue("participant_id")
	one := func(c Conference) ([]participantJSON, bool) {
		all := a.participantsOf(c)
		if pid == "" {
			return all, true
		}
		for _, p := range all {
			if p.CallID == pid || strconv.Itoa(p.ParticipantID) == pid {
				return []participantJSON{p}, true
			}
		}
		rp.fail(http.StatusNotFound, "participant not found: the conference has no participant "+strconv.Quote(limitText(pid)))
		return nil, false
	}
	if len(pid) > maxConferenceID {
		rp.fail(http.StatusNotFound, "participant not found")
		return
	}
	if isRead(r) {
		if ps, ok := one(c); ok {
			if pid != "" {
				rp.ok(http.StatusOK, ps[0])
				return
			}
			rp.ok(http.StatusOK, ps)
		}
		return
	}
	data, ok := readChannelData(rp, w, r)
	if !ok {
		return
	}
	action, ok := stringField(rp, data, "action", 64)
	if !ok || !onlyFields(rp, data, nil, "action") {
		return
	}
	if reason, known := refusedParticipantActions[action]; known {
		rp.badParam(&paramError{"data.action", strconv.Quote(action) + " is not supported: " + reason})
		return
	}
	known := false
	for _, k := range ConferenceActions {
		known = known || k == action
	}
	if !known {
		rp.badEnum("data.action", action, ConferenceActions)
		return
	}
	if _, ok := one(c); !ok {
		return
	}
	switch err := a.conferences.Act(account, c.Sid, pid, action); {
	case errors.Is(err, ErrParticipantNotFound):
		rp.fail(http.StatusNotFound, "participant not found: the conference has no participant "+strconv.Quote(limitText(pid)))
		return
	case errors.Is(err, ErrConferenceNotFound):
		rp.fail(http.StatusNotFound, "conference not found")
		return
	case err != nil:
		a.log.Error("conferences API: action failed", "account_id", account, "error", err)
		rp.fail(http.StatusInternalServerError, "the action failed; try again")
		return
	}
	a.log.Info("conferences API: action", "account_id", account, "conference", c.Name, "participant", pid, "action", action)
	if after, ok := a.conferences.Get(account, c.Sid); ok {
		c = after
	}
	ps := a.participantsOf(c)
	if pid != "" { // a kicked participant is gone: the answer says what was done
		rp.ok(http.StatusOK, map[string]any{"action": action, "participant_id": pid, "participants": ps})
		return
	}
	rp.ok(http.StatusOK, map[string]any{"action": action, "participants": ps})
}
