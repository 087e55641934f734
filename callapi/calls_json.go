package callapi

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/pivotua/pivotua/flow"
)

// callJSON is Twilio's Call resource. Fields pivotua has no value for are null, as Twilio sends
// them for calls that have none; sip_call_id is pivotua's own: the SIP Call-ID of the call.
type callJSON struct {
	AccountSid      string            `json:"account_sid"`
	Annotation      *string           `json:"annotation"`
	AnsweredBy      *string           `json:"answered_by"`
	APIVersion      string            `json:"api_version"`
	CallerName      *string           `json:"caller_name"`
	DateCreated     string            `json:"date_created"`
	DateUpdated     string            `json:"date_updated"`
	Direction       string            `json:"direction"`
	Duration        *string           `json:"duration"`
	EndTime         *string           `json:"end_time"`
	ForwardedFrom   *string           `json:"forwarded_from"`
	From            string            `json:"from"`
	FromFormatted   string            `json:"from_formatted"`
	GroupSid        *string           `json:"group_sid"`
	ParentCallSid   *string           `json:"parent_call_sid"`
	PhoneNumberSid  *string           `json:"phone_number_sid"`
	Price           *string           `json:"price"`
	PriceUnit       string            `json:"price_unit"`
	QueueTime       string            `json:"queue_time"`
	Sid             string            `json:"sid"`
	SIPCallID       *string           `json:"sip_call_id"`
	StartTime       *string           `json:"start_time"`
	Status          string            `json:"status"`
	SubresourceURIs map[string]string `json:"subresource_uris"`
	To              string            `json:"to"`
	ToFormatted     string            `json:"to_formatted"`
	TrunkSid        *string           `json:"trunk_sid"`
	URI             string            `json:"uri"`
	// pivotua's own, with several nodes: the node holding the call, and why another node ended it
	// (its own died); absent otherwise.
	Node      string `json:"node,omitempty"`
	EndReason string `json:"end_reason,omitempty"`
}

// rfc2822 is Twilio's date format in the 2010-04-01 API.
const rfc2822 = "Mon, 02 Jan 2006 15:04:05 -0700"

func date(t time.Time) *string {
	if t.IsZero() {
		return nil
	}
	s := t.UTC().Format(rfc2822)
	return &s
}

