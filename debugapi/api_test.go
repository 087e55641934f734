package debugapi

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"reflect"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"
)

// testClock is the API's injected clock.
type testClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *testClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// apiFixture is the API over real HTTP on a real SQLite store.
type apiFixture struct {
	srv   *httptest.Server
	store *SQLStore
	clock *testClock
}

func newAPIFixture(t *testing.T) *apiFixture {
	t.Helper()
	return apiFixtureOn(t, openSQLiteTest(t))
}

// apiFixtureOn serves the API over real HTTP on the store given.
func apiFixtureOn(t *testing.T, s *SQLStore) *apiFixture {
	t.Helper()
	f := &apiFixture{store: s, clock: &testClock{now: time.Date(2026, 4, 1, 12, 0, 0, 0, time.UTC)}}
	api := NewAPI(APIConfig{
		Store: f.store,
		Accounts: []Account{
			{ID: accountA, Name: "alpha", APIKey: keyA},
			{ID: accountB, Name: "beta", APIKey: keyB},
		},
		Node: "pivotua@test", Version: "test-1", Now: f.clock.Now,
	})
	mux := http.NewServeMux()
	api.Register(mux)
	f.srv = httptest.NewServer(mux)
	t.Cleanup(f.srv.Close)
	return f
}

func (f *apiFixture) seed(t *testing.T, recs ...Record) {
	t.Helper()
	if err := f.store.Append(context.Background(), withIDs(recs)); err != nil {
		t.Fatal(err)
	}
}

// response is one decoded answer; numbers stay json.Number so integers can be told from floats.
type response struct {
	code   int
	header http.Header
	body   map[string]any
}

func (f *apiFixture) do(t *testing.T, method, path, token string, body string) response {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, f.srv.URL+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("X-Auth-Token", token)
	}
	resp, err := f.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	out := response{code: resp.StatusCode, header: resp.Header}
	if method == http.MethodHead {
		return out
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	if err := dec.Decode(&out.body); err != nil {
		t.Fatalf("%s %s: body is not JSON (%v): %q", method, path, err, raw)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("%s %s: Content-Type %q", method, path, ct)
	}
	return out
}

func (f *apiFixture) token(t *testing.T, apiKey string) string {
	t.Helper()
	r := f.do(t, http.MethodPut, "/v2/api_auth", "", `{"data":{"api_key":"`+apiKey+`"}}`)
	if r.code != http.StatusCreated {
		t.Fatalf("api_auth: %d %v", r.code, r.body)
	}
	return r.body["auth_token"].(string)
}

func keysOf(m map[string]any) []string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

func wantKeys(t *testing.T, what string, m map[string]any, keys ...string) {
	t.Helper()
	sort.Strings(keys)
	if got := keysOf(m); !reflect.DeepEqual(got, keys) {
		t.Errorf("%s keys = %v, want %v", what, got, keys)
	}
}

// checkEnvelope checks crossbar's envelope fields common to every answer.
func checkEnvelope(t *testing.T, r response, status string) {
	t.Helper()
	if r.body["status"] != status {
		t.Errorf("status = %v, want %s", r.body["status"], status)
	}
	if r.body["node"] != "pivotua@test" || r.body["version"] != "test-1" {
		t.Errorf("node, version = %v, %v", r.body["node"], r.body["version"])
	}
	for _, k := range []string{"request_id", "revision"} {
		if s, _ := r.body[k].(string); s == "" {
			t.Errorf("%s = %v, want a non-empty string", k, r.body[k])
		}
	}
	if r.header.Get("X-Request-ID") != r.body["request_id"] {
		t.Errorf("X-Request-ID %q != request_id %v", r.header.Get("X-Request-ID"), r.body["request_id"])
	}
	if _, ok := r.body["auth_token"].(string); !ok {
		t.Errorf("auth_token = %v, want a string", r.body["auth_token"])
	}
	if _, ok := r.body["data"]; !ok {
		t.Error("no data")
	}
	ts, _ := r.body["timestamp"].(string)
	if _, err := time.Parse(time.RFC3339, ts); err != nil {
		t.Errorf("timestamp %q is not ISO 8601: %v", ts, err)
	}
}

