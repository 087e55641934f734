package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/pivotua/pivotua/debugapi"
	"github.com/pivotua/pivotua/flow"
)

const (
	debugTestAccount = "4b31dd1d32ce6d249897c06332375d65"
	debugTestKey     = "0a1b2c3d"
)

var debugTestNow = time.Date(2026, 3, 14, 15, 9, 26, 0, time.UTC)

func getExchange() flow.Exchange {
	return flow.Exchange{
		AccountID: debugTestAccount, CallID: "829597750@10.26.0.158", Iteration: 1, Debug: true,
		Method: "GET", URL: "http://127.0.0.1:9000/ivr?Call-ID=829597750%4010.26.0.158&From=1000",
		RequestHeader: http.Header{"User-Agent": {"pivotua/dev"}, "X-Pivot-Signature": {"t=1,v1=ABCdef"}},
		Status:        404,
		ResponseHeader: http.Header{
			"Content-Type": {"Text/HTML; Charset=UTF-8"}, "Set-Cookie": {"A=1", "B=2"},
		},
		ResponseBody: []byte("Not Found"),
		Elapsed:      42 * time.Millisecond,
	}
}

func TestDebugExchangeBecomesRequestAndResponseRecords(t *testing.T) {
	recs := exchangeRecords(getExchange(), "pivotua@node1", debugTestNow)
	if len(recs) != 2 {
		t.Fatalf("%d records, want request + response", len(recs))
	}
	base := debugapi.Record{AccountID: debugTestAccount, CallID: "829597750@10.26.0.158", Iteration: 1, Node: "pivotua@node1"}
	req := base
	req.Kind, req.Created, req.Method = debugapi.KindRequest, debugTestNow.Add(-42*time.Millisecond), "get"
	req.URI = "http://127.0.0.1:9000/ivr?Call-ID=829597750%4010.26.0.158&From=1000"
	// Names lower-cased as Kazoo stores them; values as sent (a signature is case-sensitive).
	req.ReqHeaders = map[string]string{"user-agent": "pivotua/dev", "x-pivot-signature": "t=1,v1=ABCdef"}
	resp := base
	resp.Kind, resp.Created, resp.StatusCode, resp.RespBody, resp.Elapsed = debugapi.KindResponse, debugTestNow, 404, "Not Found", 42*time.Millisecond
	resp.RespHeaders = map[string]string{"content-type": "Text/HTML; Charset=UTF-8", "set-cookie": "A=1, B=2"}
	for i, want := range []debugapi.Record{req, resp} {
		if !reflect.DeepEqual(recs[i], want) {
			t.Errorf("record %d:\n got %+v\nwant %+v", i, recs[i], want)
		}
	}
}

func TestDebugExchangeWithoutResponseKeepsTheFetchError(t *testing.T) {
	ex := getExchange()
	ex.Method, ex.Status, ex.ResponseHeader, ex.ResponseBody = "POST", 0, nil, nil
	ex.RequestBody = []byte("Call-ID=x")
	ex.Err = errors.New("httpfetch: timed out")
	recs := exchangeRecords(ex, "n", debugTestNow)
	if len(recs) != 1 || recs[0].Kind != debugapi.KindRequest || recs[0].Method != "post" ||
		recs[0].ReqBody != "Call-ID=x" || recs[0].FetchError != "httpfetch: timed out" {
		t.Fatalf("records = %+v", recs)
	}
}

func TestDebugOffKeepsFailuresOnly(t *testing.T) {
	ex := getExchange()
	ex.Debug, ex.Status = false, 200
	if recs := exchangeRecords(ex, "n", debugTestNow); len(recs) != 0 {
		t.Errorf("debug off and a successful exchange: want no records, got %+v", recs)
	}
	ex.Status, ex.Err = 0, errors.New("connect: connection refused")
	recs := exchangeRecords(ex, "n", debugTestNow)
	if len(recs) != 1 || recs[0].Kind != debugapi.KindRequest || recs[0].FetchError == "" {
		t.Errorf("debug off, webhook down: want the request with its fetch error, got %+v", recs)
	}
	ex.Status, ex.ResponseBody = 200, []byte(`{"module":`)
	ex.ErrorKind, ex.Err = flow.ErrorKindJSON, flow.ErrInvalidJSON
	recs = exchangeRecords(ex, "n", debugTestNow)
	if len(recs) != 3 || recs[2].Kind != debugapi.KindError || recs[2].JSONErrors == nil {
		t.Errorf("debug off, invalid JSON: want request, response and json_errors, got %+v", recs)
	}
}

