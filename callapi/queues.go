package callapi

import (
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/pivotua/pivotua/flow"
)

// QueueService is what the Queues and Members resources need of flow; *flow.Queues
// (flow.Server.Queues) implements it.
type QueueService interface {
	List(accountID string) []flow.QueueInfo
	Get(accountID, sid string) (flow.QueueInfo, error)
	SetMaxSize(accountID, sid string, maxSize int) (flow.QueueInfo, error)
	Members(accountID, sid string) ([]flow.MemberInfo, error)
	Member(accountID, sid, callSid string) (flow.MemberInfo, error)
	Dequeue(accountID, sid, callSid, url, method string) (flow.MemberInfo, error)
}

// QueuesAPI serves Twilio's Queues and Members resources over the queues of this node (<Enqueue>),
// with the Calls API's authentication and bounds.
type QueuesAPI struct {
	api    *API
	queues QueueService
}

// Queues is the Queues and Members resources over queues, authenticated as a's.
func (a *API) Queues(queues QueueService) *QueuesAPI { return &QueuesAPI{api: a, queues: queues} }

// Register mounts the routes on mux. Creating and deleting a queue are not served (<Enqueue> creates
// one on first use): the mux answers them 405.
func (q *QueuesAPI) Register(mux *http.ServeMux) {
	const base = "/" + apiVersion + "/Accounts/{AccountSid}/Queues"
	mux.HandleFunc("GET "+base+".json", q.list)
	mux.HandleFunc("GET "+base+"/{QueueSidJSON}", q.fetch)
	mux.HandleFunc("POST "+base+"/{QueueSidJSON}", q.update)
	mux.HandleFunc("GET "+base+"/{QueueSid}/Members.json", q.members)
	mux.HandleFunc("GET "+base+"/{QueueSid}/Members/{CallSidJSON}", q.member)
	mux.HandleFunc("POST "+base+"/{QueueSid}/Members/{CallSidJSON}", q.dequeue)
}

// queueJSON is Twilio's Queue resource.
type queueJSON struct {
	AccountSid      string            `json:"account_sid"`
	AverageWaitTime int               `json:"average_wait_time"`
	CurrentSize     int               `json:"current_size"`
	DateCreated     string            `json:"date_created"`
	DateUpdated     string            `json:"date_updated"`
	FriendlyName    string            `json:"friendly_name"`
	MaxSize         int               `json:"max_size"`
	Sid             string            `json:"sid"`
	URI             string            `json:"uri"`
	SubresourceURIs map[string]string `json:"subresource_uris"`
}

// memberJSON is Twilio's Member resource.
type memberJSON struct {
	CallSid      string `json:"call_sid"`
	DateEnqueued string `json:"date_enqueued"`
	Position     int    `json:"position"`
	QueueSid     string `json:"queue_sid"`
	URI          string `json:"uri"`
	WaitTime     int    `json:"wait_time"`
}

type queuePage struct {
	Queues []queueJSON `json:"queues"`
	pageFields
}

type memberPage struct {
	QueueMembers []memberJSON `json:"queue_members"`
	pageFields
}

func queuesURI(pathSid string) string {
	return "/" + apiVersion + "/Accounts/" + url.PathEscape(pathSid) + "/Queues"
}

func queueJSONOf(qi flow.QueueInfo, pathSid string) queueJSON {
	uri := queuesURI(pathSid) + "/" + qi.Sid
	created := *date(qi.Created)
	return queueJSON{AccountSid: accountSidOf(qi.AccountID), AverageWaitTime: qi.AverageWaitTime, CurrentSize: qi.CurrentSize,
		DateCreated: created, DateUpdated: created, FriendlyName: qi.FriendlyName, MaxSize: qi.MaxSize, Sid: qi.Sid,
		URI: uri + ".json", SubresourceURIs: map[string]string{"members": uri + "/Members.json"}}
}