// checkError checks the error envelope: status "error", error = the code as a string, a message.
func checkError(t *testing.T, r response, code int, messageHas string) {
	t.Helper()
	if r.code != code {
		t.Fatalf("HTTP %d, want %d: %v", r.code, code, r.body)
	}
	checkEnvelope(t, r, "error")
	if r.body["error"] != fmt.Sprint(code) {
		t.Errorf("error = %v, want %q", r.body["error"], fmt.Sprint(code))
	}
	msg, _ := r.body["message"].(string)
	if msg == "" || !strings.Contains(msg, messageHas) {
		t.Errorf("message = %q, want it to contain %q", msg, messageHas)
	}
}

func gregorian(t time.Time) json.Number { return json.Number(fmt.Sprint(GregorianSeconds(t))) }

func TestAPIAuthIssuesATokenInTheEnvelope(t *testing.T) {
	f := newAPIFixture(t)
	r := f.do(t, http.MethodPut, "/v2/api_auth", "", `{"data":{"api_key":"`+keyA+`"}}`)
	if r.code != http.StatusCreated {
		t.Fatalf("HTTP %d: %v", r.code, r.body)
	}
	checkEnvelope(t, r, "success")
	wantKeys(t, "envelope", r.body, "auth_token", "data", "request_id", "revision", "status", "node", "timestamp", "version")
	data := r.body["data"].(map[string]any)
	if data["account_id"] != accountA || data["account_name"] != "alpha" || data["expires_at"] != "2026-04-01T13:00:00Z" {
		t.Errorf("data = %v", data)
	}
	token := r.body["auth_token"].(string)
	if list := f.do(t, http.MethodGet, "/v2/accounts/"+accountA+"/pivot/debug", token, ""); list.code != http.StatusOK {
		t.Fatalf("the new token is refused: %d %v", list.code, list.body)
	}
}

func TestAPIAuthRefusesBadKeysAndBodies(t *testing.T) {
	f := newAPIFixture(t)
	cases := []struct {
		name, method, body string
		code               int
		messageHas         string
	}{
		{"unknown key", http.MethodPut, `{"data":{"api_key":"nope"}}`, 401, "invalid credentials"},
		{"not JSON", http.MethodPut, `api_key=x`, 400, "data"},
		{"no body", http.MethodPut, ``, 400, "data"},
		{"no api_key", http.MethodPut, `{"data":{}}`, 400, "data.api_key"},
		{"GET", http.MethodGet, ``, 405, "PUT"},
		{"POST", http.MethodPost, `{"data":{"api_key":"` + keyA + `"}}`, 405, "PUT"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := f.do(t, c.method, "/v2/api_auth", "", c.body)
			checkError(t, r, c.code, c.messageHas)
			if r.body["auth_token"] != "" {
				t.Errorf("auth_token = %v on an error", r.body["auth_token"])
			}
			if c.code == 405 && r.header.Get("Allow") != "PUT" {
				t.Errorf("Allow = %q", r.header.Get("Allow"))
			}
		})
	}
}

