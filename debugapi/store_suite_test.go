package debugapi

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/url"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"
)

// storeBackend is one implementation under the shared suite: newDSN gives a fresh, empty database.
type storeBackend struct {
	newDSN func(t *testing.T) string
	open   func(ctx context.Context, dsn string) (*SQLStore, error)
}

func (b storeBackend) fresh(t *testing.T) (*SQLStore, string) {
	t.Helper()
	dsn := b.newDSN(t)
	s, err := b.open(context.Background(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s, dsn
}

// runStoreSuite is every store behaviour, run against SQLite and PostgreSQL alike.
func runStoreSuite(t *testing.T, b storeBackend) {
	ctx := context.Background()

	t.Run("MigrationsApplyOnceAndReopen", func(t *testing.T) {
		s, dsn := b.fresh(t)
		if err := s.Append(ctx, withIDs(exchangeRecords(accountA, "kept", 1, baseTime, 200))); err != nil {
			t.Fatal(err)
		}
		s.Close()
		for i := 0; i < 2; i++ {
			again, err := b.open(ctx, dsn)
			if err != nil {
				t.Fatalf("reopen %d: %v", i, err)
			}
			v, err := again.SchemaVersion(ctx)
			if err != nil || v != len(again.dialect.migrations) {
				t.Fatalf("schema version = %d, %v; want %d", v, err, len(again.dialect.migrations))
			}
			var rows int
			if err := again.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM schema_migrations`).Scan(&rows); err != nil || rows != v {
				t.Fatalf("schema_migrations rows = %d, %v; want %d", rows, err, v)
			}
			recs, err := again.CallRecords(ctx, accountA, "kept")
			if err != nil || len(recs) != 2 {
				t.Fatalf("records after reopen = %d, %v", len(recs), err)
			}
			again.Close()
		}
	})

	t.Run("ConcurrentOpensMigrateOnce", func(t *testing.T) {
		dsn := b.newDSN(t)
		var wg sync.WaitGroup
		errs := make([]error, 3)
		for i := range errs {
			wg.Add(1)
			go func() {
				defer wg.Done()
				s, err := b.open(ctx, dsn)
				if err == nil {
					s.Close()
				}
				errs[i] = err
			}()
		}
		wg.Wait()
		for i, err := range errs {
			if err != nil {
				t.Errorf("open %d: %v", i, err)
			}
		}
	})

	t.Run("CallRecordsInOrderWithEveryField", func(t *testing.T) {
		s, _ := b.fresh(t)
		call := "829597750@10.26.0.158"
		it1 := withIDs(exchangeRecords(accountA, call, 1, baseTime, 200))
		it2 := withIDs(exchangeRecords(accountA, call, 2, baseTime.Add(time.Second), 200))
		errRec := Record{
			AccountID: accountA, CallID: call, Iteration: 2, Created: baseTime.Add(time.Second + 12*time.Millisecond),
			Node: "pivotua@test", Kind: KindError, URI: it2[0].URI, RespBody: `{"module":"nope"}`,
			SchemaErrors: SchemaErrors{"flow.module": {"enum": {Message: `unknown module "nope"`}}},
		}
		errRec = withIDs([]Record{errRec})[0]
		// Stored out of order, in three batches: the read order does not depend on arrival.
		for _, batch := range [][]Record{{errRec, it2[1]}, {it2[0]}, it1} {
			if err := s.Append(ctx, batch); err != nil {
				t.Fatal(err)
			}
		}
		got, err := s.CallRecords(ctx, accountA, call)
		if err != nil {
			t.Fatal(err)
		}
		want := []Record{it1[0], it1[1], it2[0], it2[1], errRec}
		if len(got) != len(want) {
			t.Fatalf("got %d records, want %d", len(got), len(want))
		}
		for i := range want {
			if !reflect.DeepEqual(got[i], want[i]) {
				t.Errorf("record %d:\n got %+v\nwant %+v", i, got[i], want[i])
			}
		}
	})

	t.Run("EventsKeepTheirDataAndLeaveTheSummaryAlone", func(t *testing.T) {
		s, _ := b.fresh(t)
		call := "events@10.0.0.1"
		recs := withIDs(exchangeRecords(accountA, call, 2, baseTime, 200))
		events := withIDs([]Record{{
			AccountID: accountA, CallID: call, Iteration: 2, Created: baseTime.Add(time.Second), Node: "pivotua@test",
			Kind: KindEvent, Event: "digits",
			EventData: map[string]any{"digits": "4271", "verb": "Gather", "nested": map[string]any{"n": 2.5}},
		}, {
			// An event of an earlier iteration, earlier than the request: no summary field may move.
			AccountID: accountA, CallID: call, Iteration: 1, Created: baseTime.Add(-time.Second), Node: "pivotua@other",
			Kind: KindEvent, Event: "answered",
		}, {
			AccountID: accountA, CallID: call, Iteration: 2, Created: baseTime.Add(time.Hour), Node: "pivotua@test",
			Kind: KindEvent, Event: "hangup", EventData: map[string]any{"by": "caller", "code": 200.0},
		}})
		if err := s.Append(ctx, append(recs, events...)); err != nil {
			t.Fatal(err)
		}
		got, err := s.CallRecords(ctx, accountA, call)
		if err != nil {
			t.Fatal(err)
		}
		want := []Record{events[1], recs[0], recs[1], events[0], events[2]}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("records:\n got %+v\nwant %+v", got, want)
		}
		calls := allCalls(t, s, accountA)
		if len(calls) != 1 || calls[0].Iteration != 2 || !calls[0].Created.Equal(baseTime) || calls[0].StatusCode != 200 ||
			calls[0].URI != recs[0].URI || calls[0].Node != "pivotua@test" {
			t.Fatalf("summary moved: %+v", calls)
		}
		// The hangup, an hour later, keeps the call from being purged with its old records.
		if _, err := s.Purge(ctx, baseTime.Add(time.Minute)); err != nil {
			t.Fatal(err)
		}
		if calls := allCalls(t, s, accountA); len(calls) != 1 {
			t.Fatalf("calls after purge: %+v", calls)
		}
		if got, _ := s.CallRecords(ctx, accountA, call); len(got) != 1 || got[0].Event != "hangup" {
			t.Fatalf("records after purge: %+v", got)
		}
	})

	t.Run("AppendIsIdempotentByID", func(t *testing.T) {
		s, _ := b.fresh(t)
		recs := withIDs(exchangeRecords(accountA, "retried", 1, baseTime, 503))
		for i := 0; i < 3; i++ {
			if err := s.Append(ctx, recs); err != nil {
				t.Fatal(err)
			}
		}
		got, _ := s.CallRecords(ctx, accountA, "retried")
		if len(got) != 2 {
			t.Fatalf("%d records after 3 appends of the same 2", len(got))
		}
		calls := allCalls(t, s, accountA)
		if len(calls) != 1 || calls[0].StatusCode != 503 {
			t.Fatalf("calls = %+v", calls)
		}
	})

	t.Run("AppendRefusesRecordsWithoutKeys", func(t *testing.T) {
		s, _ := b.fresh(t)
		err := s.Append(ctx, []Record{{AccountID: accountA, CallID: "x"}})
		if err == nil {
			t.Fatal("a record without id was stored")
		}
	})

	t.Run("ListShowsFirstIterationPerCall", func(t *testing.T) {
		s, _ := b.fresh(t)
		var recs []Record
		recs = append(recs, exchangeRecords(accountA, "ok", 1, baseTime, 200)...)
		recs = append(recs, exchangeRecords(accountA, "ok", 2, baseTime.Add(2*time.Second), 404)...)
		recs = append(recs, exchangeRecords(accountA, "notfound", 1, baseTime.Add(time.Minute), 404)...)
		timeout := exchangeRecords(accountA, "timeout", 1, baseTime.Add(2*time.Minute), 0)
		timeout[0].FetchError = "context deadline exceeded"
		recs = append(recs, timeout...)
		// debug off: only the error record of iteration 3 exists.
		recs = append(recs, Record{AccountID: accountA, CallID: "badjson", Iteration: 3, Created: baseTime.Add(3 * time.Minute),
			Node: "pivotua@other", Kind: KindError, URI: "http://x/bad", RespBody: "{", JSONErrors: &JSONErrors{Message: "invalid JSON"}})
		if err := s.Append(ctx, withIDs(recs)); err != nil {
			t.Fatal(err)
		}
		// A late record of an earlier iteration still makes it the call's first.
		p, err := s.ListCalls(ctx, accountA, ListQuery{})
		if err != nil {
			t.Fatal(err)
		}
		var ids []string
		for _, c := range p.Calls {
			ids = append(ids, c.CallID)
		}
		if want := []string{"badjson", "timeout", "notfound", "ok"}; !reflect.DeepEqual(ids, want) {
			t.Fatalf("order = %v, want %v (newest first)", ids, want)
		}
		byID := map[string]CallSummary{}
		for _, c := range p.Calls {
			byID[c.CallID] = c
		}
		ok := byID["ok"]
		if ok.Iteration != 1 || ok.StatusCode != 200 || ok.URI != exchangeRecords(accountA, "ok", 1, baseTime, 200)[0].URI ||
			!ok.Created.Equal(baseTime) || ok.HasJSONErrors || ok.HasSchemaErrors || ok.Node != "pivotua@test" {
			t.Errorf("ok = %+v", ok)
		}
		if byID["timeout"].StatusCode != 0 {
			t.Errorf("timeout status = %d, want 0 (no response)", byID["timeout"].StatusCode)
		}
		bad := byID["badjson"]
		if !bad.HasJSONErrors || bad.HasSchemaErrors || bad.Iteration != 3 || bad.URI != "http://x/bad" || bad.Node != "pivotua@other" {
			t.Errorf("badjson = %+v", bad)
		}
		// A failed fetch of any iteration flags the call: a 404, no answer at all, or a later
		// iteration's failure under a first iteration that went well.
		for id, want := range map[string]bool{"ok": true, "notfound": true, "timeout": true, "badjson": false} {
			if got := byID[id].HasFetchErrors; got != want {
				t.Errorf("%s: HasFetchErrors = %v, want %v", id, got, want)
			}
		}
		if p.Next != nil {
			t.Errorf("next = %+v on the only page", p.Next)
		}
	})

	t.Run("PagingReturnsEachCallOnce", func(t *testing.T) {
		s, _ := b.fresh(t)
		const calls = 250
		var recs []Record
		for i := 0; i < calls; i++ {
			// Groups of 25 calls share one created second, and the first 10 of each share the microsecond.
			at := baseTime.Add(time.Duration(i/25) * time.Second)
			if i%25 >= 10 {
				at = at.Add(time.Duration(i%25) * time.Millisecond)
			}
			recs = append(recs, exchangeRecords(accountA, fmt.Sprintf("call-%03d@host", i), 1, at, 200)...)
		}
		if err := s.Append(ctx, withIDs(recs)); err != nil {
			t.Fatal(err)
		}
		for _, asc := range []bool{false, true} {
			for _, size := range []int{1, 7, 50, 250, 1000} {
				seen := map[string]int{}
				var prev *CallSummary
				q := ListQuery{Limit: size, Ascending: asc}
				pages := 0
				for {
					p, err := s.ListCalls(ctx, accountA, q)
					if err != nil {
						t.Fatal(err)
					}
					pages++
					if len(p.Calls) > size {
						t.Fatalf("page of %d rows for limit %d", len(p.Calls), size)
					}
					for i := range p.Calls {
						c := p.Calls[i]
						seen[c.CallID]++
						if prev != nil {
							after := c.Created.After(prev.Created) || (c.Created.Equal(prev.Created) && c.CallID > prev.CallID)
							if after != asc {
								t.Fatalf("asc=%v: %s (%v) after %s (%v)", asc, c.CallID, c.Created, prev.CallID, prev.Created)
							}
						}
						prev = &c
					}
					if p.Next == nil {
						break
					}
					q.Start = p.Next
				}
				if len(seen) != calls {
					t.Fatalf("asc=%v size=%d: saw %d calls, want %d", asc, size, len(seen), calls)
				}
				for id, n := range seen {
					if n != 1 {
						t.Fatalf("asc=%v size=%d: %s seen %d times", asc, size, id, n)
					}
				}
				if want := (calls + size - 1) / size; pages != want {
					t.Errorf("asc=%v size=%d: %d pages, want %d", asc, size, pages, want)
				}
			}
		}
	})

	t.Run("CreatedRangeIsInclusive", func(t *testing.T) {
		s, _ := b.fresh(t)
		var recs []Record
		for i := 0; i < 5; i++ {
			recs = append(recs, exchangeRecords(accountA, fmt.Sprintf("min-%d", i), 1, baseTime.Add(time.Duration(i)*time.Minute), 200)...)
		}
		if err := s.Append(ctx, withIDs(recs)); err != nil {
			t.Fatal(err)
		}
		from := baseTime.Add(time.Minute).Truncate(time.Second)
		to := baseTime.Add(3 * time.Minute).Truncate(time.Second).Add(time.Second - time.Microsecond)
		p, err := s.ListCalls(ctx, accountA, ListQuery{From: from, To: to})
		if err != nil {
			t.Fatal(err)
		}
		var ids []string
		for _, c := range p.Calls {
			ids = append(ids, c.CallID)
		}
		if want := []string{"min-3", "min-2", "min-1"}; !reflect.DeepEqual(ids, want) {
			t.Fatalf("range = %v, want %v", ids, want)
		}
	})

	t.Run("AccountsAreIsolated", func(t *testing.T) {
		s, _ := b.fresh(t)
		recs := append(exchangeRecords(accountA, "shared-id", 1, baseTime, 200), exchangeRecords(accountB, "shared-id", 1, baseTime, 500)...)
		recs = append(recs, exchangeRecords(accountB, "b-only", 1, baseTime, 200)...)
		if err := s.Append(ctx, withIDs(recs)); err != nil {
			t.Fatal(err)
		}
		a := allCalls(t, s, accountA)
		if len(a) != 1 || a[0].CallID != "shared-id" || a[0].StatusCode != 200 {
			t.Fatalf("account A sees %+v", a)
		}
		if got, _ := s.CallRecords(ctx, accountA, "b-only"); len(got) != 0 {
			t.Fatalf("account A reads B's call: %+v", got)
		}
		got, _ := s.CallRecords(ctx, accountA, "shared-id")
		for _, r := range got {
			if r.AccountID != accountA || (r.Kind == KindResponse && r.StatusCode != 200) {
				t.Fatalf("account A got B's record %+v", r)
			}
		}
	})

	t.Run("PurgeDropsOldRecordsAndCalls", func(t *testing.T) {
		s, _ := b.fresh(t)
		old := baseTime.Add(-40 * 24 * time.Hour)
		recs := exchangeRecords(accountA, "old", 1, old, 200)
		recs = append(recs, exchangeRecords(accountA, "new", 1, baseTime, 200)...)
		// A call that spans the cutoff keeps its newer records and its row.
		recs = append(recs, exchangeRecords(accountA, "spans", 1, old, 200)...)
		recs = append(recs, exchangeRecords(accountA, "spans", 2, baseTime, 200)...)
		if err := s.Append(ctx, withIDs(recs)); err != nil {
			t.Fatal(err)
		}
		n, err := s.Purge(ctx, baseTime.Add(-31*24*time.Hour))
		if err != nil || n != 4 {
			t.Fatalf("purged %d, %v; want 4", n, err)
		}
		var ids []string
		for _, c := range allCalls(t, s, accountA) {
			ids = append(ids, c.CallID)
		}
		if want := []string{"spans", "new"}; !reflect.DeepEqual(ids, want) {
			t.Fatalf("calls after purge = %v, want %v", ids, want)
		}
		if got, _ := s.CallRecords(ctx, accountA, "spans"); len(got) != 2 || got[0].Iteration != 2 {
			t.Fatalf("spans after purge = %+v", got)
		}
		if n, err := s.Purge(ctx, baseTime.Add(-31*24*time.Hour)); err != nil || n != 0 {
			t.Fatalf("second purge = %d, %v", n, err)
		}
	})

	t.Run("HostileFieldsStoreAndReadBack", func(t *testing.T) {
		s, _ := b.fresh(t)
		testHostileFields(t, s)
	})

	t.Run("ConcurrentAppendsAndReads", func(t *testing.T) {
		s, _ := b.fresh(t)
		var wg sync.WaitGroup
		for w := 0; w < 4; w++ {
			wg.Add(2)
			go func() {
				defer wg.Done()
				for i := 0; i < 20; i++ {
					recs := withIDs(exchangeRecords(accountA, fmt.Sprintf("w%d-%d", w, i), 1, baseTime.Add(time.Duration(i)*time.Second), 200))
					if err := s.Append(ctx, recs); err != nil {
						t.Error(err)
						return
					}
				}
			}()
			go func() {
				defer wg.Done()
				for i := 0; i < 20; i++ {
					if _, err := s.ListCalls(ctx, accountA, ListQuery{Limit: 10}); err != nil {
						t.Error(err)
						return
					}
				}
			}()
		}
		wg.Wait()
		if n := len(allCalls(t, s, accountA)); n != 80 {
			t.Fatalf("%d calls, want 80", n)
		}
	})
}

// hostileValues are what a caller (Call-ID, headers, URI) or a webhook (headers, bodies) may send in
// any field: a NUL, invalid UTF-8, a lone surrogate as bytes (CESU-8), an overlong encoding, a cut
// multi-byte sequence, control characters, and text that already looks like the store's escape.
var hostileValues = []string{
	"nul\x00inside@10.0.0.1",
	"\xff\xfe\xfd@invalid-utf8",
	"surrogate-\xed\xa0\x80-alone@h",
	"overlong-\xc0\xaf@h",
	"ctl-\x01\x1b[31m\x7f\r\n\t@h",
	`already\x00escaped@h`,
	"mixed-\u00e9-\x00-\xe2\x82-\u20ac@h",
	"\x00",
}

// binaryBody is what a webhook answering with a WAV or a gzip sends: every byte value, then noise.
func binaryBody(n int) string {
	b := make([]byte, 0, n+256)
	for i := 0; i < 256; i++ {
		b = append(b, byte(i))
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for len(b) < n+256 {
		b = append(b, byte(rng.Uint32()))
	}
	return string(b)
}

// hostileCall is one call's records with callID (and the other hostile values) in every field that
// comes from the wire or a webhook.
func hostileCall(callID string, at time.Time, body string) []Record {
	headers := map[string]string{"user-agent": "pivotua/test", "x-" + callID: callID, "x-bin": body[:64]}
	for i, v := range hostileValues {
		headers[fmt.Sprintf("x-h%d", i)] = v
	}
	return []Record{{
		AccountID: accountA, CallID: callID, Iteration: 1, Created: at, Node: "pivotua@test", Kind: KindRequest,
		Method: "post", URI: "http://127.0.0.1:9000/ivr?Call-ID=" + callID, ReqHeaders: headers,
		ReqBody: "Call-ID=" + callID + "&From=" + hostileValues[1],
	}, {
		AccountID: accountA, CallID: callID, Iteration: 1, Created: at.Add(time.Millisecond), Node: "pivotua@test",
		Kind: KindResponse, StatusCode: 200, RespHeaders: headers, RespBody: body, Elapsed: time.Millisecond,
	}, {
		AccountID: accountA, CallID: callID, Iteration: 1, Created: at.Add(2 * time.Millisecond), Node: "pivotua@test",
		Kind: KindError, URI: "http://127.0.0.1:9000/ivr?x=" + callID, RespBody: body,
		JSONErrors: &JSONErrors{Message: "invalid JSON", Before: body[:40], After: callID, Detail: callID},
	}, {
		AccountID: accountA, CallID: callID, Iteration: 1, Created: at.Add(3 * time.Millisecond), Node: "pivotua@test",
		Kind: KindEvent, Event: "digits",
		EventData: map[string]any{"digits": callID, "nested": map[string]any{callID: callID}, "list": []any{callID, 1.5}},
	}}
}

// storable says whether s can be kept in a PostgreSQL TEXT column and served as JSON unchanged:
// valid UTF-8 without NUL.
func storable(s string) bool { return utf8.ValidString(s) && strings.IndexByte(s, 0) < 0 }

// checkStorable fails t for every text of rec that is not storable.
func checkStorable(t *testing.T, rec Record) {
	t.Helper()
	var walk func(where string, v any)
	walk = func(where string, v any) {
		switch v := v.(type) {
		case string:
			if !storable(v) {
				t.Errorf("record %s: %.60s = %.60q is not valid UTF-8 without NUL", rec.ID, where, v)
			}
		case map[string]string:
			for k, x := range v {
				walk(where+" key", k)
				walk(where+"["+k+"]", x)
			}
		case map[string]any:
			for k, x := range v {
				walk(where+" key", k)
				walk(where+"["+k+"]", x)
			}
		case []any:
			for i, x := range v {
				walk(fmt.Sprintf("%s[%d]", where, i), x)
			}
		}
	}
	walk("call_id", rec.CallID)
	walk("uri", rec.URI)
	walk("method", rec.Method)
	walk("req_headers", rec.ReqHeaders)
	walk("req_body", rec.ReqBody)
	walk("fetch_error", rec.FetchError)
	walk("resp_headers", rec.RespHeaders)
	walk("resp_body", rec.RespBody)
	walk("event_data", rec.EventData)
	if rec.JSONErrors != nil {
		walk("json_errors.before", rec.JSONErrors.Before)
		walk("json_errors.after", rec.JSONErrors.After)
		walk("json_errors.detail", rec.JSONErrors.Detail)
	}
}

// testHostileFields stores calls whose every wire field is hostile, and reads them back through the
// store and the HTTP API, by the call id as the caller sent it and as the API shows it.
func testHostileFields(t *testing.T, s *SQLStore) {
	ctx := context.Background()
	body := binaryBody(8 << 10)
	ids := append([]string{}, hostileValues...)
	// A Call-ID as long as a SIP message allows, of bytes that are not UTF-8: longer than an index entry may be.
	ids = append(ids, "long-"+strings.Repeat("\xff", 60<<10))
	var recs []Record
	for i, id := range ids {
		recs = append(recs, hostileCall(id, baseTime.Add(time.Duration(i)*time.Second), body)...)
	}
	// A 1 MiB binary body (the document cap) in a call of its own.
	bigBody := binaryBody(1 << 20)
	recs = append(recs, hostileCall("big-body@h", baseTime.Add(time.Minute), bigBody)...)
	ids = append(ids, "big-body@h")
	bodyOf := func(id string) string {
		if id == "big-body@h" {
			return bigBody
		}
		return body
	}
	if err := s.Append(ctx, withIDs(recs)); err != nil {
		t.Fatalf("append: %v", err)
	}
	f := apiFixtureOn(t, s)
	token := f.token(t, keyA)
	served := map[string]string{} // raw call id -> the call_id the store and the API show
	for _, id := range ids {
		got, err := s.CallRecords(ctx, accountA, id)
		if err != nil || len(got) != 4 {
			t.Fatalf("call %.60q: %d records, %v; want 4", id, len(got), err)
		}
		key := got[0].CallID
		served[id] = key
		if key != StoredCallID(id) {
			t.Errorf("call %.60q stored as %.60q, want StoredCallID's %.60q", id, key, StoredCallID(id))
		}
		for _, rec := range got {
			checkStorable(t, rec)
			if rec.CallID != key {
				t.Errorf("call %.60q: records under %.60q and %.60q", id, key, rec.CallID)
			}
		}
		// Every field reads back as the one documented escape of what was sent.
		sent := hostileCall(id, baseTime, bodyOf(id))
		req, resp, jerr, ev := got[0], got[1], got[2], got[3]
		if req.URI != StoredText(sent[0].URI) || req.ReqBody != StoredText(sent[0].ReqBody) ||
			!reflect.DeepEqual(req.ReqHeaders, storedHeaders(sent[0].ReqHeaders)) ||
			resp.RespBody != StoredText(bodyOf(id)) || !reflect.DeepEqual(resp.RespHeaders, storedHeaders(sent[1].RespHeaders)) ||
			!reflect.DeepEqual(jerr.JSONErrors, storedRecord(sent[2]).JSONErrors) ||
			!reflect.DeepEqual(ev.EventData, storedValue(sent[3].EventData)) {
			t.Errorf("call %.60q: a field did not read back as StoredText of what was sent", id)
		}
		if len(key) > maxCallIDLen {
			t.Errorf("call %.60q: stored call_id is %d bytes, over the API's %d", id, len(key), maxCallIDLen)
		}
		// The same key every time: by the shown call_id, and for a record appended later.
		again, err := s.CallRecords(ctx, accountA, key)
		if err != nil || !reflect.DeepEqual(again, got) {
			t.Fatalf("call %.60q by its stored key %.60q: %d records, %v", id, key, len(again), err)
		}
		// Through the API: by the call_id it shows (URL-encoded), and by the bytes the caller sent.
		for _, path := range []string{url.PathEscape(key), url.PathEscape(id)} {
			r := f.do(t, http.MethodGet, "/v2/accounts/"+accountA+"/pivot/debug/"+path, token, "")
			docs, _ := r.body["data"].([]any)
			if r.code != http.StatusOK || len(docs) != 3 {
				t.Fatalf("GET detail %.80s: HTTP %d, %d documents; want 200 and 3", path, r.code, len(docs))
			}
			for _, d := range docs {
				if got := d.(map[string]any)["call_id"]; got != key {
					t.Errorf("GET detail %.80s: call_id %.60q, want %.60q", path, got, key)
				}
			}
		}
	}
	later := withIDs(exchangeRecords(accountA, ids[0], 2, baseTime.Add(time.Hour), 200))
	if err := s.Append(ctx, later); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.CallRecords(ctx, accountA, served[ids[0]]); len(got) != 6 {
		t.Errorf("the same Call-ID appended again: %d records under its key, want 6", len(got))
	}
	// Distinct Call-IDs stay distinct calls, listed under the keys the detail shows.
	calls := allCalls(t, s, accountA)
	if len(calls) != len(ids) {
		t.Errorf("%d calls listed, want %d", len(calls), len(ids))
	}
	listed := map[string]bool{}
	for _, c := range calls {
		listed[c.CallID] = true
		if !storable(c.CallID) || !storable(c.URI) {
			t.Errorf("listed call %.60q (uri %.60q) is not storable text", c.CallID, c.URI)
		}
	}
	for id, key := range served {
		if !listed[key] {
			t.Errorf("call %.60q: its key %.60q is not listed", id, key)
		}
	}
	// A start key may carry any bytes: the list answers, it does not fail.
	r := f.do(t, http.MethodGet, "/v2/accounts/"+accountA+"/pivot/debug?start_key="+
		EncodeStartKey(Cursor{Created: baseTime, CallID: "\x00\xff"}), token, "")
	if r.code != http.StatusOK {
		t.Errorf("a start key with a NUL and invalid UTF-8: HTTP %d %v", r.code, r.body)
	}
	if bytes.Contains([]byte(body), []byte{0}) == false {
		t.Fatal("the binary body lost its NUL before the test")
	}
}
