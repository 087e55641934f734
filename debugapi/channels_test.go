package debugapi

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeChannels is a ChannelControl that keeps what it was asked and answers from its fields.
type fakeChannels struct {
	mu       sync.Mutex
	live     map[string]Channel // by account + "/" + uuid
	calls    []string           // "hangup acct uuid", "transfer acct uuid target", ...
	flows    []Callflow
	origins  []Origination
	failWith error
}

func newFakeChannels() *fakeChannels {
	return &fakeChannels{live: map[string]Channel{
		accountA + "/call-1@host": {UUID: "call-1@host", CallSid: "CA" + strings.Repeat("1", 32), Direction: "inbound", Answered: true,
			Destination: "2600", Username: "alice", Status: "in-progress", Created: baseTime},
	}}
}

func (f *fakeChannels) note(s string) {
	f.mu.Lock()
	f.calls = append(f.calls, s)
	f.mu.Unlock()
}

func (f *fakeChannels) List(acct string) []Channel {
	var out []Channel
	for k, c := range f.live {
		if strings.HasPrefix(k, acct+"/") {
			out = append(out, c)
		}
	}
	return out
}

func (f *fakeChannels) Get(acct, uuid string) (Channel, bool) {
	c, ok := f.live[acct+"/"+uuid]
	return c, ok
}

func (f *fakeChannels) act(acct, uuid, what string) (Channel, error) {
	f.note(what)
	if f.failWith != nil {
		return Channel{}, f.failWith
	}
	c, ok := f.Get(acct, uuid)
	if !ok {
		return Channel{}, ErrChannelNotFound
	}
	return c, nil
}

func (f *fakeChannels) Hangup(acct, uuid string) (Channel, error) {
	return f.act(acct, uuid, "hangup "+uuid)
}

func (f *fakeChannels) Transfer(acct, uuid, target string) (Channel, error) {
	return f.act(acct, uuid, "transfer "+uuid+" "+target)
}

func (f *fakeChannels) Redirect(acct, uuid string, flow Callflow) (Channel, error) {
	f.mu.Lock()
	f.flows = append(f.flows, flow)
	f.mu.Unlock()
	return f.act(acct, uuid, "pivot "+uuid)
}

func (f *fakeChannels) Originate(acct string, o Origination) (Channel, error) {
	f.note("originate " + o.To)
	if f.failWith != nil {
		return Channel{}, f.failWith
	}
	f.mu.Lock()
	f.origins = append(f.origins, o)
	f.mu.Unlock()
	return Channel{UUID: "CA" + strings.Repeat("2", 32), CallSid: "CA" + strings.Repeat("2", 32), Direction: "outbound",
		Destination: o.To, Username: o.To, Status: "queued", Created: baseTime}, nil
}

// channelsFixture is the API over real HTTP with fakeChannels behind its channels routes.
func channelsFixture(t *testing.T) (*apiFixture, *fakeChannels) {
	t.Helper()
	f := &apiFixture{store: openSQLiteTest(t), clock: &testClock{now: baseTime}}
	api := NewAPI(APIConfig{
		Store:    f.store,
		Accounts: []Account{{ID: accountA, Name: "alpha", APIKey: keyA}, {ID: accountB, Name: "beta", APIKey: keyB}},
		Node:     "pivotua@test", Version: "test-1", Now: f.clock.Now,
	})
	fc := newFakeChannels()
	api.UseChannels(fc)
	mux := http.NewServeMux()
	api.Register(mux)
	f.srv = httptest.NewServer(mux)
	t.Cleanup(f.srv.Close)
	return f, fc
}