// seedKazooCalls stores a call as in Kazoo's docs (a 404 at iteration 1, then a follow-up) and a call
// whose document failed validation with debug off (only its error record).
func seedKazooCalls(t *testing.T, f *apiFixture) (call, schemaCall string) {
	call, schemaCall = "829597750@10.26.0.158", "schema-failed@10.26.0.158"
	recs := exchangeRecords(accountA, call, 1, baseTime, 404)
	recs[0].Method, recs[0].URI = "post", "http://127.0.0.1:9000/ivr"
	recs[0].ReqHeaders = map[string]string{"content-type": "application/x-www-form-urlencoded"}
	recs[0].ReqBody = "Call-ID=829597750%4010.26.0.158"
	recs[1].RespBody = "not found"
	recs = append(recs, exchangeRecords(accountA, call, 2, baseTime.Add(3*time.Second), 200)...)
	recs = append(recs, Record{
		AccountID: accountA, CallID: schemaCall, Iteration: 1, Created: baseTime.Add(time.Minute), Node: "pivotua@test",
		Kind: KindError, URI: "http://127.0.0.1:9000/ivr?x=1", RespBody: `{"module":"play"}`,
		SchemaErrors: SchemaErrors{"data.url": {"required": {Message: "Field is required but missing"}}},
	}, Record{
		AccountID: accountA, CallID: call, Iteration: 2, Created: baseTime.Add(3*time.Second + 20*time.Millisecond),
		Node: "pivotua@test", Kind: KindError, RespBody: `{"module":`,
		JSONErrors: &JSONErrors{Message: "invalid JSON", Detail: "unexpected end of JSON input"},
	})
	// pivotua's events: Kazoo clients must see neither them nor any trace of them.
	recs = append(recs, callEvents(call)...)
	f.seed(t, recs...)
	return call, schemaCall
}

// callEvents are the events of seedKazooCalls' call: a verb in iteration 1, the hangup in iteration 2.
func callEvents(call string) []Record {
	return []Record{{
		AccountID: accountA, CallID: call, Iteration: 1, Created: baseTime.Add(time.Second), Node: "pivotua@test",
		Kind: KindEvent, Event: "verb", EventData: map[string]any{"name": "tts", "text": "<b>hi</b>"},
	}, {
		AccountID: accountA, CallID: call, Iteration: 2, Created: baseTime.Add(4 * time.Second), Node: "pivotua@test",
		Kind: KindEvent, Event: "hangup", EventData: map[string]any{"by": "caller", "code": 200.0},
	}}
}

func TestAPIDebugListShapeMatchesKazoo(t *testing.T) {
	f := newAPIFixture(t)
	call, schemaCall := seedKazooCalls(t, f)
	token := f.token(t, keyA)
	r := f.do(t, http.MethodGet, "/v2/accounts/"+accountA+"/pivot/debug", token, "")
	if r.code != http.StatusOK {
		t.Fatalf("HTTP %d: %v", r.code, r.body)
	}
	checkEnvelope(t, r, "success")
	wantKeys(t, "list envelope", r.body,
		"auth_token", "data", "page_size", "request_id", "revision", "status", "node", "timestamp", "version")
	if r.body["auth_token"] != token {
		t.Errorf("auth_token = %v, want the request's", r.body["auth_token"])
	}
	if r.body["page_size"] != json.Number("2") {
		t.Errorf("page_size = %v, want 2 (rows returned)", r.body["page_size"])
	}
	data := r.body["data"].([]any)
	if len(data) != 2 {
		t.Fatalf("%d rows, want one per call: %v", len(data), data)
	}
	newest, oldest := data[0].(map[string]any), data[1].(map[string]any)
	wantKeys(t, "row", oldest, "call_id", "created", "iteration", "node", "status_code", "has_schema_errors",
		"has_json_errors", "has_fetch_errors", "uri", "debug_id")
	want := map[string]any{
		"call_id": call, "created": gregorian(baseTime), "iteration": json.Number("1"), "node": "pivotua@test",
		"status_code": "404", "has_schema_errors": false, "has_json_errors": false, "has_fetch_errors": true,
		"uri": "http://127.0.0.1:9000/ivr", "debug_id": "202603-" + call,
	}
	if !reflect.DeepEqual(oldest, want) {
		t.Errorf("row =\n%v\nwant\n%v", oldest, want)
	}
	// No response: status_code is absent; the error flags come from the error record.
	want = map[string]any{
		"call_id": schemaCall, "created": gregorian(baseTime.Add(time.Minute)), "iteration": json.Number("1"),
		"node": "pivotua@test", "has_schema_errors": true, "has_json_errors": false, "has_fetch_errors": false,
		"uri": "http://127.0.0.1:9000/ivr?x=1", "debug_id": "202603-" + schemaCall,
	}
	if !reflect.DeepEqual(newest, want) {
		t.Errorf("row =\n%v\nwant\n%v", newest, want)
	}
	// HEAD answers like GET, without a body.
	if h := f.do(t, http.MethodHead, "/v2/accounts/"+accountA+"/pivot/debug", token, ""); h.code != 200 {
		t.Errorf("HEAD: %d", h.code)
	}
}

