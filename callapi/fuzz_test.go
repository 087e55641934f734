package callapi

import (
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// FuzzRequests: whatever body, query or path a client sends, each request gets an answer from the
// handler's set (never a panic, never a call placed from a refused request).
func FuzzRequests(f *testing.F) {
	f.Add("POST", "/Calls.json", "To=sip%3Abob%40example.com&From=100&Url=https%3A%2F%2Fa.example%2Fv")
	f.Add("POST", "/Calls.json", "To=%2B1555&From=100&Twiml=%3CResponse%3E%3CSay%3Ehi%3C%2FSay%3E%3C%2FResponse%3E&StatusCallbackEvent=answered+completed")
	f.Add("GET", "/Calls.json?StartTime%3E=2026-01-01&PageSize=2&Page=3", "")
	f.Add("POST", "/Calls/CA00000000000000000000000000000001.json", "Status=completed")
	f.Add("POST", "/Calls/%00.json", "Twiml=%3CResponse")
	f.Fuzz(func(t *testing.T, method, path, body string) {
		if method != "GET" && method != "POST" {
			return
		}
		calls := &fakeCalls{}
		mux := http.NewServeMux()
		New(calls, map[string]string{account: apiKey}, defaultConfig(t), slog.New(slog.DiscardHandler)).Register(mux)
		req, err := http.NewRequest(method, "http://pivotua/2010-04-01/Accounts/AC"+account+path, strings.NewReader(body))
		if err != nil {
			return
		}
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.SetBasicAuth("AC"+account, apiKey)
		rec := httptest.NewRecorder()
		mux.ServeHTTP(rec, req)
		switch rec.Code {
		case 200, 201, 400, 401, 404, 405, 413, 429, 301, 307:
		default:
			t.Errorf("%s %s %q: %d %s", method, path, body, rec.Code, rec.Body)
		}
		if rec.Code != 201 && len(calls.created) > 0 {
			t.Errorf("%s %s %q: %d but a call was placed", method, path, body, rec.Code)
		}
	})
}
