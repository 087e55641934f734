package httpfetch

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pivotua/pivotua/internal/testkit"
)

// fakeClock is the cache's idea of now; tests move it by hand.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (f *fakeClock) Now() time.Time { f.mu.Lock(); defer f.mu.Unlock(); return f.now }
func (f *fakeClock) Advance(d time.Duration) {
	f.mu.Lock()
	f.now = f.now.Add(d)
	f.mu.Unlock()
}

// countingServer counts requests and the conditional ones among them.
type countingServer struct {
	*httptest.Server
	requests, conditional atomic.Int32
}

// newCountingServer serves handler; the Date header is dropped so that the
// fake clock alone decides ages.
func newCountingServer(t *testing.T, handler http.HandlerFunc) *countingServer {
	t.Helper()
	s := &countingServer{}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.requests.Add(1)
		if r.Header.Get("If-None-Match") != "" || r.Header.Get("If-Modified-Since") != "" {
			s.conditional.Add(1)
		}
		w.Header()["Date"] = nil
		handler(w, r)
	}))
	t.Cleanup(s.Close)
	return s
}

func newClockedClient(opts ...Option) (*Client, *fakeClock) {
	clock := &fakeClock{now: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
	c := NewClient(opts...)
	c.now = clock.Now
	return c, clock
}

func serveWAV(header map[string]string, body string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "audio/wav")
		for k, v := range header {
			w.Header().Set(k, v)
		}
		io.WriteString(w, body)
	}
}

func fetchMediaN(t *testing.T, c *Client, url string, n int) []*Media {
	t.Helper()
	var out []*Media
	for range n {
		m, err := c.FetchMedia(t.Context(), url)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, m)
	}
	return out
}

func TestMediaCacheReuseRules(t *testing.T) {
	tests := []struct {
		name         string
		header       map[string]string
		wantRequests int32
	}{
		{"max-age is reused", map[string]string{"Cache-Control": "public, max-age=60"}, 1},
		{"Expires in the future is reused", map[string]string{"Expires": "Fri, 02 Jan 2026 04:04:05 GMT"}, 1},
		{"max-age beats Expires", map[string]string{"Cache-Control": "max-age=60", "Expires": "0"}, 1},
		{"s-maxage is ignored", map[string]string{"Cache-Control": "s-maxage=60"}, 3},
		{"no-store refetches", map[string]string{"Cache-Control": "no-store, max-age=60"}, 3},
		{"no freshness and no validator refetches", nil, 3},
		{"invalid Expires is stale", map[string]string{"Expires": "0"}, 3},
		{"Vary star is not stored", map[string]string{"Cache-Control": "max-age=60", "Vary": "*"}, 3},
		{"Age uses up max-age", map[string]string{"Cache-Control": "max-age=60", "Age": "60"}, 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := newCountingServer(t, serveWAV(tt.header, "RIFF-audio"))
			c, _ := newClockedClient()
			ms := fetchMediaN(t, c, srv.URL+"/p.wav", 3)
			if got := srv.requests.Load(); got != tt.wantRequests {
				t.Errorf("%d requests, want %d", got, tt.wantRequests)
			}
			for _, m := range ms {
				if string(m.Body) != "RIFF-audio" || m.ContentType != "audio/wav" || m.Version != ms[0].Version || m.URL != srv.URL+"/p.wav" {
					t.Errorf("media = %+v", m)
				}
			}
		})
	}
}

func TestMediaExpiresAfterMaxAge(t *testing.T) {
	srv := newCountingServer(t, serveWAV(map[string]string{"Cache-Control": "max-age=60"}, "a"))
	c, clock := newClockedClient()
	fetchMediaN(t, c, srv.URL, 1)
	clock.Advance(59 * time.Second)
	fetchMediaN(t, c, srv.URL, 1)
	if got := srv.requests.Load(); got != 1 {
		t.Fatalf("%d requests within max-age", got)
	}
	clock.Advance(2 * time.Second)
	fetchMediaN(t, c, srv.URL, 1)
	if got := srv.requests.Load(); got != 2 {
		t.Errorf("%d requests after max-age, want 2", got)
	}
}

