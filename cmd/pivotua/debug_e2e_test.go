package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"testing"

	"github.com/pivotua/pivotua/internal/testkit"
	"github.com/pivotua/pivotua/internal/testkit/sipptest"
)

// crossbar calls pivotua's Crossbar-compatible API and decodes the envelope.
func crossbar(t *testing.T, method, target, token string, body any) (int, map[string]any) {
	t.Helper()
	var b []byte
	if body != nil {
		b, _ = json.Marshal(body)
	}
	return crossbarRaw(t, method, target, token, "application/json", b)
}

// crossbarRaw sends body as it is (audio, garbled or huge JSON) with contentType and returns the
// status and the envelope every Crossbar answer is.
func crossbarRaw(t *testing.T, method, target, token, contentType string, body []byte) (int, map[string]any) {
	t.Helper()
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequest(method, target, rd)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("X-Auth-Token", token)
	}
	if body != nil {
		req.Header.Set("Content-Type", contentType)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	var env map[string]any
	if err := json.Unmarshal(raw, &env); err != nil {
		t.Fatalf("%s %s: %d, not a JSON envelope: %q", method, target, res.StatusCode, raw)
	}
	return res.StatusCode, env
}

// TestE2EDebugAPIShowsARealCallsExchanges: a SIPp call through a debug: true pivot, then the
// records read back as Kazoo users read them.
func TestE2EDebugAPIShowsARealCallsExchanges(t *testing.T) {
	needE2E(t)
	hook := newWebhook(t, speechThenTone)
	flow := pivotFlow(hook.URL+"/voice", nil)
	flow["data"].(map[string]any)["debug"] = true
	p := startPivotua(t, flow)
	if err := runSIPp(t, p, "uac_call.xml", sipptest.Data{RTPPort: testkit.FreePort(t), Codec: 0}); err != nil {
		t.Fatal(err)
	}
	callID := hook.received()[0].Get("Call-ID")

	code, env := crossbar(t, "PUT", p.httpURL+"/v2/api_auth", "", map[string]any{"data": map[string]any{"api_key": "e2e-key"}})
	token, _ := env["auth_token"].(string)
	if code != 201 || token == "" {
		t.Fatalf("api_auth: %d %v", code, env)
	}
	base := fmt.Sprintf("%s/v2/accounts/%s/pivot/debug", p.httpURL, e2eAccount)
	if code, _ := crossbar(t, "GET", base, "", nil); code != 401 {
		t.Errorf("no token: %d, want 401", code)
	}
	// The records are written asynchronously; the call ended a moment ago.
	var rows []any
	for range 50 {
		code, env = crossbar(t, "GET", base, token, nil)
		if rows, _ = env["data"].([]any); code == 200 && len(rows) > 0 {
			break
		}
	}
	if len(rows) != 1 {
		t.Fatalf("list: %d %v", code, env)
	}
	row := rows[0].(map[string]any)
	if row["call_id"] != callID || row["status_code"] != "200" || row["iteration"] != float64(1) || row["node"] != "e2e" {
		t.Errorf("list row %v", row)
	}
	if _, isNumber := row["created"].(float64); !isNumber {
		t.Errorf("created must be a number (Gregorian seconds): %v", row["created"])
	}
	code, env = crossbar(t, "GET", base+"/"+url.PathEscape(callID), token, nil)
	recs, _ := env["data"].([]any)
	if code != 200 || len(recs) != 2 {
		t.Fatalf("detail: %d %v", code, env)
	}
	req, resp := recs[0].(map[string]any), recs[1].(map[string]any)
	if req["method"] != "get" || req["uri"] == nil || resp["resp_status_code"] != "200" {
		t.Errorf("request %v\nresponse %v", req, resp)
	}
	var doc map[string]any
	if err := json.Unmarshal([]byte(resp["resp_body"].(string)), &doc); err != nil || doc["module"] != "tts" {
		t.Errorf("resp_body should be the document the webhook returned: %v", resp["resp_body"])
	}
	if code, _ := crossbar(t, "GET", base+"/no-such-call", token, nil); code != 404 {
		t.Errorf("unknown call: %d, want 404", code)
	}
}