func TestChannelsListAndFetchInKazooShape(t *testing.T) {
	f, _ := channelsFixture(t)
	tok := f.token(t, keyA)
	r := f.do(t, "GET", "/v2/accounts/"+accountA+"/channels", tok, "")
	if r.code != 200 {
		t.Fatalf("list: %d %v", r.code, r.body)
	}
	checkEnvelope(t, r, "success")
	list, _ := r.body["data"].([]any)
	if len(list) != 1 {
		t.Fatalf("data = %v, want the one channel", r.body["data"])
	}
	ch := list[0].(map[string]any)
	wantKeys(t, "channel", ch, "answered", "call_sid", "destination", "direction", "status", "timestamp", "username", "uuid")
	if ch["uuid"] != "call-1@host" || ch["answered"] != true || ch["direction"] != "inbound" ||
		ch["timestamp"] != json.Number(fmt.Sprint(GregorianSeconds(baseTime))) {
		t.Errorf("channel = %v", ch)
	}
	// A Call-ID holds characters a path must escape; the channel is found by it.
	r = f.do(t, "GET", "/v2/accounts/"+accountA+"/channels/call-1%40host", tok, "")
	if r.code != 200 || r.body["data"].(map[string]any)["uuid"] != "call-1@host" {
		t.Errorf("fetch: %d %v", r.code, r.body)
	}
	// Account B's token lists B's channels: none; it may not read A's path (403), nor find A's
	// channel under its own (404).
	tokB := f.token(t, keyB)
	if r := f.do(t, "GET", "/v2/accounts/"+accountB+"/channels", tokB, ""); r.code != 200 || len(r.body["data"].([]any)) != 0 {
		t.Errorf("B's list: %d %v", r.code, r.body)
	}
	if r := f.do(t, "GET", "/v2/accounts/"+accountA+"/channels", tokB, ""); r.code != 403 {
		t.Errorf("B's token on A's channels: %d, want 403", r.code)
	}
	if r := f.do(t, "GET", "/v2/accounts/"+accountB+"/channels/call-1@host", tokB, ""); r.code != 404 || r.body["error"] != "404" {
		t.Errorf("A's channel under B: %d %v, want 404", r.code, r.body)
	}
	if r := f.do(t, "GET", "/v2/accounts/"+accountA+"/channels", "", ""); r.code != 401 || r.body["status"] != "error" {
		t.Errorf("no token: %d %v, want 401", r.code, r.body)
	}
	if r := f.do(t, "GET", "/v2/accounts/"+accountA+"/channels", tok+"x", ""); r.code != 401 {
		t.Errorf("a forged token: %d, want 401", r.code)
	}
	if r := f.do(t, "DELETE", "/v2/accounts/"+accountA+"/channels/call-1@host", tok, ""); r.code != 405 {
		t.Errorf("DELETE: %d, want 405", r.code)
	}
}

func TestChannelActionsReachTheControl(t *testing.T) {
	f, fc := channelsFixture(t)
	tok := f.token(t, keyA)
	path := "/v2/accounts/" + accountA + "/channels/call-1@host"
	for _, tc := range []struct{ body, want string }{
		{`{"data":{"action":"hangup"}}`, "hangup call-1@host"},
		{`{"data":{"action":"transfer","target":" 2600 "}}`, "transfer call-1@host 2600"},
		{`{"data":{"action":"pivot","voice_url":"http://app/next","req_format":"twiml"}}`, "pivot call-1@host"},
	} {
		fc.calls = nil
		r := f.do(t, "POST", path, tok, tc.body)
		if r.code != 200 || len(fc.calls) != 1 || fc.calls[0] != tc.want {
			t.Errorf("%s: %d %v; control got %q, want %q", tc.body, r.code, r.body, fc.calls, tc.want)
		}
	}
	if len(fc.flows) != 1 {
		t.Fatal("the pivot action's flow did not reach the control")
	}
	var node map[string]any
	_ = json.Unmarshal(fc.flows[0].JSON, &node)
	data, _ := node["data"].(map[string]any)
	if node["module"] != "pivot" || data["voice_url"] != "http://app/next" || data["req_format"] != "twiml" || fc.flows[0].Path != "" {
		t.Errorf("pivot node = %s (path %q)", fc.flows[0].JSON, fc.flows[0].Path)
	}
}

