package debugapi

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

// Accounts of the tests: 32 lowercase hex, as in Kazoo.
const (
	accountA = "4b31dd1d32ce6d249897c06332375d65"
	accountB = "9f2b6c0e1a7d4e3f8b5a6c7d8e9f0a1b"
	keyA     = "api-key-of-account-a"
	keyB     = "api-key-of-account-b"
)

// baseTime is when the test calls happen: 2026-03-14 15:09:26.535897 UTC.
var baseTime = time.Date(2026, 3, 14, 15, 9, 26, 535897000, time.UTC)

// exchangeRecords builds what one pivot exchange stores: a request and, when status > 0, a response.
func exchangeRecords(account, callID string, iteration int, at time.Time, status int) []Record {
	uri := fmt.Sprintf("http://127.0.0.1:9000/ivr?Call-ID=%s&Iteration=%d", callID, iteration)
	recs := []Record{{
		AccountID: account, CallID: callID, Iteration: iteration, Created: at, Node: "pivotua@test",
		Kind: KindRequest, Method: "get", URI: uri, ReqHeaders: map[string]string{"user-agent": "pivotua/test"},
	}}
	if status > 0 {
		recs = append(recs, Record{
			AccountID: account, CallID: callID, Iteration: iteration, Created: at.Add(12 * time.Millisecond),
			Node: "pivotua@test", Kind: KindResponse, StatusCode: status,
			RespHeaders: map[string]string{"content-type": "application/json"},
			RespBody:    `{"module":"tts","data":{"text":"hi"}}`, Elapsed: 12 * time.Millisecond,
		})
	}
	return recs
}

// withIDs gives every record a unique id, as the Recorder does.
func withIDs(recs []Record) []Record {
	for i := range recs {
		if recs[i].ID == "" {
			idSeq.Lock()
			idSeq.n++
			recs[i].ID = fmt.Sprintf("%032x", idSeq.n)
			idSeq.Unlock()
		}
	}
	return recs
}

var idSeq struct {
	sync.Mutex
	n int
}

// openSQLiteTest opens a store on a fresh file in the test's temp dir.
func openSQLiteTest(t testing.TB) *SQLStore {
	t.Helper()
	s, err := OpenSQLite(context.Background(), filepath.Join(t.TempDir(), "debug.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// errStoreDown is what flakyStore returns while it is "down".
var errStoreDown = errors.New("store down")

// flakyStore fails Append while down() says so, and otherwise passes it to the real store.
type flakyStore struct {
	Store
	mu       sync.Mutex
	down     bool
	attempts int
	block    chan struct{} // when not nil, Append waits for it to close
}

func (f *flakyStore) Append(ctx context.Context, recs []Record) error {
	f.mu.Lock()
	f.attempts++
	down, block := f.down, f.block
	f.mu.Unlock()
	if block != nil {
		select {
		case <-block:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	if down {
		return errStoreDown
	}
	return f.Store.Append(ctx, recs)
}

func (f *flakyStore) setDown(down bool) {
	f.mu.Lock()
	f.down = down
	f.mu.Unlock()
}

func (f *flakyStore) Attempts() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.attempts
}

// allCalls reads every call summary of the account, oldest first.
func allCalls(t *testing.T, s Store, account string) []CallSummary {
	t.Helper()
	var out []CallSummary
	q := ListQuery{Limit: MaxPageSize, Ascending: true}
	for {
		p, err := s.ListCalls(context.Background(), account, q)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, p.Calls...)
		if p.Next == nil {
			return out
		}
		q.Start = p.Next
	}
}