func TestAPIDebugDetailShapeMatchesKazoo(t *testing.T) {
	f := newAPIFixture(t)
	call, schemaCall := seedKazooCalls(t, f)
	token := f.token(t, keyA)
	r := f.do(t, http.MethodGet, "/v2/accounts/"+accountA+"/pivot/debug/829597750%4010.26.0.158", token, "")
	if r.code != http.StatusOK {
		t.Fatalf("HTTP %d: %v", r.code, r.body)
	}
	checkEnvelope(t, r, "success")
	wantKeys(t, "detail envelope", r.body, "auth_token", "data", "request_id", "revision", "status", "node", "timestamp", "version")
	data := r.body["data"].([]any)
	if len(data) != 5 {
		t.Fatalf("%d records, want 5", len(data))
	}
	common := []string{"id", "call_id", "iteration", "created", "node", "debug_id"}
	req := data[0].(map[string]any)
	wantKeys(t, "request", req, append(common, "method", "uri", "req_headers", "req_body")...)
	if req["method"] != "post" || req["uri"] != "http://127.0.0.1:9000/ivr" || req["req_body"] != "Call-ID=829597750%4010.26.0.158" ||
		!reflect.DeepEqual(req["req_headers"], map[string]any{"content-type": "application/x-www-form-urlencoded"}) ||
		req["call_id"] != call || req["iteration"] != json.Number("1") || req["created"] != gregorian(baseTime) ||
		req["node"] != "pivotua@test" || req["debug_id"] != "202603-"+call {
		t.Errorf("request = %v", req)
	}
	if id, _ := req["id"].(string); len(id) != 32 {
		t.Errorf("id = %v", req["id"])
	}
	resp := data[1].(map[string]any)
	wantKeys(t, "response", resp, append(common, "resp_status_code", "resp_headers", "resp_body", "elapsed_ms")...)
	if resp["resp_status_code"] != "404" || resp["resp_body"] != "not found" || resp["elapsed_ms"] != json.Number("12") ||
		!reflect.DeepEqual(resp["resp_headers"], map[string]any{"content-type": "application/json"}) {
		t.Errorf("response = %v", resp)
	}
	// Iteration 2: GET request (req_headers stays an object, req_body ""), response, then the error.
	if get := data[2].(map[string]any); get["method"] != "get" || get["req_body"] != "" || get["iteration"] != json.Number("2") {
		t.Errorf("iteration 2 request = %v", get)
	}
	if data[3].(map[string]any)["resp_status_code"] != "200" {
		t.Errorf("iteration 2 response = %v", data[3])
	}
	jerr := data[4].(map[string]any)
	wantKeys(t, "json error", jerr, append(common, "json_errors", "resp_body")...)
	if !reflect.DeepEqual(jerr["json_errors"], map[string]any{"message": "invalid JSON", "detail": "unexpected end of JSON input"}) {
		t.Errorf("json_errors = %v", jerr["json_errors"])
	}

	r = f.do(t, http.MethodGet, "/v2/accounts/"+accountA+"/pivot/debug/"+url.PathEscape(schemaCall), token, "")
	if r.code != http.StatusOK {
		t.Fatalf("HTTP %d: %v", r.code, r.body)
	}
	serr := r.body["data"].([]any)[0].(map[string]any)
	wantKeys(t, "schema error", serr, append(common, "schema_errors", "resp_body", "uri")...)
	want := map[string]any{"data.url": map[string]any{"required": map[string]any{"message": "Field is required but missing"}}}
	if !reflect.DeepEqual(serr["schema_errors"], want) || serr["resp_body"] != `{"module":"play"}` {
		t.Errorf("schema error = %v", serr)
	}
}