func TestMediaETagRevalidationKeepsBodyAndVersion(t *testing.T) {
	var mu sync.Mutex
	etag, body := `"v1"`, "first prompt"
	srv := newCountingServer(t, func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		w.Header().Set("Cache-Control", "no-cache")
		w.Header().Set("ETag", etag)
		if r.Header.Get("If-None-Match") == etag {
			w.WriteHeader(http.StatusNotModified)
			return
		}
		w.Header().Set("Content-Type", "audio/mpeg")
		io.WriteString(w, body)
	})
	c, _ := newClockedClient()
	ms := fetchMediaN(t, c, srv.URL+"/p.mp3", 3)
	if got, cond := srv.requests.Load(), srv.conditional.Load(); got != 3 || cond != 2 {
		t.Errorf("%d requests (%d conditional), want 3 (2)", got, cond)
	}
	for _, m := range ms {
		if string(m.Body) != "first prompt" || m.Version != ms[0].Version || m.ContentType != "audio/mpeg" {
			t.Errorf("after 304: %+v", m)
		}
	}

	mu.Lock()
	etag, body = `"v2"`, "second prompt"
	mu.Unlock()
	m := fetchMediaN(t, c, srv.URL+"/p.mp3", 1)[0]
	if string(m.Body) != "second prompt" || m.Version == ms[0].Version {
		t.Errorf("changed content: %+v (old version %s)", m, ms[0].Version)
	}
}

func TestMediaLastModifiedRevalidationFreshensTheEntry(t *testing.T) {
	const lastModified = "Thu, 01 Jan 2026 00:00:00 GMT"
	srv := newCountingServer(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "max-age=10")
		w.Header().Set("Last-Modified", lastModified)
		if r.Header.Get("If-Modified-Since") == lastModified {
			w.WriteHeader(http.StatusNotModified)
			return
		}
		io.WriteString(w, "prompt")
	})
	c, clock := newClockedClient()
	first := fetchMediaN(t, c, srv.URL, 1)[0]
	clock.Advance(11 * time.Second)
	second := fetchMediaN(t, c, srv.URL, 1)[0] // stale: revalidated, 304
	third := fetchMediaN(t, c, srv.URL, 1)[0]  // fresh again from the 304's max-age
	if got, cond := srv.requests.Load(), srv.conditional.Load(); got != 2 || cond != 1 {
		t.Errorf("%d requests (%d conditional), want 2 (1)", got, cond)
	}
	if second.Version != first.Version || third.Version != first.Version || string(third.Body) != "prompt" {
		t.Errorf("versions %s %s %s", first.Version, second.Version, third.Version)
	}
}

func TestConcurrentMediaFetchesShareOneRequest(t *testing.T) {
	release := make(chan struct{})
	srv := newCountingServer(t, func(w http.ResponseWriter, r *http.Request) {
		<-release
		serveWAV(nil, "shared")(w, r) // not cacheable: only sharing saves requests
	})
	c, _ := newClockedClient()

	const callers = 8
	var done sync.WaitGroup
	errs := make(chan error, callers)
	leaderCtx, cancelLeader := context.WithCancel(t.Context())
	for i := range callers {
		done.Add(1)
		go func() {
			defer done.Done()
			ctx := t.Context()
			if i == 0 {
				ctx = leaderCtx
			}
			m, err := c.FetchMedia(ctx, srv.URL)
			if i == 0 {
				if !errors.Is(err, context.Canceled) {
					errs <- errors.New("the cancelled caller did not return context.Canceled: " + errString(err))
				}
				return
			}
			if err != nil || string(m.Body) != "shared" {
				errs <- errors.New("waiter: " + errString(err))
			}
		}()
	}
	testkit.WaitFor(t, 5*time.Second, "the condition", func() bool {
		c.media.mu.Lock()
		defer c.media.mu.Unlock()
		f := c.media.flights[srv.URL]
		return f != nil && f.callers == callers
	})
	cancelLeader() // the others keep waiting for the shared request
	time.Sleep(10 * time.Millisecond)
	close(release)
	done.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if got := srv.requests.Load(); got != 1 {
		t.Errorf("%d requests, want 1", got)
	}
}

func errString(err error) string {
	if err == nil {
		return "<nil>"
	}
	return err.Error()
}