func TestDebugSchemaErrorsUseKazoosLayout(t *testing.T) {
	ex := getExchange()
	ex.Status = 200
	ex.ResponseBody = []byte(`{"module":"nope","data":{}}`)
	ex.ErrorKind = flow.ErrorKindSchema
	ex.Errors = []error{
		&flow.ValidationError{Path: "flow.module", Message: `unknown module "nope"`},
		&flow.ValidationError{Path: "flow.data.text", Message: "required"},
		&flow.ValidationError{Path: "flow.data.voice_url", Message: "must be an http or https URL"},
		&flow.ValidationError{Path: "flow.data.voice_url", Message: "must be a string"},
		&flow.ValidationError{Path: "flow.data.loop", Message: "must be between 0 and 100"},
		errors.New("something else"),
	}
	ex.Err = errors.Join(ex.Errors...)
	recs := exchangeRecords(ex, "n", debugTestNow)
	if len(recs) != 3 || recs[2].Kind != debugapi.KindError {
		t.Fatalf("records = %+v", recs)
	}
	e := recs[2]
	want := debugapi.SchemaErrors{
		"flow.module":         {"enum": {Message: `unknown module "nope"`}},
		"flow.data.text":      {"required": {Message: "required"}},
		"flow.data.voice_url": {"format": {Message: "must be an http or https URL"}, "type": {Message: "must be a string"}},
		"flow.data.loop":      {"range": {Message: "must be between 0 and 100"}},
		"document":            {"invalid": {Message: "something else"}},
	}
	if !reflect.DeepEqual(e.SchemaErrors, want) || e.JSONErrors != nil {
		t.Errorf("schema_errors = %+v", e.SchemaErrors)
	}
	if e.RespBody != `{"module":"nope","data":{}}` || e.URI != ex.URL || !e.Created.Equal(debugTestNow) {
		t.Errorf("error record = %+v", e)
	}
	raw, _ := json.Marshal(e)
	var doc map[string]any
	_ = json.Unmarshal(raw, &doc)
	if _, ok := doc["schema_errors"].(map[string]any)["flow.module"].(map[string]any)["enum"].(map[string]any)["message"]; !ok {
		t.Errorf("JSON layout = %s", raw)
	}
}

func TestDebugJSONErrorsNameTheFailure(t *testing.T) {
	for _, c := range []struct {
		err           error
		message, want string
	}{
		{fmt.Errorf("%w: unexpected end of JSON input", flow.ErrInvalidJSON), "invalid JSON", "unexpected end of JSON input"},
		{fmt.Errorf("%w: root element is <html>, not <Response>", flow.ErrInvalidXML), "invalid XML", "root element is <html>, not <Response>"},
	} {
		ex := getExchange()
		ex.ErrorKind, ex.Errors, ex.Err = flow.ErrorKindJSON, []error{c.err}, c.err
		recs := exchangeRecords(ex, "n", debugTestNow)
		e := recs[len(recs)-1]
		if e.JSONErrors == nil || e.JSONErrors.Message != c.message || e.JSONErrors.Detail != c.want || e.SchemaErrors != nil {
			t.Errorf("%v: json_errors = %+v", c.err, e.JSONErrors)
		}
	}
}