func TestAPIDebugDetailWithEventsIsTheTimeline(t *testing.T) {
	f := newAPIFixture(t)
	call, _ := seedKazooCalls(t, f)
	token := f.token(t, keyA)
	path := "/v2/accounts/" + accountA + "/pivot/debug/" + url.PathEscape(call) + "?events=true"
	r := f.do(t, http.MethodGet, path, token, "")
	if r.code != http.StatusOK {
		t.Fatalf("HTTP %d: %v", r.code, r.body)
	}
	checkEnvelope(t, r, "success")
	data := r.body["data"].([]any)
	var kinds []string
	var last int64
	for i, d := range data {
		doc := d.(map[string]any)
		kinds = append(kinds, doc["kind"].(string))
		us, err := doc["created_us"].(json.Number).Int64()
		if err != nil || us < last {
			t.Errorf("doc %d created_us %v after %d", i, doc["created_us"], last)
		}
		last = us
	}
	want := []string{"request", "response", "event", "request", "response", "error", "event"}
	if !reflect.DeepEqual(kinds, want) {
		t.Fatalf("kinds %v, want %v", kinds, want)
	}
	common := []string{"id", "call_id", "iteration", "created", "node", "debug_id", "kind", "created_us"}
	verb := data[2].(map[string]any)
	wantKeys(t, "event", verb, append(common, "event", "event_data")...)
	if verb["event"] != "verb" || !reflect.DeepEqual(verb["event_data"], map[string]any{"name": "tts", "text": "<b>hi</b>"}) ||
		verb["created_us"] != json.Number(fmt.Sprint(baseTime.Add(time.Second).UnixMicro())) || verb["iteration"] != json.Number("1") {
		t.Errorf("verb event = %v", verb)
	}
	if hangup := data[6].(map[string]any); hangup["event"] != "hangup" ||
		!reflect.DeepEqual(hangup["event_data"], map[string]any{"by": "caller", "code": json.Number("200")}) {
		t.Errorf("hangup event = %v", hangup)
	}
	wantKeys(t, "extended request", data[0].(map[string]any), append(common, "method", "uri", "req_headers", "req_body")...)

	// events=false is Kazoo's answer; a bad value is named.
	if r := f.do(t, http.MethodGet, strings.TrimSuffix(path, "true")+"false", token, ""); r.code != 200 || len(r.body["data"].([]any)) != 5 {
		t.Errorf("events=false: %d, %v", r.code, r.body["data"])
	}
	checkError(t, f.do(t, http.MethodGet, strings.TrimSuffix(path, "true")+"maybe", token, ""), http.StatusBadRequest, "events")
}

func TestAPIDebugCallWithOnlyEventsIsUnknownToKazooClients(t *testing.T) {
	f := newAPIFixture(t)
	f.seed(t, callEvents("only-events")...)
	token := f.token(t, keyA)
	base := "/v2/accounts/" + accountA + "/pivot/debug"
	checkError(t, f.do(t, http.MethodGet, base+"/only-events", token, ""), http.StatusNotFound, "no pivot debug records")
	if r := f.do(t, http.MethodGet, base+"/only-events?events=true", token, ""); r.code != 200 || len(r.body["data"].([]any)) != 2 {
		t.Errorf("with events: %d %v", r.code, r.body)
	}
	if r := f.do(t, http.MethodGet, base, token, ""); len(r.body["data"].([]any)) != 0 {
		t.Errorf("events alone listed a call: %v", r.body["data"])
	}
}