func memberJSONOf(m flow.MemberInfo, pathSid string) memberJSON {
	return memberJSON{CallSid: m.CallSid, DateEnqueued: *date(m.DateEnqueued), Position: m.Position, QueueSid: m.QueueSid,
		URI: queuesURI(pathSid) + "/" + m.QueueSid + "/Members/" + url.PathEscape(m.CallSid) + ".json", WaitTime: m.WaitTime}
}

var (
	pageParams   = map[string]bool{"Page": true, "PageSize": true, "PageToken": true}
	queueUpdate  = map[string]bool{"MaxSize": true}
	queueRefused = map[string]string{"FriendlyName": "a queue is named by the <Enqueue> that created it"}
	memberUpdate = map[string]bool{"Url": true, "Method": true}
)

func (q *QueuesAPI) notFound(w http.ResponseWriter, r *http.Request) {
	writeError(w, http.StatusNotFound, 20404, "The requested resource %s was not found", r.URL.Path)
}

// list is queues.list: the account's queues, oldest first.
func (q *QueuesAPI) list(w http.ResponseWriter, r *http.Request) {
	acct, ok := q.api.authenticate(w, r)
	if !ok {
		return
	}
	form := r.URL.Query()
	if !checkValues(w, form) || !refuseUnknown(w, form, pageParams, nil) {
		return
	}
	all := q.queues.List(acct)
	pathSid := r.PathValue("AccountSid")
	start, end, pf, ok := paging(w, form, len(all), queuesURI(pathSid)+".json")
	if !ok {
		return
	}
	page := queuePage{Queues: []queueJSON{}, pageFields: pf}
	for _, qi := range all[start:end] {
		page.Queues = append(page.Queues, queueJSONOf(qi, pathSid))
	}
	writeJSON(w, http.StatusOK, page)
}

// queue finds the queue the path value name holds (a sid, with .json when json); it answers 404.
func (q *QueuesAPI) queue(w http.ResponseWriter, r *http.Request, acct, name string, json bool) (flow.QueueInfo, bool) {
	sid, isJSON := strings.CutSuffix(r.PathValue(name), ".json")
	if json && !isJSON || len(sid) > 64 {
		q.notFound(w, r)
		return flow.QueueInfo{}, false
	}
	qi, err := q.queues.Get(acct, sid)
	if err != nil {
		q.notFound(w, r)
		return flow.QueueInfo{}, false
	}
	return qi, true
}

// fetch is queues(sid).fetch.
func (q *QueuesAPI) fetch(w http.ResponseWriter, r *http.Request) {
	acct, ok := q.api.authenticate(w, r)
	if !ok {
		return
	}
	if qi, ok := q.queue(w, r, acct, "QueueSidJSON", true); ok {
		writeJSON(w, http.StatusOK, queueJSONOf(qi, r.PathValue("AccountSid")))
	}
}

// update is queues(sid).update: MaxSize (1 to flow.MaxQueueSize).
func (q *QueuesAPI) update(w http.ResponseWriter, r *http.Request) {
	acct, ok := q.api.authenticate(w, r)
	if !ok {
		return
	}
	form, ok := readForm(w, r)
	if !ok || !refuseUnknown(w, form, queueUpdate, queueRefused) {
		return
	}
	qi, ok := q.queue(w, r, acct, "QueueSidJSON", true)
	if !ok {
		return
	}
	if v := param(form, "MaxSize"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > flow.MaxQueueSize {
			writeError(w, http.StatusBadRequest, 21200, "MaxSize must be an integer between 1 and %d", flow.MaxQueueSize)
			return
		}
		if qi, err = q.queues.SetMaxSize(acct, qi.Sid, n); err != nil {
			q.notFound(w, r)
			return
		}
		q.api.log.Info("queues API: MaxSize set", "account_id", acct, "queue_sid", qi.Sid, "max_size", n)
	}
	writeJSON(w, http.StatusOK, queueJSONOf(qi, r.PathValue("AccountSid")))
}