func TestChannelActionsRefuseWhatIsWrong(t *testing.T) {
	f, fc := channelsFixture(t)
	tok := f.token(t, keyA)
	path := "/v2/accounts/" + accountA + "/channels/call-1@host"
	for _, tc := range []struct {
		name, body string
		code       int
		field      string // the data key the answer names
		message    string // in the message
	}{
		{"unknown action", `{"data":{"action":"dance"}}`, 400, "data.action", `"dance" is not one of hangup, transfer, pivot`},
		{"Kazoo's callflow", `{"data":{"action":"callflow","id":"abc"}}`, 400, "data.action", "no stored callflows"},
		{"no action", `{"data":{}}`, 400, "data.action", "required"},
		{"action not a string", `{"data":{"action":7}}`, 400, "data.action", "must be a string"},
		{"takeback_dtmf", `{"data":{"action":"transfer","target":"2600","takeback_dtmf":"*1"}}`, 400, "data.takeback_dtmf", "cannot be taken back"},
		{"no target", `{"data":{"action":"transfer"}}`, 400, "data.target", "required"},
		{"target with a newline", `{"data":{"action":"transfer","target":"sip:a@b\r\nVia: x"}}`, 400, "data.target", "control characters"},
		{"target too long", `{"data":{"action":"transfer","target":"` + strings.Repeat("1", 300) + `"}}`, 400, "data.target", "at most 256"},
		{"extra field on hangup", `{"data":{"action":"hangup","cause":"x"}}`, 400, "data.cause", "not a field"},
		{"pivot without voice_url", `{"data":{"action":"pivot","method":"get"}}`, 400, "data.voice_url", "required"},
		{"not JSON", `{"data":`, 400, "data", "one JSON object"},
		{"two objects", `{"data":{"action":"hangup"}}{"data":{}}`, 400, "data", "one JSON object"},
		{"data not an object", `{"data":[1]}`, 400, "data", "one JSON object"},
		{"no data", `{"action":"hangup"}`, 400, "data", "required"},
	} {
		fc.calls = nil
		r := f.do(t, "POST", path, tok, tc.body)
		msg, _ := r.body["message"].(string)
		data, _ := r.body["data"].(map[string]any)
		if r.code != tc.code || r.body["error"] != fmt.Sprint(tc.code) || r.body["status"] != "error" || data[tc.field] == nil || !strings.Contains(msg, tc.message) {
			t.Errorf("%s: %d %v, want %d naming %s with %q", tc.name, r.code, r.body, tc.code, tc.field, tc.message)
		}
		if len(fc.calls) != 0 {
			t.Errorf("%s: the control was asked %q", tc.name, fc.calls)
		}
	}
	// Kazoo's enum layout for an unknown action.
	r := f.do(t, "POST", path, tok, `{"data":{"action":"dance"}}`)
	enum, _ := r.body["data"].(map[string]any)["data.action"].(map[string]any)["enum"].(map[string]any)
	if enum["message"] != "Value not found in enumerated list of values" || enum["value"] != "dance" {
		t.Errorf("unknown action data = %v", r.body["data"])
	}
	// A huge body is cut at its bound, whatever it holds.
	huge := `{"data":{"action":"pivot","voice_url":"http://a/` + strings.Repeat("x", maxChannelBody) + `"}}`
	if r := f.do(t, "POST", path, tok, huge); r.code != 413 || r.body["status"] != "error" {
		t.Errorf("huge body: %d %v, want 413", r.code, r.body)
	}
	if r := f.do(t, "POST", path, tok, `action=hangup`); r.code != 400 || r.body["data"].(map[string]any)["data"] == nil {
		t.Errorf("a form body: %d %v, want 400 naming data", r.code, r.body)
	}
}

