package callapi

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/pivotua/pivotua/debugapi"
	"github.com/pivotua/pivotua/flow"
)

// ConferenceService is what the Conferences and Participants resources need of flow; *flow.Conferences
// (flow.Server.Conferences) implements it.
type ConferenceService interface {
	List(accountID string) []flow.ConferenceInfo
	Get(accountID, sid string) (flow.ConferenceInfo, error)
	End(accountID, sid string) error
	SetMuted(accountID, sid, callSid string, muted bool) error
	SetHold(accountID, sid, callSid string, hold bool) error
	Kick(accountID, sid, callSid string) error
	// The Participants resource's create and its other updates (flow/conference_control.go).
	Lookup(accountID, sidOrName string) (flow.ConferenceInfo, error)
	Reserve(accountID, name string) (string, error)
	SetHoldAudio(accountID, sid, callSid string, r flow.AudioRequest) error
	AnnounceTo(accountID, sid, callSid string, r flow.AudioRequest) error
	Announce(accountID, sid string, r flow.AudioRequest) error
	SetBeepOnExit(accountID, sid, callSid string, beep bool) error
	SetEndOnExit(accountID, sid, callSid string, end bool) error
	SetCoach(accountID, sid, callSid, target string) error
}

// ConferencesAPI serves Twilio's Conferences and Participants resources over the live rooms of this
// node, with the Calls API's authentication (the account's id and api_key) and bounds.
type ConferencesAPI struct {
	api   *API
	rooms ConferenceService
	// checkTarget refuses a sip: To of participants.create that sip.egress denies; nil: none.
	checkTarget func(ctx context.Context, uri string) error
	// fwd asks the other live nodes for the conferences this one does not host; nil: one node
	// (conferences_cluster.go).
	fwd *debugapi.Forwarder
}

// Conferences is the Conferences and Participants resources over rooms, authenticated as a's.
func (a *API) Conferences(rooms ConferenceService) *ConferencesAPI {
	return &ConferencesAPI{api: a, rooms: rooms}
}

// Register mounts the routes on mux.
func (c *ConferencesAPI) Register(mux *http.ServeMux) {
	const base = "/" + apiVersion + "/Accounts/{AccountSid}/Conferences"
	mux.HandleFunc("GET "+base+".json", c.list)
	mux.HandleFunc("GET "+base+"/{ConferenceSidJSON}", c.routed("ConferenceSidJSON", c.fetch))
	mux.HandleFunc("POST "+base+"/{ConferenceSidJSON}", c.routed("ConferenceSidJSON", c.update))
	mux.HandleFunc("GET "+base+"/{ConferenceSid}/Participants.json", c.routed("ConferenceSid", c.participants))
	mux.HandleFunc("POST "+base+"/{ConferenceSid}/Participants.json", c.routedCreate(c.createParticipant))
	mux.HandleFunc("GET "+base+"/{ConferenceSid}/Participants/{CallSidJSON}", c.routed("ConferenceSid", c.participant))
	mux.HandleFunc("POST "+base+"/{ConferenceSid}/Participants/{CallSidJSON}", c.routed("ConferenceSid", c.updateParticipant))
	mux.HandleFunc("DELETE "+base+"/{ConferenceSid}/Participants/{CallSidJSON}", c.routed("ConferenceSid", c.kick))
}

// conferenceJSON is Twilio's Conference resource.
type conferenceJSON struct {
	AccountSid              string            `json:"account_sid"`
	APIVersion              string            `json:"api_version"`
	CallSidEndingConference *string           `json:"call_sid_ending_conference"`
	DateCreated             string            `json:"date_created"`
	DateUpdated             string            `json:"date_updated"`
	FriendlyName            string            `json:"friendly_name"`
	ReasonConferenceEnded   *string           `json:"reason_conference_ended"`
	Region                  *string           `json:"region"`
	Sid                     string            `json:"sid"`
	Status                  string            `json:"status"`
	SubresourceURIs         map[string]string `json:"subresource_uris"`
	URI                     string            `json:"uri"`
}

