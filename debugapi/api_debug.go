package debugapi

import (
	"errors"
	"net/http"
	"regexp"
	"strconv"
)

// listRow is one call in GET /v2/accounts/{ACCOUNT_ID}/pivot/debug, as Kazoo's first_iteration view
// plus debug_id and has_fetch_errors. status_code is a string ("404") and absent when no response
// arrived.
type listRow struct {
	CallID          string `json:"call_id"`
	Created         int64  `json:"created"`
	Iteration       int    `json:"iteration"`
	Node            string `json:"node"`
	StatusCode      string `json:"status_code,omitempty"`
	HasSchemaErrors bool   `json:"has_schema_errors"`
	HasJSONErrors   bool   `json:"has_json_errors"`
	HasFetchErrors  bool   `json:"has_fetch_errors"` // pivotua: a request of any iteration failed
	URI             string `json:"uri"`
	DebugID         string `json:"debug_id"`
}

func isRead(r *http.Request) bool { return r.Method == http.MethodGet || r.Method == http.MethodHead }

// listCalls serves GET /v2/accounts/{ACCOUNT_ID}/pivot/debug: one row per call, newest first.
func (a *API) listCalls(w http.ResponseWriter, r *http.Request) {
	rp := a.newReply(w, r)
	if !isRead(r) {
		rp.methodNotAllowed(http.MethodGet)
		return
	}
	account, ok := a.authorize(rp, r)
	if !ok {
		return
	}
	values := r.URL.Query()
	q, err := ParseListQuery(values)
	if err != nil {
		var pe *paramError
		if errors.As(err, &pe) {
			rp.badParam(pe)
			return
		}
		rp.fail(http.StatusBadRequest, err.Error())
		return
	}
	page, err := a.cfg.Store.ListCalls(r.Context(), account, q)
	if err != nil {
		a.log.Error("debug api: listing calls", "account_id", account, "error", err)
		rp.fail(http.StatusInternalServerError, "the debug store failed; try again")
		return
	}
	rows := make([]listRow, 0, len(page.Calls))
	for _, c := range page.Calls {
		rows = append(rows, listRow{
			CallID: c.CallID, Created: GregorianSeconds(c.Created), Iteration: c.Iteration, Node: c.Node,
			StatusCode: statusString(c.StatusCode), HasSchemaErrors: c.HasSchemaErrors,
			HasJSONErrors: c.HasJSONErrors, HasFetchErrors: c.HasFetchErrors, URI: c.URI, DebugID: c.DebugID(),
		})
	}
	n := len(rows)
	env := envelope{PageSize: &n}
	if s, given := first(values, "start_key"); given {
		env.StartKey = s
	}
	if page.Next != nil {
		env.NextStartKey = EncodeStartKey(*page.Next)
	}
	rp.send(http.StatusOK, env, rows)
}

// debugIDPattern is Kazoo's debug_id: "YYYYMM-<call_id>".
var debugIDPattern = regexp.MustCompile(`^[0-9]{6}-(.+)$`)

// maxCallIDLen bounds the stored call id (StoredCallID): the API shows no longer one.
const maxCallIDLen = maxStoredCallIDLen

// maxCallIDPathLen bounds the call id read from the path: a Call-ID as the caller sent it (up to a SIP
// message) escaped, which StoredCallID turns into its key.
const maxCallIDPathLen = 256 << 10

// callDetail serves GET /v2/accounts/{ACCOUNT_ID}/pivot/debug/{CALL_ID}: every record of the call, in
// order. CALL_ID is the call-id (URL-encoded) or its debug_id, which reads only that month's records
// as Kazoo reads only that month's MODb. The call-id may be the one the API shows (the stored key,
// escaped: see StoredText) or the bytes the caller sent (%00, %FF...): both name the same call.
//
// pivotua's extension, ?events=true, is the call inspector's timeline: the call's events too, and
// every document with its kind and created_us. Without it the answer is Kazoo's, event-free.
func (a *API) callDetail(w http.ResponseWriter, r *http.Request) {
	rp := a.newReply(w, r)
	if !isRead(r) {
		rp.methodNotAllowed(http.MethodGet)
		return
	}
	account, ok := a.authorize(rp, r)
	if !ok {
		return
	}
	withEvents := false
	if s, given := first(r.URL.Query(), "events"); given {
		b, err := strconv.ParseBool(s)
		if err != nil {
			rp.badParam(&paramError{"events", "must be true or false"})
			return
		}
		withEvents = b
	}
	id := r.PathValue("call_id")
	if id == "" || len(id) > maxCallIDPathLen {
		rp.fail(http.StatusNotFound, "no pivot debug records for this call")
		return
	}
	records, err := a.cfg.Store.CallRecords(r.Context(), account, id)
	if err == nil && len(records) == 0 {
		if m := debugIDPattern.FindStringSubmatch(id); m != nil {
			var all []Record
			all, err = a.cfg.Store.CallRecords(r.Context(), account, m[1])
			want := id[:len(id)-len(m[1])] + StoredCallID(m[1]) // records carry the call's stored key
			for _, rec := range all {
				if rec.DebugID() == want {
					records = append(records, rec)
				}
			}
		}
	}
	if err != nil {
		a.log.Error("debug api: reading a call", "account_id", account, "call_id", id, "error", err)
		rp.fail(http.StatusInternalServerError, "the debug store failed; try again")
		return
	}
	docs := make([]any, 0, len(records))
	for _, rec := range records {
		if rec.Kind != KindEvent || withEvents {
			docs = append(docs, rec.document(withEvents))
		}
	}
	if len(docs) == 0 {
		rp.fail(http.StatusNotFound, "no pivot debug records for this call")
		return
	}
	rp.ok(http.StatusOK, docs)
}
