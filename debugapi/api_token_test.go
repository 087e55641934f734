package debugapi

import (
	"context"
	"encoding/json"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeClock is a settable Now for the API.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// clientFrom is an HTTP client whose connections come from the loopback address src.
func clientFrom(src string) *http.Client {
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}}
	return &http.Client{Transport: &http.Transport{DialContext: d.DialContext}}
}

type authAnswer struct {
	code       int
	retryAfter string
	env        map[string]any
}

func putAPIAuth(t *testing.T, c *http.Client, url, key string) authAnswer {
	t.Helper()
	req, _ := http.NewRequestWithContext(context.Background(), http.MethodPut, url+"/v2/api_auth",
		strings.NewReader(`{"data":{"api_key":"`+key+`"}}`))
	res, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	a := authAnswer{code: res.StatusCode, retryAfter: res.Header.Get("Retry-After")}
	if err := json.NewDecoder(res.Body).Decode(&a.env); err != nil {
		t.Fatalf("api_auth answer is not a JSON envelope: %v", err)
	}
	return a
}

// Over real HTTP: five wrong keys from one address in a minute block that address (even with the
// right key) with 429 and Retry-After in the error envelope; another address is not affected; the
// block ends.
func TestAPIAuthThrottlesFailedAttemptsPerSource(t *testing.T) {
	clock := &fakeClock{t: time.Unix(1767225600, 0)}
	api := NewAPI(APIConfig{
		Store: openSQLiteTest(t), Accounts: []Account{{ID: "4b31dd1d32ce6d249897c06332375d65", Name: "a", APIKey: "right-key"}},
		Node: "n", Version: "v", Now: clock.Now,
	})
	mux := http.NewServeMux()
	api.Register(mux)
	srv := httptest.NewServer(mux)
	defer srv.Close()
	attacker, other := clientFrom("127.0.0.1"), clientFrom("127.0.0.2")

	// Four failures, then the window passes: the count starts over.
	for range DefaultAuthFailures - 1 {
		if a := putAPIAuth(t, attacker, srv.URL, "guess"); a.code != http.StatusUnauthorized {
			t.Fatalf("wrong key: %d, want 401", a.code)
		}
	}
	clock.advance(DefaultAuthFailWindow)
	for i := range DefaultAuthFailures {
		a := putAPIAuth(t, attacker, srv.URL, "guess")
		if a.code != http.StatusUnauthorized {
			t.Fatalf("wrong key %d in a fresh window: %d, want 401", i+1, a.code)
		}
	}
	for _, key := range []string{"guess", "right-key"} {
		a := putAPIAuth(t, attacker, srv.URL, key)
		if a.code != http.StatusTooManyRequests || a.retryAfter != "300" {
			t.Fatalf("%s after %d failures: %d Retry-After %q, want 429 and 300", key, DefaultAuthFailures, a.code, a.retryAfter)
		}
		if a.env["status"] != "error" || a.env["error"] != "429" || !strings.Contains(a.env["message"].(string), "too many failed") {
			t.Errorf("429 envelope: %v", a.env)
		}
		if a.env["auth_token"] != "" {
			t.Errorf("a blocked source got a token: %v", a.env["auth_token"])
		}
	}
	if a := putAPIAuth(t, other, srv.URL, "right-key"); a.code != http.StatusCreated || a.env["auth_token"] == "" {
		t.Fatalf("the right key from another address: %d %v, want 201 and a token", a.code, a.env)
	}
	clock.advance(DefaultAuthBlock - time.Second)
	if a := putAPIAuth(t, attacker, srv.URL, "right-key"); a.code != http.StatusTooManyRequests || a.retryAfter != "1" {
		t.Fatalf("a second before the block ends: %d Retry-After %q", a.code, a.retryAfter)
	}
	clock.advance(time.Second)
	if a := putAPIAuth(t, attacker, srv.URL, "right-key"); a.code != http.StatusCreated {
		t.Fatalf("after the block: %d, want 201", a.code)
	}
}

func TestAuthThrottleMemoryIsBounded(t *testing.T) {
	th := newAuthThrottle(0, 0, 0)
	now := time.Unix(1767225600, 0)
	for i := range maxAuthSources + 500 {
		addr := net.IPv4(10, byte(i>>16), byte(i>>8), byte(i)).String() + ":1234"
		th.failed(authSourceKey(addr), now)
	}
	if n := len(th.sources); n > maxAuthSources {
		t.Errorf("%d sources tracked, want at most %d", n, maxAuthSources)
	}
	// An IPv6 host counts as its /64: rotating the low bits does not escape the block.
	for i := range DefaultAuthFailures {
		th.failed(authSourceKey("[2001:db8::"+string(rune('a'+i))+"]:1"), now)
	}
	if th.blocked(authSourceKey("[2001:db8::ffff]:1"), now) == 0 {
		t.Error("an address in the same /64 is not blocked")
	}
}