// participantJSON is Twilio's Participant resource.
type participantJSON struct {
	AccountSid             string  `json:"account_sid"`
	CallSid                string  `json:"call_sid"`
	CallSidToCoach         *string `json:"call_sid_to_coach"`
	Coaching               bool    `json:"coaching"`
	ConferenceSid          string  `json:"conference_sid"`
	DateCreated            string  `json:"date_created"`
	DateUpdated            string  `json:"date_updated"`
	EndConferenceOnExit    bool    `json:"end_conference_on_exit"`
	Hold                   bool    `json:"hold"`
	Label                  *string `json:"label"`
	Muted                  bool    `json:"muted"`
	QueueTime              *string `json:"queue_time"`
	StartConferenceOnEnter bool    `json:"start_conference_on_enter"`
	Status                 string  `json:"status"`
	URI                    string  `json:"uri"`
}

func conferencesURI(pathSid string) string {
	return "/" + apiVersion + "/Accounts/" + url.PathEscape(pathSid) + "/Conferences"
}

func conferenceJSONOf(ci flow.ConferenceInfo, pathSid string) conferenceJSON {
	uri := conferencesURI(pathSid) + "/" + ci.Sid
	created := *date(ci.Created)
	return conferenceJSON{
		AccountSid: accountSidOf(ci.AccountID), APIVersion: apiVersion, DateCreated: created, DateUpdated: created,
		FriendlyName: ci.FriendlyName, Sid: ci.Sid, Status: ci.Status, URI: uri + ".json",
		SubresourceURIs: map[string]string{"participants": uri + "/Participants.json", "recordings": uri + "/Recordings.json"},
	}
}

func participantJSONOf(ci flow.ConferenceInfo, p flow.ParticipantInfo, pathSid string) participantJSON {
	joined := *date(p.Joined)
	return participantJSON{
		AccountSid: accountSidOf(ci.AccountID), CallSid: p.CallSid, CallSidToCoach: str(p.CallSidToCoach), Coaching: p.Coaching,
		ConferenceSid: ci.Sid, DateCreated: joined, DateUpdated: joined, EndConferenceOnExit: p.EndConferenceOnExit,
		Hold: p.Hold, Muted: p.Muted, StartConferenceOnEnter: p.StartConferenceOnEnter, Status: "connected",
		URI: conferencesURI(pathSid) + "/" + ci.Sid + "/Participants/" + url.PathEscape(p.CallSid) + ".json",
	}
}

// conferencePage and participantPage are Twilio's pages of the two lists.
type conferencePage struct {
	Conferences []conferenceJSON `json:"conferences"`
	pageFields
}

type participantPage struct {
	Participants []participantJSON `json:"participants"`
	pageFields
}

var (
	conferenceListParams  = map[string]bool{"FriendlyName": true, "Status": true, "Page": true, "PageSize": true, "PageToken": true}
	conferenceListRefused = map[string]string{
		"DateCreated": "only live conferences are kept", "DateCreated<": "only live conferences are kept", "DateCreated>": "only live conferences are kept",
		"DateUpdated": "only live conferences are kept", "DateUpdated<": "only live conferences are kept", "DateUpdated>": "only live conferences are kept",
	}
	participantListParams = map[string]bool{"Muted": true, "Hold": true, "Coaching": true, "Page": true, "PageSize": true, "PageToken": true}
	conferenceUpdate      = map[string]bool{"Status": true, "AnnounceUrl": true, "AnnounceMethod": true}
	conferenceRefused     = map[string]string{}
	participantRefused    = map[string]string{
		"WaitUrl":    "the wait audio is the one the party joined with",
		"WaitMethod": "the wait audio is the one the party joined with",
	}
)