func TestDebugServiceRecordsServesAndFlushes(t *testing.T) {
	dsn := filepath.Join(t.TempDir(), "data", "pivotua.db")
	s := &Settings{
		Node: "pivotua@test", Store: debugapi.StoreConfig{Driver: "sqlite", Retention: 744 * time.Hour}, StoreDSN: dsn,
		Accounts: map[string]AccountConfig{debugTestAccount: {ID: debugTestAccount, Name: "demo", APIKey: debugTestKey}},
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	d, err := openDebug(context.Background(), s, log, nil)
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	d.Register(mux)
	srv := httptest.NewServer(mux)
	defer srv.Close()

	for i := 0; i < 20; i++ {
		ex := getExchange()
		ex.CallID = fmt.Sprintf("call-%d@10.0.0.1", i)
		d.Record(ex)
	}
	resp, err := http.Post(srv.URL+"/v2/api_auth", "application/json", strings.NewReader(`{"data":{"api_key":"`+debugTestKey+`"}}`))
	if err == nil && resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("POST /v2/api_auth: %d, want 405", resp.StatusCode)
	}
	if resp != nil {
		resp.Body.Close()
	}
	req, _ := http.NewRequest(http.MethodPut, srv.URL+"/v2/api_auth", strings.NewReader(`{"data":{"api_key":"`+debugTestKey+`"}}`))
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var auth struct {
		AuthToken string `json:"auth_token"`
	}
	_ = json.NewDecoder(resp.Body).Decode(&auth)
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated || auth.AuthToken == "" {
		t.Fatalf("api_auth: %d", resp.StatusCode)
	}

	// Records arrive asynchronously: poll the list until all 20 calls show.
	var list struct {
		Data []map[string]any `json:"data"`
		Node string           `json:"node"`
	}
	deadline := time.Now().Add(10 * time.Second)
	for len(list.Data) < 20 {
		if time.Now().After(deadline) {
			t.Fatalf("%d calls listed, want 20", len(list.Data))
		}
		time.Sleep(5 * time.Millisecond)
		req, _ := http.NewRequest(http.MethodGet, srv.URL+"/v2/accounts/"+debugTestAccount+"/pivot/debug", nil)
		req.Header.Set("X-Auth-Token", auth.AuthToken)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		list.Data = nil
		_ = json.NewDecoder(resp.Body).Decode(&list)
		resp.Body.Close()
	}
	if row := list.Data[0]; row["status_code"] != "404" || row["node"] != "pivotua@test" || list.Node != "pivotua@test" {
		t.Errorf("row = %v, node %q", row, list.Node)
	}

	// Records queued right before Close are written by it.
	for i := 20; i < 120; i++ {
		ex := getExchange()
		ex.CallID = fmt.Sprintf("call-%d@10.0.0.1", i)
		d.Record(ex)
	}
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	store, err := debugapi.OpenSQLite(context.Background(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	page, err := store.ListCalls(context.Background(), debugTestAccount, debugapi.ListQuery{Limit: 1000})
	if err != nil || len(page.Calls) != 120 {
		t.Fatalf("%d calls after Close, %v; want 120", len(page.Calls), err)
	}
}

func TestConfigStoreRetention(t *testing.T) {
	cfg := defaultConfig()
	s, errs := cfg.validate("")
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	if s.Store.Retention != 31*24*time.Hour {
		t.Errorf("default retention = %v, want 744h", s.Store.Retention)
	}
	for _, bad := range []string{"31d", "0s", "-1h", ""} {
		cfg := defaultConfig()
		cfg.Store.Retention = bad
		_, errs := cfg.validate("")
		found := false
		for _, err := range errs {
			var ce *ConfigError
			if errors.As(err, &ce) && ce.Path == "store.retention" {
				found = true
			}
		}
		if !found {
			t.Errorf("retention %q: errors %v do not name store.retention", bad, errs)
		}
	}
	cfg.Store.Retention = "168h"
	if s, errs := cfg.validate(""); len(errs) > 0 || s.Store.Retention != 168*time.Hour {
		t.Errorf("168h: %v, %v", s, errs)
	}
	parsed, err := parseConfig([]byte("store:\n  driver: sqlite\n  retention: 72h\n"))
	if err != nil || parsed.Store.Retention != "72h" || parsed.Store.DSN != "data/pivotua.db" {
		t.Errorf("yaml retention: %+v, %v", parsed.Store, err)
	}
}
