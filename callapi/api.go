package callapi

import (
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/pivotua/pivotua/debugapi"
	"github.com/pivotua/pivotua/flow"
)

// Bounds on what one request may carry. Twilio's own: Twiml at most 4000 characters, SendDigits 32,
// PageSize 1000.
const (
	maxBodyBytes    = 32 << 10
	maxParams       = 32 // parameters (values) in one request
	maxValueBytes   = 2048
	maxTwimlChars   = 4000
	maxSendDigits   = 32
	maxPageSize     = 1000
	defaultPageSize = 50
	maxRingSeconds  = 600
	// Twilio's TimeLimit: 4 hours by default, at most 24.
	defaultTimeLimit = 4 * time.Hour
	maxTimeLimitSecs = 24 * 60 * 60
	// hangupWait is how long an update that hangs up waits for the call to be over, so its answer
	// shows the final status.
	hangupWait = 2 * time.Second
	apiVersion = "2010-04-01"
)

// CallService is what the API needs of flow; *flow.Server implements it.
type CallService interface {
	Originate(flow.OriginateRequest) (flow.CallRecord, error)
	UpdateCall(accountID, key string, u flow.CallUpdate) (flow.CallRecord, error)
	GetCall(accountID, key string) (flow.CallRecord, bool)
	ListCalls(accountID string) []flow.CallRecord
}

// API serves the Calls resource.
type API struct {
	calls CallService
	keys  map[string]string // account ID -> api_key
	cfg   Config
	log   *slog.Logger
	now   func() time.Time
	// throttle refuses a source that sent too many wrong credentials.
	throttle *debugapi.AuthThrottle

	refuse func() bool // true while the process drains: no new call is placed

	mu      sync.Mutex // serialises the limit checks of calls placed with their Originate
	buckets map[string]*bucket
}

// bucket is one account's token bucket for calls per second.
type bucket struct {
	tokens float64
	at     time.Time
}

// New returns the API over calls for the accounts in keys (account ID -> api_key).
func New(calls CallService, keys map[string]string, cfg Config, log *slog.Logger) *API {
	if log == nil {
		log = slog.Default()
	}
	return &API{calls: calls, keys: keys, cfg: cfg, log: log, now: time.Now, buckets: map[string]*bucket{}, throttle: debugapi.NewAuthThrottle()}
}

// RefuseWhile makes calls.create answer 503 while draining reports true (the process is shutting down:
// a call placed now would be cut at once).
func (a *API) RefuseWhile(draining func() bool) { a.refuse = draining }

// Register mounts the routes on mux.
func (a *API) Register(mux *http.ServeMux) {
	const base = "/" + apiVersion + "/Accounts/{AccountSid}/"
	mux.HandleFunc("POST "+base+"Calls.json", a.create)
	mux.HandleFunc("GET "+base+"Calls.json", a.list)
	mux.HandleFunc("GET "+base+"Calls/{CallSidJSON}", a.fetch)
	mux.HandleFunc("POST "+base+"Calls/{CallSidJSON}", a.update)
}

// apiError is Twilio's error body.
type apiError struct {
	Code     int    `json:"code"`
	Message  string `json:"message"`
	MoreInfo string `json:"more_info"`
	Status   int    `json:"status"`
}

