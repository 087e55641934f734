package httpfetch

import (
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// serverOn starts an HTTP server on a given loopback address (127.0.0.2 is
// another host as far as the deny-list can tell) and counts its requests.
func serverOn(t *testing.T, ip string, h http.HandlerFunc) (*httptest.Server, *atomic.Int32) {
	t.Helper()
	ln, err := net.Listen("tcp", ip+":0")
	if err != nil {
		t.Fatal(err)
	}
	var n atomic.Int32
	srv := &httptest.Server{Listener: ln, Config: &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n.Add(1)
		h(w, r)
	})}}
	srv.Start()
	t.Cleanup(srv.Close)
	return srv, &n
}

func kazooOK(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	io.WriteString(w, `{"module":"hangup"}`)
}

func TestDenyListRefusesTheResolvedAddress(t *testing.T) {
	srv, hits := serverOn(t, "127.0.0.1", kazooOK)
	_, port, _ := net.SplitHostPort(srv.Listener.Addr().String())
	c := NewClient(WithDenyCIDRs([]netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}))
	for _, u := range []string{
		"http://localhost:" + port + "/ivr", // a name: checked after resolution
		"http://127.0.0.1:" + port + "/ivr",
		"http://[::ffff:127.0.0.1]:" + port + "/ivr", // IPv4-mapped IPv6
		"http://0.0.0.0:" + port + "/ivr",            // reaches the local host
	} {
		_, err := c.FetchDocument(t.Context(), PivotRequest{URL: u, Timeout: time.Second})
		if !errors.Is(err, ErrConnect) || !errors.Is(err, ErrDenied) {
			t.Errorf("%s: err = %v, want ErrConnect wrapping ErrDenied", u, err)
		}
		if _, err := c.FetchMedia(t.Context(), strings.Replace(u, "/ivr", "/a.wav", 1)); !errors.Is(err, ErrDenied) {
			t.Errorf("media %s: err = %v, want ErrDenied", u, err)
		}
	}
	if n := hits.Load(); n != 0 {
		t.Errorf("the denied server got %d requests", n)
	}
	// Without the deny-list the same URL works.
	if _, err := NewClient().FetchDocument(t.Context(), PivotRequest{URL: "http://localhost:" + port + "/ivr"}); err != nil {
		t.Fatalf("without a deny-list: %v", err)
	}
}

func TestDenyListAppliesToEveryRedirectHop(t *testing.T) {
	denied, hits := serverOn(t, "127.0.0.2", kazooOK)
	front, _ := serverOn(t, "127.0.0.1", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, denied.URL+"/internal", http.StatusFound)
	})
	c := NewClient(WithDenyCIDRs([]netip.Prefix{netip.MustParsePrefix("127.0.0.2/32")}))
	_, err := c.FetchDocument(t.Context(), PivotRequest{URL: front.URL + "/ivr", Timeout: time.Second})
	if !errors.Is(err, ErrConnect) || !errors.Is(err, ErrDenied) {
		t.Fatalf("err = %v, want ErrConnect wrapping ErrDenied", err)
	}
	if n := hits.Load(); n != 0 {
		t.Errorf("the denied server got %d requests through a redirect", n)
	}
}

func TestUntrustedTLSCertificateIsAConnectError(t *testing.T) {
	srv := httptest.NewTLSServer(http.HandlerFunc(kazooOK)) // self-signed
	t.Cleanup(srv.Close)
	_, err := NewClient().FetchDocument(t.Context(), PivotRequest{URL: srv.URL + "/ivr", Timeout: 2 * time.Second})
	if !errors.Is(err, ErrConnect) || !strings.Contains(err.Error(), "certificate") {
		t.Fatalf("err = %v, want ErrConnect naming the certificate", err)
	}
}

// A server that sends a byte now and then never trips a read timeout; the
// whole-request deadline must still end it.
func TestSlowDripBodyHitsTheWholeRequestDeadline(t *testing.T) {
	srv, _ := serverOn(t, "127.0.0.1", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		for range 100 {
			if _, err := io.WriteString(w, " "); err != nil {
				return
			}
			w.(http.Flusher).Flush()
			select {
			case <-time.After(50 * time.Millisecond):
			case <-r.Context().Done():
				return
			}
		}
	})
	start := time.Now()
	_, err := NewClient().FetchDocument(t.Context(), PivotRequest{URL: srv.URL, Timeout: 300 * time.Millisecond})
	if !errors.Is(err, ErrTimeout) {
		t.Fatalf("err = %v, want ErrTimeout", err)
	}
	if d := time.Since(start); d > 1500*time.Millisecond {
		t.Errorf("a 300 ms deadline took %v", d)
	}
	c := NewClient(WithMediaTimeout(300 * time.Millisecond))
	start = time.Now()
	if _, err := c.FetchMedia(t.Context(), srv.URL+"/drip.wav"); !errors.Is(err, ErrTimeout) {
		t.Fatalf("media: err = %v, want ErrTimeout", err)
	}
	if d := time.Since(start); d > 1500*time.Millisecond {
		t.Errorf("a 300 ms media deadline took %v", d)
	}
}

func TestDefaultCapsAndRedirectLimit(t *testing.T) {
	c := NewClient()
	if c.maxDocumentBytes != 1<<20 || c.maxMediaBytes != 50<<20 || MaxRedirects != 5 {
		t.Fatalf("caps: document %d, media %d, redirects %d; want 1 MiB, 50 MiB, 5", c.maxDocumentBytes, c.maxMediaBytes, MaxRedirects)
	}
	big := strings.Repeat("a", 1<<20+1)
	srv, _ := serverOn(t, "127.0.0.1", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, big) })
	if _, err := c.FetchDocument(t.Context(), PivotRequest{URL: srv.URL}); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("a 1 MiB + 1 document: err = %v, want ErrTooLarge", err)
	}
}