// list is conferences.list: the account's live conferences (Status init or in-progress; a filter on
// completed finds none: ended rooms are not kept).
func (c *ConferencesAPI) list(w http.ResponseWriter, r *http.Request) {
	acct, ok := c.api.authenticate(w, r)
	if !ok {
		return
	}
	q := r.URL.Query()
	if !checkValues(w, q) || !refuseUnknown(w, q, conferenceListParams, conferenceListRefused) {
		return
	}
	name, status := param(q, "FriendlyName"), param(q, "Status")
	if status != "" && status != flow.ConferenceInit && status != flow.ConferenceInProgress && status != flow.ConferenceCompleted {
		writeError(w, http.StatusBadRequest, 21200, "Status must be init, in-progress or completed")
		return
	}
	pathSid := r.PathValue("AccountSid")
	var matched []conferenceJSON
	for _, ci := range c.rooms.List(acct) {
		if (name == "" || ci.FriendlyName == name) && (status == "" || ci.Status == status) {
			matched = append(matched, conferenceJSONOf(ci, pathSid))
		}
	}
	// With several nodes, theirs too (the node hosting a room knows its state; pivot_rooms does not).
	remote, ok := c.remoteConferences(w, r)
	if !ok {
		return
	}
	if len(remote) > 0 {
		matched = append(matched, remote...)
		created := func(cj conferenceJSON) time.Time { t, _ := time.Parse(rfc2822, cj.DateCreated); return t }
		slices.SortStableFunc(matched, func(x, y conferenceJSON) int { return created(x).Compare(created(y)) })
	}
	start, end, pf, ok := paging(w, q, len(matched), conferencesURI(pathSid)+".json")
	if !ok {
		return
	}
	page := conferencePage{Conferences: []conferenceJSON{}, pageFields: pf}
	page.Conferences = append(page.Conferences, matched[start:end]...)
	writeJSON(w, http.StatusOK, page)
}

// conference finds the conference the path names (in path value name, with or without .json); it
// answers 404 itself.
func (c *ConferencesAPI) conference(w http.ResponseWriter, r *http.Request, acct, name string) (flow.ConferenceInfo, bool) {
	sid := strings.TrimSuffix(r.PathValue(name), ".json")
	ci, err := c.rooms.Get(acct, sid)
	if err != nil || len(sid) > 64 {
		writeError(w, http.StatusNotFound, 20404, "The requested resource %s was not found", r.URL.Path)
		return flow.ConferenceInfo{}, false
	}
	return ci, true
}

// fetch is conferences(sid).fetch.
func (c *ConferencesAPI) fetch(w http.ResponseWriter, r *http.Request) {
	acct, ok := c.api.authenticate(w, r)
	if !ok {
		return
	}
	if !strings.HasSuffix(r.PathValue("ConferenceSidJSON"), ".json") {
		writeError(w, http.StatusNotFound, 20404, "The requested resource %s was not found", r.URL.Path)
		return
	}
	ci, ok := c.conference(w, r, acct, "ConferenceSidJSON")
	if !ok {
		return
	}
	writeJSON(w, http.StatusOK, conferenceJSONOf(ci, r.PathValue("AccountSid")))
}

// update is conferences(sid).update: Status=completed ends the conference for every party.
func (c *ConferencesAPI) update(w http.ResponseWriter, r *http.Request) {
	acct, ok := c.api.authenticate(w, r)
	if !ok {
		return
	}
	form, ok := readForm(w, r)
	if !ok || !refuseUnknown(w, form, conferenceUpdate, conferenceRefused) {
		return
	}
	ci, ok := c.conference(w, r, acct, "ConferenceSidJSON")
	if !ok || !c.announceRoom(w, r, form, acct, ci.Sid) {
		return
	}
	switch param(form, "Status") {
	case "":
	case flow.ConferenceCompleted:
		if err := c.rooms.End(acct, ci.Sid); err != nil {
			writeError(w, http.StatusNotFound, 20404, "The requested resource %s was not found", r.URL.Path)
			return
		}
		ci.Status = flow.ConferenceCompleted
		c.api.log.Info("conferences API: conference ended", "account_id", acct, "conference_sid", ci.Sid)
	default:
		writeError(w, http.StatusBadRequest, 21200, "Status can only be completed")
		return
	}
	writeJSON(w, http.StatusOK, conferenceJSONOf(ci, r.PathValue("AccountSid")))
}