func TestChannelControlErrorsBecomeCrossbarErrors(t *testing.T) {
	f, fc := channelsFixture(t)
	tok := f.token(t, keyA)
	for _, tc := range []struct {
		err   error
		code  int
		field string
	}{
		{&FieldError{Field: "data.target", Message: "cannot be dialled: denied"}, 400, "data.target"},
		{fmt.Errorf("%w: gone", ErrChannelNotFound), 404, ""},
		{fmt.Errorf("%w: api.max_calls", ErrChannelLimit), 429, ""},
		{fmt.Errorf("%w: draining", ErrChannelUnavailable), 503, ""},
		{fmt.Errorf("boom"), 500, ""},
	} {
		fc.failWith = tc.err
		r := f.do(t, "POST", "/v2/accounts/"+accountA+"/channels/call-1@host", tok, `{"data":{"action":"transfer","target":"sip:x@example.com"}}`)
		if r.code != tc.code || r.body["error"] != fmt.Sprint(tc.code) {
			t.Errorf("%v: %d %v, want %d", tc.err, r.code, r.body, tc.code)
		}
		if tc.field != "" && r.body["data"].(map[string]any)[tc.field] == nil {
			t.Errorf("%v: data %v does not name %s", tc.err, r.body["data"], tc.field)
		}
		if tc.code == 500 && strings.Contains(fmt.Sprint(r.body), "boom") {
			t.Errorf("an internal error's text reached the client: %v", r.body)
		}
	}
	// A channel that is not live: 404 before any action.
	fc.failWith = nil
	if r := f.do(t, "POST", "/v2/accounts/"+accountA+"/channels/nope", tok, `{"data":{"action":"hangup"}}`); r.code != 404 {
		t.Errorf("hangup of an unknown channel: %d", r.code)
	}
}

func TestChannelsPlaceACallFromKazooJSON(t *testing.T) {
	f, fc := channelsFixture(t)
	tok := f.token(t, keyA)
	path := "/v2/accounts/" + accountA + "/channels"
	r := f.do(t, "PUT", path, tok, `{"data":{"to":"sip:bob@example.com","caller_id_number":"+15550100","timeout":20,"voice_url":"http://app/voice","method":"post"}}`)
	if r.code != 201 || r.body["data"].(map[string]any)["direction"] != "outbound" {
		t.Fatalf("PUT with voice_url: %d %v", r.code, r.body)
	}
	o := fc.origins[0]
	var node map[string]any
	_ = json.Unmarshal(o.Flow.JSON, &node)
	if o.To != "sip:bob@example.com" || o.From != "+15550100" || o.Timeout != 20*time.Second || node["module"] != "pivot" ||
		node["data"].(map[string]any)["method"] != "post" || o.Flow.Path != "" {
		t.Errorf("origination = %+v, flow %s", o, o.Flow.JSON)
	}
	flow := `{"module":"tts","data":{"text":"hello"},"children":{"_":{"module":"hangup"}}}`
	r = f.do(t, "PUT", path, tok, `{"data":{"to":"2600","from":"100","flow":`+flow+`}}`)
	if r.code != 201 || string(fc.origins[1].Flow.JSON) != flow || fc.origins[1].Flow.Path != "data.flow" {
		t.Errorf("PUT with a flow: %d %v, flow %s", r.code, r.body, fc.origins[1].Flow.JSON)
	}
	for _, tc := range []struct{ name, body, field string }{
		{"no to", `{"data":{"from":"1","voice_url":"http://a"}}`, "data.to"},
		{"no from", `{"data":{"to":"2600","voice_url":"http://a"}}`, "data.from"},
		{"from and caller_id_number", `{"data":{"to":"2600","from":"1","caller_id_number":"2","voice_url":"http://a"}}`, "data.from"},
		{"neither flow nor voice_url", `{"data":{"to":"2600","from":"1"}}`, "data.voice_url"},
		{"flow and voice_url", `{"data":{"to":"2600","from":"1","voice_url":"http://a","flow":{"module":"hangup"}}}`, "data.flow"},
		{"flow not an object", `{"data":{"to":"2600","from":"1","flow":"hangup"}}`, "data.flow"},
		{"timeout 0", `{"data":{"to":"2600","from":"1","voice_url":"http://a","timeout":0}}`, "data.timeout"},
		{"timeout a string", `{"data":{"to":"2600","from":"1","voice_url":"http://a","timeout":"20"}}`, "data.timeout"},
		{"an unknown field", `{"data":{"to":"2600","from":"1","voice_url":"http://a","MachineDetection":"Enable"}}`, "data.MachineDetection"},
	} {
		n := len(fc.origins)
		r := f.do(t, "PUT", path, tok, tc.body)
		if r.code != 400 || r.body["data"].(map[string]any)[tc.field] == nil {
			t.Errorf("%s: %d %v, want 400 naming %s", tc.name, r.code, r.body, tc.field)
		}
		if len(fc.origins) != n {
			t.Errorf("%s: a call was placed", tc.name)
		}
	}
	fc.failWith = fmt.Errorf("%w: api.calls_per_second", ErrChannelLimit)
	if r := f.do(t, "PUT", path, tok, `{"data":{"to":"2600","from":"1","voice_url":"http://a"}}`); r.code != 429 || !strings.Contains(r.body["message"].(string), "calls_per_second") {
		t.Errorf("over the limit: %d %v, want 429 naming it", r.code, r.body)
	}
}

