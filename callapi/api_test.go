package callapi

import (
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pivotua/pivotua/flow"
)

const (
	account = "4b31dd1d32ce6d249897c06332375d65"
	apiKey  = "secret-key"
)

// fakeCalls is the CallService: it keeps what it was asked and answers from recs.
type fakeCalls struct {
	mu        sync.Mutex
	recs      []flow.CallRecord
	created   []flow.OriginateRequest
	updates   []flow.CallUpdate
	updateErr error
}

func (f *fakeCalls) Originate(r flow.OriginateRequest) (flow.CallRecord, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.created = append(f.created, r)
	rec := flow.CallRecord{Sid: fmt.Sprintf("CA%032x", len(f.created)), AccountID: r.AccountID, To: r.To, From: r.From,
		Direction: flow.DirectionOutboundAPI, Status: flow.StatusQueued, Created: time.Now(), Updated: time.Now()}
	f.recs = append(f.recs, rec)
	return rec, nil
}

func (f *fakeCalls) UpdateCall(acct, key string, u flow.CallUpdate) (flow.CallRecord, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.updates = append(f.updates, u)
	for _, r := range f.recs {
		if r.Sid == key && r.AccountID == acct {
			return r, f.updateErr
		}
	}
	return flow.CallRecord{}, flow.ErrCallNotFound
}

func (f *fakeCalls) GetCall(acct, key string) (flow.CallRecord, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, r := range f.recs {
		if (r.Sid == key || r.SIPCallID == key) && r.AccountID == acct {
			return r, true
		}
	}
	return flow.CallRecord{}, false
}

func (f *fakeCalls) ListCalls(acct string) []flow.CallRecord {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []flow.CallRecord
	for _, r := range f.recs {
		if r.AccountID == acct {
			out = append(out, r)
		}
	}
	return out
}

func newTestAPI(t *testing.T, cfg Config) (*httptest.Server, *fakeCalls) {
	t.Helper()
	calls := &fakeCalls{}
	mux := http.NewServeMux()
	New(calls, map[string]string{account: apiKey, "other": "other-key"}, cfg, slog.New(slog.DiscardHandler)).Register(mux)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv, calls
}

func defaultConfig(t *testing.T) Config {
	t.Helper()
	c, errs := DefaultSettings().Config("api")
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	return c
}