func TestAPIDebugDetailTakesEncodedCallIDsAndDebugIDs(t *testing.T) {
	f := newAPIFixture(t)
	odd := "a/b c%d@10.0.0.1"
	f.seed(t, exchangeRecords(accountA, odd, 1, baseTime, 200)...)
	f.seed(t, exchangeRecords(accountA, "829597750@10.26.0.158", 1, baseTime, 200)...)
	token := f.token(t, keyA)
	base := "/v2/accounts/" + accountA + "/pivot/debug/"
	for path, want := range map[string]int{
		url.PathEscape(odd):                       2,
		"829597750%4010.26.0.158":                 2,
		"829597750@10.26.0.158":                   2,
		"202603-829597750%4010.26.0.158":          2,
		"202603-" + url.PathEscape(odd):           2,
		"202602-829597750%4010.26.0.158":          0, // another month's records: none
		"829597750%4010.26.0.159":                 0,
		url.PathEscape(strings.Repeat("x", 2000)): 0,
	} {
		r := f.do(t, http.MethodGet, base+path, token, "")
		if want == 0 {
			checkError(t, r, http.StatusNotFound, "no pivot debug records")
			continue
		}
		if r.code != 200 || len(r.body["data"].([]any)) != want {
			t.Errorf("%s: HTTP %d, %v", path, r.code, r.body["data"])
		}
	}
}

func TestAPIDebugPagingVisitsEachOf250CallsOnce(t *testing.T) {
	f := newAPIFixture(t)
	var recs []Record
	for i := 0; i < 250; i++ {
		// Ten calls per created second: paging must not rely on created alone.
		recs = append(recs, exchangeRecords(accountA, fmt.Sprintf("%03d@10.0.0.1", i), 1, baseTime.Add(time.Duration(i/10)*time.Second), 200)...)
	}
	f.seed(t, recs...)
	token := f.token(t, keyA)
	for _, order := range []string{"", "&ascending=true", "&descending=false"} {
		seen := map[string]int{}
		key, pages := "", 0
		var lastCreated int64 = -1
		for {
			path := "/v2/accounts/" + accountA + "/pivot/debug?page_size=7" + order
			if key != "" {
				path += "&start_key=" + url.QueryEscape(key)
			}
			r := f.do(t, http.MethodGet, path, token, "")
			if r.code != 200 {
				t.Fatalf("%s: %d %v", path, r.code, r.body)
			}
			pages++
			data := r.body["data"].([]any)
			if r.body["page_size"] != json.Number(fmt.Sprint(len(data))) {
				t.Errorf("page_size %v for %d rows", r.body["page_size"], len(data))
			}
			if key != "" && r.body["start_key"] != key {
				t.Errorf("start_key = %v, want the one sent", r.body["start_key"])
			}
			for _, row := range data {
				m := row.(map[string]any)
				seen[m["call_id"].(string)]++
				created, _ := m["created"].(json.Number).Int64()
				if lastCreated >= 0 && ((order == "" && created > lastCreated) || (order != "" && created < lastCreated)) {
					t.Fatalf("order %q: created %d after %d", order, created, lastCreated)
				}
				lastCreated = created
			}
			next, _ := r.body["next_start_key"].(string)
			if next == "" {
				break
			}
			key = next
		}
		if len(seen) != 250 || pages != 36 {
			t.Fatalf("order %q: %d calls in %d pages, want 250 in 36", order, len(seen), pages)
		}
		for id, n := range seen {
			if n != 1 {
				t.Fatalf("order %q: %s listed %d times", order, id, n)
			}
		}
	}
}