// members is members.list: the waiting calls, the front first.
func (q *QueuesAPI) members(w http.ResponseWriter, r *http.Request) {
	acct, ok := q.api.authenticate(w, r)
	if !ok {
		return
	}
	form := r.URL.Query()
	if !checkValues(w, form) || !refuseUnknown(w, form, pageParams, nil) {
		return
	}
	qi, ok := q.queue(w, r, acct, "QueueSid", false)
	if !ok {
		return
	}
	all, err := q.queues.Members(acct, qi.Sid)
	if err != nil {
		q.notFound(w, r)
		return
	}
	pathSid := r.PathValue("AccountSid")
	start, end, pf, ok := paging(w, form, len(all), queuesURI(pathSid)+"/"+qi.Sid+"/Members.json")
	if !ok {
		return
	}
	page := memberPage{QueueMembers: []memberJSON{}, pageFields: pf}
	for _, m := range all[start:end] {
		page.QueueMembers = append(page.QueueMembers, memberJSONOf(m, pathSid))
	}
	writeJSON(w, http.StatusOK, page)
}

// memberSid is the CallSid (or Front) the path names; it answers 404.
func (q *QueuesAPI) memberSid(w http.ResponseWriter, r *http.Request) (string, bool) {
	callSid, isJSON := strings.CutSuffix(r.PathValue("CallSidJSON"), ".json")
	if !isJSON || callSid == "" || len(callSid) > 256 {
		q.notFound(w, r)
		return "", false
	}
	return callSid, true
}

// member is members(callSid|Front).fetch.
func (q *QueuesAPI) member(w http.ResponseWriter, r *http.Request) {
	acct, ok := q.api.authenticate(w, r)
	if !ok {
		return
	}
	qi, ok := q.queue(w, r, acct, "QueueSid", false)
	if !ok {
		return
	}
	callSid, ok := q.memberSid(w, r)
	if !ok {
		return
	}
	m, err := q.queues.Member(acct, qi.Sid, callSid)
	if err != nil {
		q.notFound(w, r)
		return
	}
	writeJSON(w, http.StatusOK, memberJSONOf(m, r.PathValue("AccountSid")))
}

// dequeue is members(callSid|Front).update: Url (required, absolute) and Method (POST) move the
// member out of the queue onto that document; its <Enqueue> action gets QueueResult=redirected.
func (q *QueuesAPI) dequeue(w http.ResponseWriter, r *http.Request) {
	acct, ok := q.api.authenticate(w, r)
	if !ok {
		return
	}
	form, ok := readForm(w, r)
	if !ok || !refuseUnknown(w, form, memberUpdate, nil) {
		return
	}
	target := param(form, "Url")
	if target == "" {
		writeError(w, http.StatusBadRequest, 21205, "Url is required")
		return
	}
	if msg := checkURL(target); msg != "" {
		writeError(w, http.StatusBadRequest, 21205, "Url %s", msg)
		return
	}
	method := strings.ToUpper(param(form, "Method"))
	switch method {
	case "":
		method = http.MethodPost
	case http.MethodGet, http.MethodPost:
	default:
		writeError(w, http.StatusBadRequest, 21200, "Method must be GET or POST")
		return
	}
	qi, ok := q.queue(w, r, acct, "QueueSid", false)
	if !ok {
		return
	}
	callSid, ok := q.memberSid(w, r)
	if !ok {
		return
	}
	m, err := q.queues.Dequeue(acct, qi.Sid, callSid, target, method)
	if err != nil {
		if errors.Is(err, flow.ErrMemberNotFound) || errors.Is(err, flow.ErrQueueNotFound) {
			q.notFound(w, r)
			return
		}
		writeError(w, http.StatusInternalServerError, 20500, "%v", err)
		return
	}
	q.api.log.Info("queues API: member dequeued", "account_id", acct, "queue_sid", qi.Sid, "call_sid", m.CallSid, "url", target)
	writeJSON(w, http.StatusOK, memberJSONOf(m, r.PathValue("AccountSid")))
}