func str(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

// callJSONOf renders rec for the account as the request's path named it (pathSid, bare or AC form).
func callJSONOf(rec flow.CallRecord, pathSid string) callJSON {
	acct := accountSidOf(rec.AccountID)
	uri := "/" + apiVersion + "/Accounts/" + url.PathEscape(pathSid) + "/Calls/" + rec.Sid
	j := callJSON{
		AccountSid: acct, APIVersion: apiVersion,
		DateCreated: *date(rec.Created), DateUpdated: *date(rec.Updated),
		Direction: rec.Direction, EndTime: date(rec.Ended),
		From: rec.From, FromFormatted: rec.From, PriceUnit: "USD", QueueTime: "0",
		Sid: rec.Sid, SIPCallID: str(rec.SIPCallID), StartTime: date(rec.Created), Status: rec.Status,
		To: rec.To, ToFormatted: rec.To, URI: uri + ".json", Node: rec.Node, EndReason: rec.EndReason,
		SubresourceURIs: map[string]string{
			"notifications": uri + "/Notifications.json",
			"recordings":    uri + "/Recordings.json",
			"events":        uri + "/Events.json",
		},
	}
	if !rec.Live() {
		d := strconv.Itoa(rec.Duration())
		j.Duration = &d
	}
	return j
}

// callPage is Twilio's page of a list: its calls and the paging fields the libraries follow.
type callPage struct {
	Calls []callJSON `json:"calls"`
	pageFields
}

var listParams = map[string]bool{
	"Status": true, "To": true, "From": true, "StartTime": true, "StartTime<": true, "StartTime>": true,
	"Page": true, "PageSize": true, "PageToken": true,
}

// maxPage bounds Page, so an offset is never absurd.
const maxPage = 100000

// list is calls.list: GET .../Calls.json with Twilio's filters and paging.
func (a *API) list(w http.ResponseWriter, r *http.Request) {
	acct, ok := a.authenticate(w, r)
	if !ok {
		return
	}
	q := r.URL.Query()
	if !checkValues(w, q) || !refuseUnknown(w, q, listParams, nil) {
		return
	}
	f, ok := readFilter(w, q)
	if !ok {
		return
	}
	var matched []flow.CallRecord
	for _, rec := range a.calls.ListCalls(acct) {
		if f.match(rec) {
			matched = append(matched, rec)
		}
	}
	pathSid := r.PathValue("AccountSid")
	start, end, pf, ok := paging(w, q, len(matched), "/"+apiVersion+"/Accounts/"+url.PathEscape(pathSid)+"/Calls.json")
	if !ok {
		return
	}
	page := callPage{Calls: []callJSON{}, pageFields: pf}
	for _, rec := range matched[start:end] {
		page.Calls = append(page.Calls, callJSONOf(rec, pathSid))
	}
	writeJSON(w, http.StatusOK, page)
}

// filter is a Calls list's filters (its page is read by paging).
type filter struct {
	status, to, from              string
	day                           string    // StartTime as a date: calls started that UTC day
	after, before                 time.Time // StartTime> and StartTime<, inclusive; zero: none
	rawStart, rawAfter, rawBefore string    // as given
}

var statuses = map[string]bool{
	flow.StatusQueued: true, flow.StatusRinging: true, flow.StatusInProgress: true, flow.StatusCompleted: true,
	flow.StatusBusy: true, flow.StatusFailed: true, flow.StatusNoAnswer: true, flow.StatusCanceled: true,
}

func readFilter(w http.ResponseWriter, q url.Values) (filter, bool) {
	f := filter{status: q.Get("Status"), to: q.Get("To"), from: q.Get("From"),
		rawStart: q.Get("StartTime"), rawAfter: q.Get("StartTime>"), rawBefore: q.Get("StartTime<")}
	if f.status != "" && !statuses[f.status] {
		writeError(w, http.StatusBadRequest, 20001, "Status %s is not a call status", limitName(f.status))
		return f, false
	}
	for _, p := range []struct {
		name string
		raw  string
		set  func(time.Time, bool)
	}{
		{"StartTime", f.rawStart, func(t time.Time, _ bool) { f.day = t.Format(time.DateOnly) }},
		{"StartTime>", f.rawAfter, func(t time.Time, _ bool) { f.after = t }},
		{"StartTime<", f.rawBefore, func(t time.Time, dateOnly bool) {
			if dateOnly {
				t = t.Add(24*time.Hour - time.Nanosecond) // on or before that day
			}
			f.before = t
		}},
	} {
		if p.raw == "" {
			continue
		}
		t, dateOnly, ok := parseTime(p.raw)
		if !ok {
			writeError(w, http.StatusBadRequest, 20001, "%s must be a date (YYYY-MM-DD) or an ISO 8601 time", p.name)
			return f, false
		}
		p.set(t, dateOnly)
	}
	return f, true
}

func parseTime(s string) (time.Time, bool, bool) {
	if t, err := time.Parse(time.DateOnly, s); err == nil {
		return t, true, true
	}
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t.UTC(), false, true
	}
	return time.Time{}, false, false
}

func (f filter) match(rec flow.CallRecord) bool {
	switch {
	case f.status != "" && rec.Status != f.status:
		return false
	case f.to != "" && !strings.EqualFold(rec.To, f.to):
		return false
	case f.from != "" && !strings.EqualFold(rec.From, f.from):
		return false
	case f.day != "" && rec.Created.UTC().Format(time.DateOnly) != f.day:
		return false
	case !f.after.IsZero() && rec.Created.Before(f.after):
		return false
	case !f.before.IsZero() && rec.Created.After(f.before):
		return false
	}
	return true
}