func TestMediaCacheEvictsLeastRecentlyUsed(t *testing.T) {
	var paths sync.Map
	srv := newCountingServer(t, func(w http.ResponseWriter, r *http.Request) {
		n, _ := paths.LoadOrStore(r.URL.Path, new(atomic.Int32))
		n.(*atomic.Int32).Add(1)
		serveWAV(map[string]string{"Cache-Control": "max-age=600"}, strings.Repeat("x", 100))(w, r)
	})
	// Room for two entries (body plus URL each).
	c, _ := newClockedClient(WithMediaCacheBytes(2 * int64(100+len(srv.URL)+2)))
	for _, p := range []string{"/a", "/b", "/a", "/c", "/a", "/b"} {
		fetchMediaN(t, c, srv.URL+p, 1)
	}
	want := map[string]int32{"/a": 1, "/b": 2, "/c": 1} // /c pushed out /b, the coldest
	for p, w := range want {
		n, _ := paths.Load(p)
		if got := n.(*atomic.Int32).Load(); got != w {
			t.Errorf("%s fetched %d times, want %d", p, got, w)
		}
	}
	c.media.mu.Lock()
	defer c.media.mu.Unlock()
	if c.media.usedBytes > c.media.maxBytes || len(c.media.entries) != c.media.lru.Len() {
		t.Errorf("cache accounting: %d/%d bytes, %d entries, %d in LRU", c.media.usedBytes, c.media.maxBytes, len(c.media.entries), c.media.lru.Len())
	}
}

func TestFetchMediaErrors(t *testing.T) {
	srv := newCountingServer(t, func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/missing":
			http.NotFound(w, r)
		default:
			io.WriteString(w, strings.Repeat("x", 2048))
		}
	})
	c, _ := newClockedClient(WithMaxMediaBytes(1024))
	for _, tt := range []struct {
		url  string
		want error
	}{
		{srv.URL + "/missing", ErrStatus},
		{srv.URL + "/big", ErrTooLarge},
		{"file:///etc/passwd", ErrBadURL},
		{"prompt.wav", ErrBadURL},
	} {
		m, err := c.FetchMedia(t.Context(), tt.url)
		if !errors.Is(err, tt.want) || m != nil {
			t.Errorf("%s: %v, %v; want %v", tt.url, m, err, tt.want)
		}
	}
}

func TestFetchMediaTimeout(t *testing.T) {
	release := make(chan struct{})
	srv := newCountingServer(t, func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	})
	t.Cleanup(func() { close(release) })
	c, _ := newClockedClient(WithMediaTimeout(100 * time.Millisecond))
	if _, err := c.FetchMedia(t.Context(), srv.URL); !errors.Is(err, ErrTimeout) {
		t.Fatalf("err = %v, want ErrTimeout", err)
	}
}

func TestCachePolicyFreshness(t *testing.T) {
	resp := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	req := resp.Add(-time.Second)
	date := resp.Add(-2 * time.Second).Format(http.TimeFormat)
	tests := []struct {
		name   string
		header http.Header
		want   time.Time // zero: never fresh
	}{
		{"max-age minus the request's own delay", http.Header{"Cache-Control": {"max-age=60"}}, resp.Add(59 * time.Second)},
		{"apparent age from Date", http.Header{"Cache-Control": {"max-age=60"}, "Date": {date}}, resp.Add(58 * time.Second)},
		{"Expires relative to Date", http.Header{"Expires": {resp.Add(28 * time.Second).Format(http.TimeFormat)}, "Date": {date}}, resp.Add(28 * time.Second)},
		{"first max-age wins, quoted allowed", http.Header{"Cache-Control": {`max-age="30"`, "max-age=90"}}, resp.Add(29 * time.Second)},
		{"negative max-age is stale", http.Header{"Cache-Control": {"max-age=-5"}}, time.Time{}},
		{"no lifetime", http.Header{"ETag": {`"x"`}}, time.Time{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := newCachePolicy(tt.header, req, resp).freshUntil; !got.Equal(tt.want) {
				t.Errorf("freshUntil = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestMediaDownloadStopsWhenNoCallerWaits(t *testing.T) {
	arrived, gone := make(chan struct{}), make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(arrived)
		<-r.Context().Done() // never answers: only pivotua hanging up ends it
		close(gone)
	}))
	defer srv.Close()
	c := NewClient(WithMediaTimeout(time.Minute))
	ctx, hangUp := context.WithCancel(t.Context())
	errs := make(chan error, 1)
	go func() {
		_, err := c.FetchMedia(ctx, srv.URL+"/hold.wav")
		errs <- err
	}()
	<-arrived
	hangUp()
	if err := <-errs; !errors.Is(err, context.Canceled) {
		t.Fatalf("the caller that gave up got %v", err)
	}
	select {
	case <-gone:
	case <-time.After(10 * time.Second): // a bound on the wait, not a timing assertion
		t.Fatal("the download went on 10 s after its only caller gave up")
	}
}
