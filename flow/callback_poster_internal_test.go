package flow

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"

	"github.com/pivotua/pivotua/httpfetch"
)

// scriptedFetcher answers each request with the next status of its script for that URL (0: no
// response, as when the application is down), 200 once the script is used up.
type scriptedFetcher struct {
	mu     sync.Mutex
	script map[string][]int
	got    []string // URLs in the order requested
}

func (f *scriptedFetcher) FetchDocument(_ context.Context, r httpfetch.PivotRequest) (*httpfetch.Document, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.got = append(f.got, r.URL)
	status := 200
	if s := f.script[r.URL]; len(s) > 0 {
		status, f.script[r.URL] = s[0], s[1:]
	}
	switch {
	case status == 0:
		return &httpfetch.Document{}, fmt.Errorf("%w: connection refused", httpfetch.ErrConnect)
	case status >= 300:
		return &httpfetch.Document{Status: status}, fmt.Errorf("%w: %d", httpfetch.ErrStatus, status)
	}
	return &httpfetch.Document{Status: status}, nil
}

// TestCallbackPosterRetriesInOrder: a callback the application does not take (down, then 503) is
// tried again before the next goes out; a 404 is not retried; each failure leaves a debug record.
func TestCallbackPosterRetriesInOrder(t *testing.T) {
	f := &scriptedFetcher{script: map[string][]int{"http://app/1": {0, 503}, "http://app/2": {404}}}
	var mu sync.Mutex
	var records []string
	p := newCallbackPoster(callbackPosterConfig{
		fetch: f, what: "test callback", retries: 3, backoff: 1,
		debug: func(ex Exchange) {
			mu.Lock()
			defer mu.Unlock()
			records = append(records, fmt.Sprintf("%s %d %v", ex.URL, ex.Status, ex.Err != nil))
		},
	})
	for _, u := range []string{"http://app/1", "http://app/2", "http://app/3"} {
		p.post(callbackPost{event: u, req: httpfetch.PivotRequest{URL: u, Method: "POST"}})
	}
	p.close()
	p.wait()
	want := []string{"http://app/1", "http://app/1", "http://app/1", "http://app/2", "http://app/3"}
	if !slices.Equal(f.got, want) {
		t.Errorf("requests %q, want %q", f.got, want)
	}
	wantRecords := []string{"http://app/1 0 true", "http://app/1 503 true", "http://app/2 404 true"}
	if !slices.Equal(records, wantRecords) {
		t.Errorf("debug records %q, want the failures only (keep is off): %q", records, wantRecords)
	}
}

// TestCallbackPosterGivesUpAfterRetries: a target that never answers costs 1 + retries attempts.
func TestCallbackPosterGivesUpAfterRetries(t *testing.T) {
	f := &scriptedFetcher{script: map[string][]int{"http://app/down": {0, 0, 0, 0, 0, 0}}}
	p := newCallbackPoster(callbackPosterConfig{fetch: f, what: "test callback", retries: 2, backoff: 1})
	p.post(callbackPost{req: httpfetch.PivotRequest{URL: "http://app/down"}})
	p.close()
	p.wait()
	if len(f.got) != 3 {
		t.Errorf("%d attempts, want 3", len(f.got))
	}
}