func TestAPIDebugListFiltersByCreated(t *testing.T) {
	f := newAPIFixture(t)
	for i := 0; i < 5; i++ {
		f.seed(t, exchangeRecords(accountA, fmt.Sprintf("m%d", i), 1, baseTime.Add(time.Duration(i)*time.Minute), 200)...)
	}
	token := f.token(t, keyA)
	from, to := GregorianSeconds(baseTime.Add(time.Minute)), GregorianSeconds(baseTime.Add(3*time.Minute))
	r := f.do(t, http.MethodGet, fmt.Sprintf("/v2/accounts/%s/pivot/debug?created_from=%d&created_to=%d", accountA, from, to), token, "")
	var ids []string
	for _, row := range r.body["data"].([]any) {
		ids = append(ids, row.(map[string]any)["call_id"].(string))
	}
	if want := []string{"m3", "m2", "m1"}; !reflect.DeepEqual(ids, want) {
		t.Fatalf("calls = %v, want %v", ids, want)
	}
}

func TestAPIAccountNeverSeesAnotherAccount(t *testing.T) {
	f := newAPIFixture(t)
	f.seed(t, exchangeRecords(accountA, "a-call", 1, baseTime, 200)...)
	f.seed(t, exchangeRecords(accountB, "b-call", 1, baseTime, 500)...)
	f.seed(t, exchangeRecords(accountB, "same-id", 1, baseTime, 500)...)
	f.seed(t, exchangeRecords(accountA, "same-id", 1, baseTime, 200)...)
	tokenA, tokenB := f.token(t, keyA), f.token(t, keyB)

	checkError(t, f.do(t, http.MethodGet, "/v2/accounts/"+accountB+"/pivot/debug", tokenA, ""), 403, "")
	checkError(t, f.do(t, http.MethodGet, "/v2/accounts/"+accountB+"/pivot/debug/b-call", tokenA, ""), 403, "")
	checkError(t, f.do(t, http.MethodGet, "/v2/accounts/"+accountA+"/pivot/debug/a-call", tokenB, ""), 403, "")
	// B's call asked for under A's own account does not exist there.
	checkError(t, f.do(t, http.MethodGet, "/v2/accounts/"+accountA+"/pivot/debug/b-call", tokenA, ""), 404, "")

	for _, c := range []struct {
		token, account string
		want           []string
		status         string
	}{{tokenA, accountA, []string{"a-call", "same-id"}, "200"}, {tokenB, accountB, []string{"b-call", "same-id"}, "500"}} {
		r := f.do(t, http.MethodGet, "/v2/accounts/"+c.account+"/pivot/debug", c.token, "")
		var ids []string
		for _, row := range r.body["data"].([]any) {
			m := row.(map[string]any)
			ids = append(ids, m["call_id"].(string))
			if m["status_code"] != c.status {
				t.Errorf("account %s sees status %v of another account", c.account, m["status_code"])
			}
		}
		sort.Strings(ids)
		if !reflect.DeepEqual(ids, c.want) {
			t.Errorf("account %s lists %v, want %v", c.account, ids, c.want)
		}
		d := f.do(t, http.MethodGet, "/v2/accounts/"+c.account+"/pivot/debug/same-id", c.token, "")
		if got := d.body["data"].([]any)[1].(map[string]any)["resp_status_code"]; got != c.status {
			t.Errorf("account %s reads status %v in same-id", c.account, got)
		}
	}
}