func TestChannelsUnwiredAnswer503(t *testing.T) {
	f := newAPIFixture(t)
	tok := f.token(t, keyA)
	if r := f.do(t, "GET", "/v2/accounts/"+accountA+"/channels", tok, ""); r.code != 503 || r.body["status"] != "error" {
		t.Errorf("no channel control: %d %v", r.code, r.body)
	}
}

// FuzzChannelAction: whatever the body of POST .../channels/{UUID} or PUT .../channels, the answer is
// an envelope with a status the API documents, and the control is asked only with checked fields.
func FuzzChannelAction(f *testing.F) {
	for _, s := range []string{
		`{"data":{"action":"hangup"}}`, `{"data":{"action":"transfer","target":"2600"}}`,
		`{"data":{"action":"pivot","voice_url":"http://a","debug":true}}`, `{"data":{"action":"x"}}`, `{"data":null}`,
		`{"data":{"to":"2600","from":"1","flow":{"module":"hangup"}}}`, `{"data":{"action":"\u0000"}}`, `[]`, `"`, ``,
	} {
		f.Add(s, true)
		f.Add(s, false)
	}
	api := NewAPI(APIConfig{Accounts: []Account{{ID: accountA, APIKey: keyA}}, Now: func() time.Time { return baseTime }})
	fc := newFakeChannels()
	api.UseChannels(fc)
	mux := http.NewServeMux()
	api.Register(mux)
	tok := signToken(accountA, keyA, baseTime.Add(time.Hour))
	f.Fuzz(func(t *testing.T, body string, action bool) {
		method, path := "PUT", "/v2/accounts/"+accountA+"/channels"
		if action {
			method, path = "POST", path+"/call-1@host"
		}
		req := httptest.NewRequest(method, path, strings.NewReader(body))
		req.Header.Set("X-Auth-Token", tok)
		w := httptest.NewRecorder()
		mux.ServeHTTP(w, req)
		switch w.Code {
		case 200, 201, 400, 404, 413:
		default:
			t.Fatalf("%s %q: %d", method, body, w.Code)
		}
		var env map[string]any
		if err := json.Unmarshal(w.Body.Bytes(), &env); err != nil || env["status"] == nil {
			t.Fatalf("%s %q: not an envelope: %q", method, body, w.Body.String())
		}
		fc.mu.Lock()
		defer fc.mu.Unlock()
		for _, c := range fc.calls {
			if strings.ContainsAny(c, "\r\n\x00") {
				t.Fatalf("the control was asked %q", c)
			}
		}
		fc.calls = nil
	})
}