// call sends one request with the account's credentials (user: the AccountSid used, "" for none).
func call(t *testing.T, srv *httptest.Server, method, path, user, pass string, form url.Values) (int, map[string]any) {
	t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, _ := http.NewRequest(method, srv.URL+path, body)
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	if user != "" {
		req.SetBasicAuth(user, pass)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var out map[string]any
	_ = json.NewDecoder(res.Body).Decode(&out)
	return res.StatusCode, out
}

const callsPath = "/2010-04-01/Accounts/AC" + account + "/Calls.json"

func validCreate() url.Values {
	return url.Values{"To": {"sip:bob@example.com"}, "From": {"+15550100"}, "Url": {"https://app.example.com/voice"}}
}

// wantError checks Twilio's error body.
func wantError(t *testing.T, what string, status int, body map[string]any, wantStatus, wantCode int, wantInMessage string) {
	t.Helper()
	if status != wantStatus || body["code"] != float64(wantCode) || body["status"] != float64(wantStatus) ||
		!strings.Contains(fmt.Sprint(body["message"]), wantInMessage) || body["more_info"] != fmt.Sprintf("https://www.twilio.com/docs/errors/%d", wantCode) {
		t.Errorf("%s: %d %v, want %d with code %d and a message naming %q", what, status, body, wantStatus, wantCode, wantInMessage)
	}
}

func TestAuthenticationTakesTheBareIDOrTwiliosFormAndRefusesTheRest(t *testing.T) {
	srv, _ := newTestAPI(t, defaultConfig(t))
	for _, user := range []string{account, "AC" + account, "AC" + strings.ToUpper(account)} {
		if status, body := call(t, srv, "GET", callsPath, user, apiKey, nil); status != 200 {
			t.Errorf("AccountSid %s: %d %v", user, status, body)
		}
	}
	bare := "/2010-04-01/Accounts/" + account + "/Calls.json"
	if status, body := call(t, srv, "GET", bare, "AC"+account, apiKey, nil); status != 200 {
		t.Errorf("the bare id in the path: %d %v", status, body)
	}
	for what, c := range map[string][2]string{
		"no credentials":           {"", ""},
		"a wrong key":              {"AC" + account, "guess"},
		"an unknown account":       {"AC00000000000000000000000000000000", apiKey},
		"AC with 31 hex":           {"AC" + account[1:], apiKey},
		"another account's key":    {"other", "other-key"},
		"the account's key for AC": {"ACother", apiKey},
	} {
		srv, _ := newTestAPI(t, defaultConfig(t)) // each its own: five wrong keys block the address
		status, body := call(t, srv, "GET", callsPath, c[0], c[1], nil)
		wantError(t, what, status, body, 401, 20003, "Authenticate")
	}
}

func TestWrongCredentialsFromOneAddressAreThrottled(t *testing.T) {
	srv, _ := newTestAPI(t, defaultConfig(t))
	var status int
	for range 5 {
		status, _ = call(t, srv, "GET", callsPath, "AC"+account, "guess", nil)
	}
	if status != 429 {
		t.Fatalf("the fifth wrong key got %d, want 429", status)
	}
	status, body := call(t, srv, "GET", callsPath, "AC"+account, apiKey, nil)
	wantError(t, "the right key from a blocked address", status, body, 429, 20429, "wrong credentials")
}

func TestCreateRefusesWhatItCannotHonour(t *testing.T) {
	srv, calls := newTestAPI(t, defaultConfig(t))
	with := func(k, v string) url.Values {
		f := validCreate()
		if v == "" {
			f.Del(k)
		} else {
			f.Set(k, v)
		}
		return f
	}
	cases := []struct {
		what   string
		form   url.Values
		status int
		code   int
		names  string
	}{
		{"no To", with("To", ""), 400, 21201, "'To'"},
		{"no From", with("From", ""), 400, 21213, "'From'"},
		{"a From with a URI separator", with("From", "bob;x=1"), 400, 21212, "'From'"},
		{"no instructions", with("Url", ""), 400, 21205, "Url or Twiml"},
		{"a relative Url", with("Url", "/voice"), 400, 21205, "Url"},
		{"a javascript: Url", with("Url", "javascript:alert(1)"), 400, 21205, "Url"},
		{"Url and Twiml", with("Twiml", "<Response/>"), 400, 21205, "not both"},
		{"MachineDetection", with("MachineDetection", "Enable"), 400, 21200, "MachineDetection is not supported by pivotua: answering machine"},
		{"ApplicationSid", with("ApplicationSid", "AP123"), 400, 21200, "ApplicationSid"},
		{"Record=true", with("Record", "true"), 400, 21200, "Record=true"},
		{"an unknown parameter", with("Bogus", "1"), 400, 21200, `"Bogus" is not a parameter`},
		{"Method PUT", with("Method", "PUT"), 400, 21200, "Method must be GET or POST"},
		{"Timeout 0", with("Timeout", "0"), 400, 21200, "Timeout"},
		{"Timeout 601", with("Timeout", "601"), 400, 21200, "Timeout"},
		{"TimeLimit not a number", with("TimeLimit", "1h"), 400, 21200, "TimeLimit"},
		{"SendDigits with letters", with("SendDigits", "12ab"), 400, 21200, "SendDigits"},
		{"a StatusCallbackEvent Twilio has not", with("StatusCallbackEvent", "answered hacked"), 400, 21200, "hacked"},
		{"a bad StatusCallback", with("StatusCallback", "ftp://x/y"), 400, 21205, "StatusCallback"},
		{"To given twice", func() url.Values { f := validCreate(); f.Add("To", "sip:eve@example.com"); return f }(), 400, 21200, "To is given 2 times"},
	}
	for _, c := range cases {
		status, body := call(t, srv, "POST", callsPath, "AC"+account, apiKey, c.form)
		wantError(t, c.what, status, body, c.status, c.code, c.names)
	}
	twiml := url.Values{"To": {"sip:bob@example.com"}, "From": {"100"}}
	for what, doc := range map[string]string{
		"Twiml that is not TwiML": "<Response><Bogus/></Response>",
		"Twiml over 4000 chars":   "<Response><Say>" + strings.Repeat("a", 4000) + "</Say></Response>",
	} {
		f := maps(twiml)
		f.Set("Twiml", doc)
		status, body := call(t, srv, "POST", callsPath, "AC"+account, apiKey, f)
		wantError(t, what, status, body, 400, 21200, "Twiml")
	}
	many := validCreate()
	for i := range maxParams {
		many.Add("StatusCallbackEvent", fmt.Sprint("answered", i))
	}
	status, body := call(t, srv, "POST", callsPath, "AC"+account, apiKey, many)
	wantError(t, "too many parameters", status, body, 400, 21200, "parameters")
	big := validCreate()
	big.Set("Twiml", strings.Repeat("x", maxBodyBytes))
	big.Del("Url")
	status, body = call(t, srv, "POST", callsPath, "AC"+account, apiKey, big)
	wantError(t, "a body over the cap", status, body, 413, 21200, "body")
	if len(calls.created) != 0 {
		t.Errorf("refused requests placed %d calls", len(calls.created))
	}
}

func maps(v url.Values) url.Values {
	out := url.Values{}
	for k, vs := range v {
		out[k] = slices.Clone(vs)
	}
	return out
}

func TestCreateHandsTheParametersToFlowAndAnswersTwiliosCall(t *testing.T) {
	srv, calls := newTestAPI(t, defaultConfig(t))
	form := url.Values{
		"To": {"+15550199"}, "CallerId": {"+15550100"}, "Twiml": {"<Response><Say>hi</Say></Response>"},
		"StatusCallback": {"https://app.example.com/status"}, "StatusCallbackMethod": {"get"},
		"StatusCallbackEvent": {"initiated ringing", "answered", "completed"}, "Timeout": {"20"}, "SendDigits": {"1w2#"},
		"FallbackUrl": {"https://app.example.com/fallback"}, "Record": {"false"},
	}
	status, body := call(t, srv, "POST", callsPath, "AC"+account, apiKey, form)
	if status != 201 {
		t.Fatalf("create: %d %v", status, body)
	}
	r := calls.created[0]
	if r.AccountID != account || r.To != "+15550199" || r.From != "+15550100" || r.TwiML == nil || r.URL != "" || r.Method != "POST" ||
		r.Callback.Method != "GET" || strings.Join(r.Callback.Events, " ") != "initiated ringing answered completed" ||
		r.Timeout != 20*time.Second || r.TimeLimit != 4*time.Hour || r.SendDigits != "1w2#" || r.FallbackURL != "https://app.example.com/fallback" {
		t.Errorf("flow got %+v", r)
	}
	for k, want := range map[string]any{
		"account_sid": "AC" + account, "direction": "outbound-api", "status": "queued", "api_version": "2010-04-01",
		"duration": nil, "end_time": nil, "answered_by": nil, "price": nil, "to": "+15550199", "from": "+15550100",
	} {
		if got, ok := body[k]; !ok || got != want {
			t.Errorf("the call's %s = %v, want %v", k, got, want)
		}
	}
	if sid := body["sid"].(string); body["uri"] != "/2010-04-01/Accounts/AC"+account+"/Calls/"+sid+".json" {
		t.Errorf("uri %v", body["uri"])
	}
	if _, err := time.Parse(rfc2822, body["date_created"].(string)); err != nil {
		t.Errorf("date_created %v: %v", body["date_created"], err)
	}
}

func TestCreateIsLimitedPerAccount(t *testing.T) {
	cfg := defaultConfig(t)
	cfg.MaxCalls, cfg.CallsPerSecond = 2, 1000
	srv, _ := newTestAPI(t, cfg)
	for i := range 2 {
		if status, body := call(t, srv, "POST", callsPath, "AC"+account, apiKey, validCreate()); status != 201 {
			t.Fatalf("call %d: %d %v", i, status, body)
		}
	}
	status, body := call(t, srv, "POST", callsPath, "AC"+account, apiKey, validCreate())
	wantError(t, "a third live call over max_calls 2", status, body, 429, 20429, "api.max_calls")

	cfg.MaxCalls, cfg.CallsPerSecond = 100, 1
	srv, _ = newTestAPI(t, cfg)
	if status, body := call(t, srv, "POST", callsPath, "AC"+account, apiKey, validCreate()); status != 201 {
		t.Fatalf("the first call: %d %v", status, body)
	}
	status, body = call(t, srv, "POST", callsPath, "AC"+account, apiKey, validCreate())
	wantError(t, "a second call in the same second at 1 a second", status, body, 429, 20429, "api.calls_per_second")
}

func TestListFiltersAndPagesAsTheLibrariesFollow(t *testing.T) {
	srv, calls := newTestAPI(t, defaultConfig(t))
	base := time.Date(2026, 12, 3, 10, 0, 0, 0, time.UTC)
	for i := range 5 {
		status := flow.StatusCompleted
		if i == 4 {
			status = flow.StatusInProgress
		}
		calls.recs = append(calls.recs, flow.CallRecord{Sid: fmt.Sprintf("CA%032d", i), AccountID: account, To: "+1555", From: "100",
			Direction: flow.DirectionInbound, Status: status, Created: base.Add(time.Duration(i) * time.Hour), Updated: base})
	}
	calls.recs = append(calls.recs, flow.CallRecord{Sid: "CAother", AccountID: "other", Status: flow.StatusCompleted, Created: base})
	var page callPage
	get := func(query string) int {
		t.Helper()
		req, _ := http.NewRequest("GET", srv.URL+callsPath+query, nil)
		req.SetBasicAuth("AC"+account, apiKey)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		raw, _ := io.ReadAll(res.Body)
		var keys map[string]json.RawMessage
		_ = json.Unmarshal(raw, &keys)
		if res.StatusCode == 200 && len(keys) != 9 { // calls and the eight paging fields: the libraries find the list as the one other key
			t.Errorf("page keys %v", keys)
		}
		page = callPage{}
		_ = json.Unmarshal(raw, &page)
		return res.StatusCode
	}
	if get("?Status=completed&PageSize=3") != 200 || len(page.Calls) != 3 || page.NextPageURI == nil || page.PreviousPageURI != nil || page.Start != 0 || page.End != 2 {
		t.Fatalf("first page: %+v", page)
	}
	next, _ := url.Parse(*page.NextPageURI)
	if get("?"+next.RawQuery) != 200 || len(page.Calls) != 1 || page.NextPageURI != nil || page.Page != 1 || page.Calls[0].Status != "completed" {
		t.Fatalf("second page (%s): %+v", next.RawQuery, page)
	}
	if get("?StartTime%3E=2026-12-03T12:00:00Z&StartTime%3C=2026-12-03T13:00:00Z") != 200 || len(page.Calls) != 2 {
		t.Errorf("StartTime> and StartTime<: %d calls, want 2", len(page.Calls))
	}
	if get("?StartTime=2026-12-04") != 200 || len(page.Calls) != 0 {
		t.Errorf("StartTime=2026-12-04: %d calls, want none", len(page.Calls))
	}
	for _, q := range []string{"?PageSize=1001", "?PageSize=0", "?Page=-1", "?Status=bogus", "?StartTime=yesterday", "?EndTime=2026-12-03"} {
		if status := get(q); status != 400 {
			t.Errorf("%s: %d, want 400", q, status)
		}
	}
}

func TestFetchAndUpdateAnswerTwiliosErrors(t *testing.T) {
	srv, calls := newTestAPI(t, defaultConfig(t))
	calls.recs = append(calls.recs, flow.CallRecord{Sid: "CA" + strings.Repeat("1", 32), SIPCallID: "abc@host", AccountID: account,
		Direction: flow.DirectionInbound, Status: flow.StatusCompleted, Created: time.Now(), Updated: time.Now(), Ended: time.Now()})
	one := "/2010-04-01/Accounts/AC" + account + "/Calls/"
	status, body := call(t, srv, "GET", one+"CA"+strings.Repeat("1", 32)+".json", "AC"+account, apiKey, nil)
	if status != 200 || body["sip_call_id"] != "abc@host" || body["duration"] != "0" {
		t.Errorf("fetch: %d %v", status, body)
	}
	if status, body := call(t, srv, "GET", one+"abc@host.json", "AC"+account, apiKey, nil); status != 200 {
		t.Errorf("fetch by SIP Call-ID: %d %v", status, body)
	}
	status, body = call(t, srv, "GET", one+"CAnone.json", "AC"+account, apiKey, nil)
	wantError(t, "an unknown sid", status, body, 404, 20404, "not found")
	status, body = call(t, srv, "GET", one+"CA"+strings.Repeat("1", 32), "AC"+account, apiKey, nil)
	wantError(t, "no .json", status, body, 404, 20404, "not found")
	status, body = call(t, srv, "POST", one+"CAnone.json", "AC"+account, apiKey, url.Values{"Status": {"completed"}})
	wantError(t, "update of an unknown sid", status, body, 404, 20404, "not found")

	calls.updateErr = flow.ErrCallNotLive
	status, body = call(t, srv, "POST", one+"CA"+strings.Repeat("1", 32)+".json", "AC"+account, apiKey, url.Values{"Url": {"https://a.example/x"}})
	wantError(t, "a redirect of an ended call", status, body, 400, 21220, "not in-progress")
	for what, form := range map[string]url.Values{
		"Status=busy":              {"Status": {"busy"}},
		"Status and Url":           {"Status": {"completed"}, "Url": {"https://a.example/x"}},
		"nothing":                  {},
		"a new StatusCallback":     {"Url": {"https://a.example/x"}, "StatusCallback": {"https://a.example/s"}},
		"Twiml that is not TwiML":  {"Twiml": {"<Hello/>"}},
		"a Url that is not a URL:": {"Url": {"voice"}},
	} {
		status, body := call(t, srv, "POST", one+"CA"+strings.Repeat("1", 32)+".json", "AC"+account, apiKey, form)
		if status != 400 || body["code"] == nil {
			t.Errorf("%s: %d %v, want 400", what, status, body)
		}
	}
}

func TestSettingsChecksNameTheirPath(t *testing.T) {
	s := Settings{MaxCalls: 0, CallsPerSecond: -1, KeepEnded: "forever", MaxEnded: -1}
	_, errs := s.Config("api")
	var msgs []string
	for _, err := range errs {
		msgs = append(msgs, err.Error())
	}
	joined := strings.Join(msgs, "\n")
	for _, path := range []string{"api.max_calls", "api.calls_per_second", "api.keep_ended", "api.max_ended"} {
		if !strings.Contains(joined, path+":") {
			t.Errorf("no error names %s:\n%s", path, joined)
		}
	}
}