func TestAPIRefusesMissingBadAndExpiredTokens(t *testing.T) {
	f := newAPIFixture(t)
	f.seed(t, exchangeRecords(accountA, "c1", 1, baseTime, 200)...)
	token := f.token(t, keyA)
	list := "/v2/accounts/" + accountA + "/pivot/debug"
	payload, _, _ := strings.Cut(token, ".")
	forged := strings.Replace(token, payload, accountB, 1)
	otherKey := signToken(accountA, "not-the-api-key", f.clock.Now().Add(time.Hour))
	for name, tok := range map[string]string{
		"garbage": "not-a-token", "forged account": forged, "wrong key": otherKey,
		"unknown account": signToken("00000000000000000000000000000000", keyA, f.clock.Now().Add(time.Hour)),
		"too long":        strings.Repeat("a", 1000),
		"none":            "",
	} {
		t.Run(name, func(t *testing.T) {
			r := f.do(t, http.MethodGet, list, tok, "")
			want := "invalid credentials"
			if tok == "" { // a client that forgot the header is told so, not that its credentials are wrong
				want = "no auth token: send the auth_token from PUT /v2/api_auth as X-Auth-Token"
			}
			checkError(t, r, http.StatusUnauthorized, want)
			if r.body["auth_token"] != "" {
				t.Errorf("auth_token = %v echoed on 401", r.body["auth_token"])
			}
		})
	}
	// The query parameter works as well as the header.
	if r := f.do(t, http.MethodGet, list+"?auth_token="+url.QueryEscape(token), "", ""); r.code != 200 {
		t.Fatalf("?auth_token=: %d %v", r.code, r.body)
	}
	f.clock.Advance(59 * time.Minute)
	if r := f.do(t, http.MethodGet, list, token, ""); r.code != 200 {
		t.Fatalf("a 59-minute-old token: %d", r.code)
	}
	f.clock.Advance(time.Minute)
	checkError(t, f.do(t, http.MethodGet, list, token, ""), http.StatusUnauthorized, "the auth token has expired")
}

func TestAPIRejectsBadListParametersByName(t *testing.T) {
	f := newAPIFixture(t)
	token := f.token(t, keyA)
	for _, c := range []struct{ query, param string }{
		{"page_size=abc", "page_size"},
		{"page_size=0", "page_size"},
		{"page_size=1001", "page_size"},
		{"page_size=-5", "page_size"},
		{"start_key=%21%21", "start_key"},
		{"start_key=" + EncodeStartKey(Cursor{CallID: "x"})[:5], "start_key"},
		{"created_from=yesterday", "created_from"},
		{"created_to=1.5", "created_to"},
		{"created_from=63896025600&created_to=63896025599", "created_to"},
		{"ascending=maybe", "ascending"},
		{"descending=2", "descending"},
	} {
		r := f.do(t, http.MethodGet, "/v2/accounts/"+accountA+"/pivot/debug?"+c.query, token, "")
		checkError(t, r, http.StatusBadRequest, c.param)
		if _, ok := r.body["data"].(map[string]any)[c.param]; !ok {
			t.Errorf("%s: data %v does not name %s", c.query, r.body["data"], c.param)
		}
	}
	if r := f.do(t, http.MethodGet, "/v2/accounts/"+accountA+"/pivot/debug?page_size=1000&ascending=false", token, ""); r.code != 200 {
		t.Fatalf("valid parameters refused: %d %v", r.code, r.body)
	}
}

func TestAPIRefusesOtherMethods(t *testing.T) {
	f := newAPIFixture(t)
	token := f.token(t, keyA)
	for _, path := range []string{"/v2/accounts/" + accountA + "/pivot/debug", "/v2/accounts/" + accountA + "/pivot/debug/c1"} {
		for _, m := range []string{http.MethodPost, http.MethodPut, http.MethodDelete, http.MethodPatch} {
			r := f.do(t, m, path, token, "{}")
			checkError(t, r, http.StatusMethodNotAllowed, "GET")
			if r.header.Get("Allow") != "GET" {
				t.Errorf("%s %s: Allow %q", m, path, r.header.Get("Allow"))
			}
		}
	}
}

func TestAPIEchoesTheClientsRequestID(t *testing.T) {
	f := newAPIFixture(t)
	req, _ := http.NewRequest(http.MethodGet, f.srv.URL+"/v2/accounts/"+accountA+"/pivot/debug", nil)
	req.Header.Set("X-Request-ID", "trace-42")
	resp, err := f.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var env map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&env)
	if env["request_id"] != "trace-42" || resp.Header.Get("X-Request-ID") != "trace-42" {
		t.Fatalf("request_id = %v, header %q", env["request_id"], resp.Header.Get("X-Request-ID"))
	}
}