func writeError(w http.ResponseWriter, status, code int, format string, args ...any) {
	if status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Basic realm="pivotua"`)
	}
	writeJSON(w, status, apiError{Code: code, Message: fmt.Sprintf(format, args...),
		MoreInfo: "https://www.twilio.com/docs/errors/" + strconv.Itoa(code), Status: status})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// accountIDOf is the account ID an AccountSid names: Twilio's AC + 32 hex form of a 32-hex account ID,
// or the bare ID.
func accountIDOf(sid string) string {
	if len(sid) == 34 && sid[:2] == "AC" {
		if _, err := hex.DecodeString(sid[2:]); err == nil {
			return strings.ToLower(sid[2:])
		}
	}
	return sid
}

// accountSidOf is how the API names an account: AC + its ID when that is 32 hex (what Twilio's
// libraries expect), else the bare ID.
func accountSidOf(id string) string {
	if _, err := hex.DecodeString(id); err == nil && len(id) == 32 {
		return "AC" + id
	}
	return id
}

// authenticate checks the Basic credentials against the account the path names; it answers 401
// itself and returns ok false when they do not hold.
func (a *API) authenticate(w http.ResponseWriter, r *http.Request) (string, bool) {
	now := a.now()
	if wait := a.throttle.Blocked(r.RemoteAddr, now); wait > 0 {
		tooManyFailures(w, wait)
		return "", false
	}
	user, pass, ok := r.BasicAuth()
	id := accountIDOf(user)
	key, known := a.keys[id]
	if !ok || !known || key == "" || subtle.ConstantTimeCompare([]byte(pass), []byte(key)) != 1 {
		// Every request carries the api_key: guesses count as PUT /v2/api_auth's do.
		if wait := a.throttle.Failed(r.RemoteAddr, now); wait > 0 {
			tooManyFailures(w, wait)
			return "", false
		}
		writeError(w, http.StatusUnauthorized, 20003, "Authenticate: the AccountSid and auth token (the account's id and api_key) do not match an account")
		return "", false
	}
	if accountIDOf(r.PathValue("AccountSid")) != id {
		writeError(w, http.StatusUnauthorized, 20003, "Authenticate: the URL names another account than the credentials")
		return "", false
	}
	return id, true
}

// tooManyFailures answers 429 with Retry-After (RFC 6585 §4) to a source that sent too many wrong
// credentials.
func tooManyFailures(w http.ResponseWriter, wait time.Duration) {
	secs := int64((wait + time.Second - 1) / time.Second)
	w.Header().Set("Retry-After", strconv.FormatInt(secs, 10))
	writeError(w, http.StatusTooManyRequests, 20429, "Too Many Requests: too many wrong credentials from this address; retry after %d s", secs)
}

// readForm reads a POST's form body within the bounds; it answers 400 itself on failure.
func readForm(w http.ResponseWriter, r *http.Request) (url.Values, bool) {
	if ct := r.Header.Get("Content-Type"); ct != "" {
		if mt, _, err := mime.ParseMediaType(ct); err != nil || mt != "application/x-www-form-urlencoded" {
			writeError(w, http.StatusBadRequest, 21200, "the body must be application/x-www-form-urlencoded, not %q", ct)
			return nil, false
		}
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxBodyBytes)
	if err := r.ParseForm(); err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			writeError(w, http.StatusRequestEntityTooLarge, 21200, "the body is over %d bytes", maxBodyBytes)
		} else {
			writeError(w, http.StatusBadRequest, 21200, "the body is not a form: %v", err)
		}
		return nil, false
	}
	return r.PostForm, checkValues(w, r.PostForm)
}

// checkValues bounds the number and size of parameters; Twiml has its own, larger bound.
func checkValues(w http.ResponseWriter, form url.Values) bool {
	n := 0
	for k, vs := range form {
		n += len(vs)
		for _, v := range vs {
			if k != "Twiml" && len(v) > maxValueBytes {
				writeError(w, http.StatusBadRequest, 21200, "%s is over %d bytes", limitName(k), maxValueBytes)
				return false
			}
		}
	}
	if n > maxParams {
		writeError(w, http.StatusBadRequest, 21200, "%d parameters: at most %d are accepted", n, maxParams)
		return false
	}
	return true
}

// limitName quotes a parameter name from a client for a message, cut short.
func limitName(k string) string {
	if len(k) > 64 {
		k = k[:64] + "..."
	}
	return strconv.Quote(k)
}

// param is one parameter's value; a parameter given twice is refused by the caller's check.
func param(form url.Values, name string) string {
	return strings.TrimSpace(form.Get(name))
}

// refuseUnknown answers 400 for the first parameter not in known (sorted for a stable message).
func refuseUnknown(w http.ResponseWriter, form url.Values, known map[string]bool, refused map[string]string) bool {
	for k, vs := range form {
		if reason, ok := refused[k]; ok {
			writeError(w, http.StatusBadRequest, 21200, "%s is not supported by pivotua: %s", k, reason)
			return false
		}
		if !known[k] {
			writeError(w, http.StatusBadRequest, 21200, "%s is not a parameter pivotua supports", limitName(k))
			return false
		}
		if len(vs) > 1 && k != "StatusCallbackEvent" && k != "ConferenceStatusCallbackEvent" {
			writeError(w, http.StatusBadRequest, 21200, "%s is given %d times", k, len(vs))
			return false
		}
	}
	return true
}

// checkURL returns why s is not an absolute http or https URL, or "".
func checkURL(s string) string {
	u, err := url.Parse(s)
	switch {
	case err != nil:
		return "is not a URL"
	case u.Scheme != "http" && u.Scheme != "https":
		return "must be an absolute http or https URL"
	case u.Host == "":
		return "has no host"
	}
	return ""
}

// method reads a GET/POST parameter (default POST).
func method(w http.ResponseWriter, form url.Values, name string) (string, bool) {
	m := strings.ToUpper(param(form, name))
	switch m {
	case "":
		return "POST", true
	case "GET", "POST":
		return m, true
	}
	writeError(w, http.StatusBadRequest, 21200, "%s must be GET or POST, not %s", name, limitName(m))
	return "", false
}

// seconds reads a whole number of seconds between 1 and most; def when absent.
func seconds(w http.ResponseWriter, form url.Values, name string, most int, def time.Duration) (time.Duration, bool) {
	v := param(form, name)
	if v == "" {
		return def, true
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 || n > most {
		writeError(w, http.StatusBadRequest, 21200, "%s must be a whole number of seconds between 1 and %d, not %s", name, most, limitName(v))
		return 0, false
	}
	return time.Duration(n) * time.Second, true
}

// instructions reads Url or Twiml (one of them, required when required is true).
func instructions(w http.ResponseWriter, form url.Values, required bool) (u string, doc *flow.TwiML, ok bool) {
	u, twiml := param(form, "Url"), form.Get("Twiml")
	switch {
	case u != "" && twiml != "":
		writeError(w, http.StatusBadRequest, 21205, "give Url or Twiml, not both")
		return "", nil, false
	case u == "" && twiml == "" && required:
		writeError(w, http.StatusBadRequest, 21205, "Url or Twiml is required: the instructions the call runs once answered")
		return "", nil, false
	case u != "":
		if msg := checkURL(u); msg != "" {
			writeError(w, http.StatusBadRequest, 21205, "Url %s", msg)
			return "", nil, false
		}
	case twiml != "":
		if n := len([]rune(twiml)); n > maxTwimlChars {
			writeError(w, http.StatusBadRequest, 21200, "Twiml is %d characters: at most %d", n, maxTwimlChars)
			return "", nil, false
		}
		parsed, err := flow.ParseTwiML([]byte(twiml))
		if err != nil {
			writeError(w, http.StatusBadRequest, 21200, "Twiml is not a valid TwiML document: %v", err)
			return "", nil, false
		}
		doc = parsed
	}
	return u, doc, true
}

// Parameters of calls.create.
var (
	createParams = map[string]bool{
		"To": true, "From": true, "CallerId": true, "Url": true, "Method": true, "Twiml": true,
		"FallbackUrl": true, "FallbackMethod": true, "StatusCallback": true, "StatusCallbackEvent": true,
		"StatusCallbackMethod": true, "Timeout": true, "SendDigits": true, "Record": true, "TimeLimit": true,
	}
	// Twilio's parameters pivotua cannot honour yet, and why: refused rather than ignored.
	createRefused = map[string]string{
		"ApplicationSid":                     "pivotua has no applications: give Url or Twiml",
		"MachineDetection":                   "answering machine detection is not available",
		"MachineDetectionTimeout":            "answering machine detection is not available",
		"MachineDetectionSpeechThreshold":    "answering machine detection is not available",
		"MachineDetectionSpeechEndThreshold": "answering machine detection is not available",
		"MachineDetectionSilenceTimeout":     "answering machine detection is not available",
		"AsyncAmd":                           "answering machine detection is not available",
		"AsyncAmdStatusCallback":             "answering machine detection is not available",
		"AsyncAmdStatusCallbackMethod":       "answering machine detection is not available",
		"RecordingChannels":                  "recording the whole call is not available: use <Record> in the document",
		"RecordingStatusCallback":            "recording the whole call is not available: use <Record> in the document",
		"RecordingStatusCallbackMethod":      "recording the whole call is not available: use <Record> in the document",
		"RecordingStatusCallbackEvent":       "recording the whole call is not available: use <Record> in the document",
		"RecordingTrack":                     "recording the whole call is not available: use <Record> in the document",
		"Trim":                               "recording the whole call is not available: use <Record> in the document",
		"SipAuthUsername":                    "digest credentials are a trunk's (trunks[].username)",
		"SipAuthPassword":                    "digest credentials are a trunk's (trunks[].password)",
		"CallerName":                         "caller name lookup is not available",
		"CallReason":                         "branded calls are not available",
		"CallToken":                          "call tokens are not available",
		"Byoc":                               "outbound calls go through the configured trunks",
	}
	callbackEvents = map[string]bool{flow.CallbackInitiated: true, flow.CallbackRinging: true, flow.CallbackAnswered: true, flow.CallbackCompleted: true}
)

// create is calls.create: POST .../Calls.json.
func (a *API) create(w http.ResponseWriter, r *http.Request) {
	acct, ok := a.authenticate(w, r)
	if !ok {
		return
	}
	form, ok := readForm(w, r)
	if !ok || !refuseUnknown(w, form, createParams, createRefused) {
		return
	}
	req, ok := a.originateRequest(w, acct, form)
	if !ok {
		return
	}
	rec, err := a.Place(req)
	if err != nil {
		a.placeFailed(w, acct, err)
		return
	}
	a.log.Info("calls API: call placed", "account_id", acct, "call_sid", rec.Sid, "to", req.To)
	writeJSON(w, http.StatusCreated, callJSONOf(rec, r.PathValue("AccountSid")))
}

// placeFailed answers a call Place refused: 503 while draining or without capacity, 429 past the
// account's limits, 400 for a To or From that cannot be dialled.
func (a *API) placeFailed(w http.ResponseWriter, acct string, err error) {
	switch {
	case errors.Is(err, ErrDraining):
		writeError(w, http.StatusServiceUnavailable, 20503, "Service Unavailable: this node is shutting down")
	case errors.Is(err, ErrTooManyCalls):
		writeError(w, http.StatusTooManyRequests, 20429, "Too Many Requests: %v", err)
	case errors.Is(err, flow.ErrBadCallTarget):
		writeError(w, http.StatusBadRequest, 21211, "Invalid 'To': %v", err)
	case errors.Is(err, flow.ErrBadCallerID):
		writeError(w, http.StatusBadRequest, 21212, "Invalid 'From': %v", err)
	case errors.Is(err, flow.ErrNoCapacity):
		a.log.Warn("calls API: call not placed", "account_id", acct, "err", err)
		writeError(w, http.StatusServiceUnavailable, 20503, "Service Unavailable: %v", err)
	default:
		writeError(w, http.StatusBadRequest, 21205, "FallbackUrl: %v", err)
	}
}

// originateRequest checks create's parameters; it answers 400 itself on the first wrong one.
func (a *API) originateRequest(w http.ResponseWriter, acct string, form url.Values) (flow.OriginateRequest, bool) {
	req, ok := callTarget(w, acct, form)
	if !ok {
		return req, false
	}
	if req.URL, req.TwiML, ok = instructions(w, form, true); !ok {
		return req, false
	}
	return req, callOptions(w, form, &req)
}

// callTarget reads To and From (or CallerId) of a call to place; it answers 400 itself.
func callTarget(w http.ResponseWriter, acct string, form url.Values) (flow.OriginateRequest, bool) {
	req := flow.OriginateRequest{AccountID: acct, To: param(form, "To"), From: param(form, "From")}
	if req.To == "" {
		writeError(w, http.StatusBadRequest, 21201, "No 'To' number is specified")
		return req, false
	}
	if cid := param(form, "CallerId"); req.From == "" {
		req.From = cid
	}
	if req.From == "" {
		writeError(w, http.StatusBadRequest, 21213, "No 'From' number is specified")
		return req, false
	}
	if msg := flow.CheckCallerID(req.From); msg != "" {
		writeError(w, http.StatusBadRequest, 21212, "Invalid 'From' %s: %s", limitName(req.From), msg)
		return req, false
	}
	return req, true
}

// callOptions reads what a placed call does beside its instructions (Method, FallbackUrl, the status
// callbacks, Timeout, TimeLimit, SendDigits, Record) into req; it answers 400 itself.
func callOptions(w http.ResponseWriter, form url.Values, req *flow.OriginateRequest) bool {
	var ok bool
	if req.Method, ok = method(w, form, "Method"); !ok {
		return false
	}
	if req.FallbackURL = param(form, "FallbackUrl"); req.FallbackURL != "" {
		if msg := checkURL(req.FallbackURL); msg != "" {
			writeError(w, http.StatusBadRequest, 21205, "FallbackUrl %s", msg)
			return false
		}
	}
	if req.FallbackMethod, ok = method(w, form, "FallbackMethod"); !ok {
		return false
	}
	if req.Callback.URL = param(form, "StatusCallback"); req.Callback.URL != "" {
		if msg := checkURL(req.Callback.URL); msg != "" {
			writeError(w, http.StatusBadRequest, 21205, "StatusCallback %s", msg)
			return false
		}
	}
	if req.Callback.Method, ok = method(w, form, "StatusCallbackMethod"); !ok {
		return false
	}
	for _, v := range form["StatusCallbackEvent"] {
		for _, ev := range strings.Fields(v) { // the libraries repeat the parameter; curl users write a list
			if !callbackEvents[ev] {
				writeError(w, http.StatusBadRequest, 21200, "StatusCallbackEvent %s is not one of initiated, ringing, answered, completed", limitName(ev))
				return false
			}
			req.Callback.Events = append(req.Callback.Events, ev)
		}
	}
	if req.Timeout, ok = seconds(w, form, "Timeout", maxRingSeconds, 60*time.Second); !ok {
		return false
	}
	if req.TimeLimit, ok = seconds(w, form, "TimeLimit", maxTimeLimitSecs, defaultTimeLimit); !ok {
		return false
	}
	req.SendDigits = param(form, "SendDigits")
	if len(req.SendDigits) > maxSendDigits || strings.Trim(req.SendDigits, "0123456789*#wW") != "" {
		writeError(w, http.StatusBadRequest, 21200, "SendDigits must be at most %d of 0-9 * # w", maxSendDigits)
		return false
	}
	req.SendDigits = strings.ToLower(req.SendDigits)
	switch strings.ToLower(param(form, "Record")) {
	case "", "false":
	default:
		writeError(w, http.StatusBadRequest, 21200, "Record=true is not supported by pivotua: recording the whole call is not available, use <Record> in the document")
		return false
	}
	return true
}

// liveOutbound counts the account's live calls placed through the API.
func (a *API) liveOutbound(acct string) int {
	// flow.Server counts without listing every call kept (with several nodes, a read of the shared table).
	if c, ok := a.calls.(interface{ LiveOutbound(string) int }); ok {
		return c.LiveOutbound(acct)
	}
	n := 0
	for _, rec := range a.calls.ListCalls(acct) {
		if rec.Live() && rec.Direction == flow.DirectionOutboundAPI {
			n++
		}
	}
	return n
}

// take spends one of the account's tokens for a call placed; false when none is left. The bucket
// holds a second's worth (at least one) and refills at calls_per_second.
func (a *API) take(acct string) bool {
	now := a.now()
	size := max(a.cfg.CallsPerSecond, 1)
	b := a.buckets[acct]
	if b == nil {
		b = &bucket{tokens: size, at: now}
		a.buckets[acct] = b // one per configured account: authenticate admits no other
	}
	b.tokens = min(size, b.tokens+now.Sub(b.at).Seconds()*a.cfg.CallsPerSecond)
	b.at = now
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}

// callSid reads the {Sid}.json path segment.
func callSid(w http.ResponseWriter, r *http.Request) (string, bool) {
	sid, ok := strings.CutSuffix(r.PathValue("CallSidJSON"), ".json")
	if !ok || sid == "" || len(sid) > 256 {
		writeError(w, http.StatusNotFound, 20404, "The requested resource %s was not found", r.URL.Path)
		return "", false
	}
	return sid, true
}

// fetch is calls(sid).fetch: GET .../Calls/{Sid}.json.
func (a *API) fetch(w http.ResponseWriter, r *http.Request) {
	acct, ok := a.authenticate(w, r)
	if !ok {
		return
	}
	sid, ok := callSid(w, r)
	if !ok {
		return
	}
	rec, found := a.calls.GetCall(acct, sid)
	if !found {
		writeError(w, http.StatusNotFound, 20404, "The requested resource %s was not found", r.URL.Path)
		return
	}
	writeJSON(w, http.StatusOK, callJSONOf(rec, r.PathValue("AccountSid")))
}

var (
	updateParams  = map[string]bool{"Url": true, "Method": true, "Twiml": true, "Status": true}
	updateRefused = map[string]string{
		"FallbackUrl":          "a new FallbackUrl is not available on a live call",
		"FallbackMethod":       "a new FallbackUrl is not available on a live call",
		"StatusCallback":       "a new StatusCallback is not available on a live call",
		"StatusCallbackMethod": "a new StatusCallback is not available on a live call",
		"TimeLimit":            "a new TimeLimit is not available on a live call",
	}
)

// update is calls(sid).update: POST .../Calls/{Sid}.json with new instructions or a Status.
func (a *API) update(w http.ResponseWriter, r *http.Request) {
	acct, ok := a.authenticate(w, r)
	if !ok {
		return
	}
	sid, ok := callSid(w, r)
	if !ok {
		return
	}
	form, ok := readForm(w, r)
	if !ok || !refuseUnknown(w, form, updateParams, updateRefused) {
		return
	}
	var u flow.CallUpdate
	u.Status = param(form, "Status")
	switch u.Status {
	case "":
		if u.URL, u.TwiML, ok = instructions(w, form, true); !ok {
			return
		}
		if u.Method, ok = method(w, form, "Method"); !ok {
			return
		}
	case flow.StatusCompleted, flow.StatusCanceled:
		if param(form, "Url") != "" || form.Get("Twiml") != "" {
			writeError(w, http.StatusBadRequest, 21200, "give Status or new instructions (Url, Twiml), not both")
			return
		}
	default:
		writeError(w, http.StatusBadRequest, 21200, "Status must be completed or canceled, not %s", limitName(u.Status))
		return
	}
	rec, err := a.calls.UpdateCall(acct, sid, u)
	switch {
	case errors.Is(err, flow.ErrCallNotFound):
		writeError(w, http.StatusNotFound, 20404, "The requested resource %s was not found", r.URL.Path)
		return
	case errors.Is(err, flow.ErrCallNotLive) && u.Status == "":
		writeError(w, http.StatusBadRequest, 21220, "Call is not in-progress. Cannot redirect.")
		return
	case errors.Is(err, flow.ErrCallOwnerTimeout): // another node holds the call and did not answer
		writeError(w, http.StatusGatewayTimeout, 20504, "Gateway Timeout: %v", err)
		return
	case errors.Is(err, flow.ErrCallStoreUnavailable):
		writeError(w, http.StatusServiceUnavailable, 20503, "Service Unavailable: %v", err)
		return
	case errors.Is(err, flow.ErrBadForwardedUpdate):
		writeError(w, http.StatusBadGateway, 20500, "Bad Gateway: the node holding the call refused the update: %v", err)
		return
	case err != nil: // a Status for a call already over, or a cancel of an answered call: nothing to do (Twilio)
	case u.Status != "":
		rec = a.awaitEnd(acct, rec)
	}
	a.log.Info("calls API: call updated", "account_id", acct, "call_sid", rec.Sid, "status", u.Status, "url", u.URL, "twiml", u.TwiML != nil)
	writeJSON(w, http.StatusOK, callJSONOf(rec, r.PathValue("AccountSid")))
}

// awaitEnd waits a moment for a call being hung up to be over, so the answer shows its final status.
func (a *API) awaitEnd(acct string, rec flow.CallRecord) flow.CallRecord {
	for end := time.Now().Add(hangupWait); time.Now().Before(end); time.Sleep(20 * time.Millisecond) {
		cur, ok := a.calls.GetCall(acct, rec.Sid)
		if !ok {
			return rec
		}
		if rec = cur; !cur.Live() {
			return cur
		}
	}
	return rec
}