// participants is participants.list.
func (c *ConferencesAPI) participants(w http.ResponseWriter, r *http.Request) {
	acct, ok := c.api.authenticate(w, r)
	if !ok {
		return
	}
	q := r.URL.Query()
	if !checkValues(w, q) || !refuseUnknown(w, q, participantListParams, nil) {
		return
	}
	filters := map[string]*bool{}
	for _, name := range []string{"Muted", "Hold", "Coaching"} {
		if v := param(q, name); v != "" {
			b, err := strconv.ParseBool(v)
			if err != nil {
				writeError(w, http.StatusBadRequest, 21200, "%s must be true or false", name)
				return
			}
			filters[name] = &b
		}
	}
	ci, ok := c.conference(w, r, acct, "ConferenceSid")
	if !ok {
		return
	}
	keep := func(p flow.ParticipantInfo) bool {
		for name, v := range map[string]bool{"Muted": p.Muted, "Hold": p.Hold, "Coaching": p.Coaching} {
			if want := filters[name]; want != nil && *want != v {
				return false
			}
		}
		return true
	}
	var matched []flow.ParticipantInfo
	for _, p := range ci.Participants {
		if keep(p) {
			matched = append(matched, p)
		}
	}
	pathSid := r.PathValue("AccountSid")
	start, end, pf, ok := paging(w, q, len(matched), conferencesURI(pathSid)+"/"+ci.Sid+"/Participants.json")
	if !ok {
		return
	}
	page := participantPage{Participants: []participantJSON{}, pageFields: pf}
	for _, p := range matched[start:end] {
		page.Participants = append(page.Participants, participantJSONOf(ci, p, pathSid))
	}
	writeJSON(w, http.StatusOK, page)
}

// findParticipant finds the conference and the participant the path names; it answers 404 itself.
func (c *ConferencesAPI) findParticipant(w http.ResponseWriter, r *http.Request, acct string) (flow.ConferenceInfo, flow.ParticipantInfo, bool) {
	ci, ok := c.conference(w, r, acct, "ConferenceSid")
	if !ok {
		return ci, flow.ParticipantInfo{}, false
	}
	callSid, isJSON := strings.CutSuffix(r.PathValue("CallSidJSON"), ".json")
	if isJSON {
		for _, p := range ci.Participants {
			if p.CallSid == callSid {
				return ci, p, true
			}
		}
	}
	writeError(w, http.StatusNotFound, 20404, "The requested resource %s was not found", r.URL.Path)
	return ci, flow.ParticipantInfo{}, false
}

// participant is participants(callSid).fetch.
func (c *ConferencesAPI) participant(w http.ResponseWriter, r *http.Request) {
	acct, ok := c.api.authenticate(w, r)
	if !ok {
		return
	}
	if ci, p, ok := c.findParticipant(w, r, acct); ok {
		writeJSON(w, http.StatusOK, participantJSONOf(ci, p, r.PathValue("AccountSid")))
	}
}

// kick is participants(callSid).delete: the party leaves the room (its call goes on); 204.
func (c *ConferencesAPI) kick(w http.ResponseWriter, r *http.Request) {
	acct, ok := c.api.authenticate(w, r)
	if !ok {
		return
	}
	ci, p, ok := c.findParticipant(w, r, acct)
	if !ok {
		return
	}
	if err := c.rooms.Kick(acct, ci.Sid, p.CallSid); err != nil {
		c.participantGone(w, r, err)
		return
	}
	c.api.log.Info("conferences API: participant removed", "account_id", acct, "conference_sid", ci.Sid, "call_sid", p.CallSid)
	w.WriteHeader(http.StatusNoContent)
}

// participantGone answers a participant or conference that went away between the lookup and the
// change: 404.
func (c *ConferencesAPI) participantGone(w http.ResponseWriter, r *http.Request, err error) {
	if errors.Is(err, flow.ErrParticipantNotFound) || errors.Is(err, flow.ErrConferenceNotFound) {
		writeError(w, http.StatusNotFound, 20404, "The requested resource %s was not found", r.URL.Path)
		return
	}
	switch {
	case errors.Is(err, flow.ErrBadCoach):
		writeError(w, http.StatusBadRequest, 21200, "%v", err)
	case errors.Is(err, flow.ErrConferenceBusy):
		writeError(w, http.StatusServiceUnavailable, 20503, "Service Unavailable: %v", err)
	default:
		writeError(w, http.StatusInternalServerError, 20500, "%v", err)
	}
}
