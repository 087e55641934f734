package httpfetch

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"reflect"
	"strings"
	"sync/atomic"
	"testing"
	"testing/iotest"
	"time"

	"github.com/pivotua/pivotua/internal/testkit"
)

func replyXML(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/xml; charset=utf-8")
	io.WriteString(w, "<Response><Hangup/></Response>")
}

func TestSignaturesValidateOnTheReceivingServer(t *testing.T) {
	const key = "0a1b2c3d"
	srv := testkit.NewWebhook(t, replyXML)
	c := NewClient()
	for _, tt := range []struct{ method, format, bodyFormat string }{
		{"GET", "kazoo", ""}, {"POST", "kazoo", "form"}, {"POST", "kazoo", "json"},
		{"GET", "twiml", ""}, {"POST", "twiml", "form"}, {"POST", "twiml", "json"},
	} {
		t.Run(tt.method+" "+tt.format+" "+tt.bodyFormat, func(t *testing.T) {
			srv.Reset()
			u := strings.Replace(srv.URL, "http://", "http://demo:pw@", 1) + "/ivr?app=1#frag"
			doc, err := c.FetchDocument(t.Context(), PivotRequest{
				URL: u, Method: tt.method, Format: tt.format, BodyFormat: tt.bodyFormat, SigningKey: key, Params: goldenParams,
			})
			if err != nil {
				t.Fatal(err)
			}
			got := srv.Requests()
			if len(got) != 1 {
				t.Fatalf("server saw %d requests", len(got))
			}
			r := got[0]
			if r.URL != doc.RequestURL || doc.URL != doc.RequestURL {
				t.Errorf("server saw %s, Document says %s (final %s)", r.URL, doc.RequestURL, doc.URL)
			}
			if strings.Contains(doc.RequestURL, "pw@") || strings.Contains(doc.RequestURL, "#") {
				t.Errorf("credentials or fragment in %s", doc.RequestURL)
			}
			if user, pass, ok := (&http.Request{Header: r.Header}).BasicAuth(); !ok || user != "demo" || pass != "pw" {
				t.Errorf("basic auth = %q %q %v", user, pass, ok)
			}
			if string(r.Body) != string(doc.RequestBody) || r.Method != doc.RequestMethod {
				t.Errorf("body/method differ from the Document")
			}
			var form url.Values
			if tt.method == "POST" && tt.bodyFormat == "form" {
				if form, err = url.ParseQuery(string(r.Body)); err != nil {
					t.Fatal(err)
				}
			}
			if tt.bodyFormat == "json" && !ValidateTwilioBodySHA256(r.URL, r.Body) {
				t.Error("bodySHA256 does not match")
			}
			if !ValidateTwilioSignature(key, r.URL, form, r.Header.Get(HeaderTwilioSignature)) {
				t.Error("X-Twilio-Signature does not validate")
			}
			if !ValidatePivotSignature(key, r.URL, r.Body, r.Header.Get(HeaderPivotSignature), time.Now(), time.Minute) {
				t.Error("X-Pivot-Signature does not validate")
			}
			if doc.Status != 200 || doc.ContentType != "text/xml" || string(doc.Body) != "<Response><Hangup/></Response>" {
				t.Errorf("doc = %d %q %q", doc.Status, doc.ContentType, doc.Body)
			}
			if doc.RequestHeader.Get(HeaderPivotSignature) == "" || doc.Elapsed <= 0 {
				t.Errorf("Document lacks request headers or Elapsed: %+v", doc)
			}
		})
	}
}

func TestFetchDocumentEnforcesTheWholeRequestDeadline(t *testing.T) {
	for _, tt := range []struct {
		name       string
		handler    func(release chan struct{}) http.HandlerFunc
		wantStatus int
	}{
		{"no response", func(release chan struct{}) http.HandlerFunc {
			return func(w http.ResponseWriter, r *http.Request) {
				select {
				case <-release:
				case <-r.Context().Done():
				}
			}
		}, 0},
		{"body stalls after the headers", func(release chan struct{}) http.HandlerFunc {
			return func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "application/json")
				io.WriteString(w, `{"module":`)
				w.(http.Flusher).Flush()
				select {
				case <-release:
				case <-r.Context().Done():
				}
			}
		}, 200},
	} {
		t.Run(tt.name, func(t *testing.T) {
			release := make(chan struct{})
			srv := testkit.NewWebhook(t, tt.handler(release))
			t.Cleanup(func() { close(release) }) // runs before srv.Close
			c := NewClient()
			start := time.Now()
			doc, err := c.FetchDocument(t.Context(), PivotRequest{URL: srv.URL + "/slow", Timeout: 200 * time.Millisecond, Params: goldenParams})
			elapsed := time.Since(start)
			if !errors.Is(err, ErrTimeout) {
				t.Fatalf("err = %v, want ErrTimeout", err)
			}
			if elapsed > 2*time.Second {
				t.Errorf("took %v for a 200ms deadline", elapsed)
			}
			if !strings.Contains(err.Error(), srv.URL+"/slow") {
				t.Errorf("error does not name the URL: %v", err)
			}
			if doc.Status != tt.wantStatus || !strings.HasPrefix(doc.RequestURL, srv.URL+"/slow?Account-ID=") {
				t.Errorf("doc status %d URL %s", doc.Status, doc.RequestURL)
			}
		})
	}
}

func TestFetchDocumentNon2xxKeepsTheResponse(t *testing.T) {
	srv := testkit.NewWebhook(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		w.WriteHeader(http.StatusServiceUnavailable)
		io.WriteString(w, "down for maintenance")
	})
	doc, err := NewClient().FetchDocument(t.Context(), PivotRequest{URL: srv.URL, Method: "POST", Params: goldenParams})
	if !errors.Is(err, ErrStatus) || !strings.Contains(err.Error(), "503") {
		t.Fatalf("err = %v, want ErrStatus naming 503", err)
	}
	if doc.Status != 503 || string(doc.Body) != "down for maintenance" || doc.ContentType != "text/plain" {
		t.Errorf("doc = %d %q %q", doc.Status, doc.Body, doc.ContentType)
	}
	if string(doc.RequestBody) != goldenKazooQuery {
		t.Errorf("request body not kept: %q", doc.RequestBody)
	}
}

func TestFetchDocumentOverSize(t *testing.T) {
	big := strings.Repeat("x", 100)
	for _, tt := range []struct {
		name    string
		handler http.HandlerFunc
	}{
		{"Content-Length over the cap", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, big) }},
		{"chunked body over the cap", func(w http.ResponseWriter, r *http.Request) {
			io.WriteString(w, big[:50])
			w.(http.Flusher).Flush()
			io.WriteString(w, big[50:])
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			srv := testkit.NewWebhook(t, tt.handler)
			doc, err := NewClient(WithMaxDocumentBytes(10)).FetchDocument(t.Context(), PivotRequest{URL: srv.URL})
			if !errors.Is(err, ErrTooLarge) {
				t.Fatalf("err = %v, want ErrTooLarge", err)
			}
			if doc.Status != 200 || len(doc.Body) > 10 {
				t.Errorf("doc status %d body %d bytes", doc.Status, len(doc.Body))
			}
		})
	}
}

func TestFetchDocumentConnectRefused(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	u := "http://" + addr + "/ivr"
	doc, err := NewClient().FetchDocument(t.Context(), PivotRequest{URL: u, Method: "POST", SigningKey: "k", Params: goldenParams})
	if !errors.Is(err, ErrConnect) {
		t.Fatalf("err = %v, want ErrConnect", err)
	}
	if !strings.Contains(err.Error(), u) {
		t.Errorf("error does not name the URL: %v", err)
	}
	if doc.Status != 0 || doc.RequestURL != u || doc.RequestMethod != "POST" ||
		string(doc.RequestBody) != goldenKazooQuery || doc.RequestHeader.Get(HeaderTwilioSignature) == "" {
		t.Errorf("doc = %+v", doc)
	}
}

func TestFetchDocumentCallerCancel(t *testing.T) {
	srv := testkit.NewWebhook(t, func(w http.ResponseWriter, r *http.Request) { <-r.Context().Done() })
	ctx, cancel := context.WithCancel(t.Context())
	time.AfterFunc(50*time.Millisecond, cancel)
	_, err := NewClient().FetchDocument(ctx, PivotRequest{URL: srv.URL})
	if !errors.Is(err, context.Canceled) || errors.Is(err, ErrTimeout) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
}

func TestFetchDocumentRedirects(t *testing.T) {
	const key = "k"
	var srv *testkit.Webhook
	srv = testkit.NewWebhook(t, func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/found":
			http.Redirect(w, r, "/final", http.StatusFound)
		case "/temporary":
			http.Redirect(w, r, "/final", http.StatusTemporaryRedirect)
		case "/loop":
			http.Redirect(w, r, "/loop", http.StatusFound)
		default:
			replyXML(w, r)
		}
	})
	c := NewClient()
	reset := srv.Reset

	t.Run("GET follows and re-signs", func(t *testing.T) {
		reset()
		doc, err := c.FetchDocument(t.Context(), PivotRequest{URL: srv.URL + "/found", SigningKey: key})
		if err != nil {
			t.Fatal(err)
		}
		if doc.URL != srv.URL+"/final" || doc.Status != 200 {
			t.Errorf("final URL %s status %d", doc.URL, doc.Status)
		}
		rs := srv.Requests()
		last := rs[len(rs)-1]
		if !ValidateTwilioSignature(key, last.URL, nil, last.Header.Get(HeaderTwilioSignature)) ||
			!ValidatePivotSignature(key, last.URL, nil, last.Header.Get(HeaderPivotSignature), time.Now(), time.Minute) {
			t.Error("redirected request is not signed for its URL")
		}
	})
	t.Run("POST does not follow 302", func(t *testing.T) {
		reset()
		doc, err := c.FetchDocument(t.Context(), PivotRequest{URL: srv.URL + "/found", Method: "POST", Params: goldenParams})
		if !errors.Is(err, ErrStatus) || doc.Status != http.StatusFound {
			t.Fatalf("err = %v status %d", err, doc.Status)
		}
		if n := len(srv.Requests()); n != 1 {
			t.Errorf("%d requests", n)
		}
	})
	t.Run("POST follows 307 with the body", func(t *testing.T) {
		reset()
		doc, err := c.FetchDocument(t.Context(), PivotRequest{URL: srv.URL + "/temporary", Method: "POST", SigningKey: key, Params: goldenParams})
		if err != nil {
			t.Fatal(err)
		}
		rs := srv.Requests()
		last := rs[len(rs)-1]
		form, _ := url.ParseQuery(string(last.Body))
		if len(rs) != 2 || last.Method != "POST" || string(last.Body) != goldenKazooQuery || doc.URL != srv.URL+"/final" {
			t.Fatalf("requests %d, last %s %q", len(rs), last.Method, last.Body)
		}
		if !ValidateTwilioSignature(key, last.URL, form, last.Header.Get(HeaderTwilioSignature)) {
			t.Error("re-sent POST is not signed for its URL")
		}
	})
	t.Run("JSON POST follows 307 with its body hash in the new URL", func(t *testing.T) {
		reset()
		_, err := c.FetchDocument(t.Context(), PivotRequest{URL: srv.URL + "/temporary", Method: "POST", BodyFormat: BodyJSON, SigningKey: key, Params: goldenParams})
		if err != nil {
			t.Fatal(err)
		}
		rs := srv.Requests()
		last := rs[len(rs)-1]
		// Twilio signs a JSON POST through its URL: without bodySHA256 there, the re-sent body
		// would be covered by nothing a Twilio validator checks.
		if !ValidateTwilioSignature(key, last.URL, nil, last.Header.Get(HeaderTwilioSignature)) ||
			!ValidateTwilioBodySHA256(last.URL, last.Body) {
			t.Errorf("redirected JSON POST to %s: its X-Twilio-Signature does not cover its body", last.URL)
		}
	})
	t.Run("stops after five", func(t *testing.T) {
		reset()
		doc, err := c.FetchDocument(t.Context(), PivotRequest{URL: srv.URL + "/loop"})
		if !errors.Is(err, ErrStatus) || doc.Status != http.StatusFound {
			t.Fatalf("err = %v status %d", err, doc.Status)
		}
		if n := len(srv.Requests()); n != MaxRedirects+1 {
			t.Errorf("%d requests, want %d", n, MaxRedirects+1)
		}
	})
}

func TestWithHTTPClientLeavesTheCallersClientAlone(t *testing.T) {
	var calls atomic.Int32
	hc := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { calls.Add(1); return nil }}
	srv := testkit.NewWebhook(t, replyXML)
	c := NewClient(WithHTTPClient(hc))
	if _, err := c.FetchDocument(t.Context(), PivotRequest{URL: srv.URL}); err != nil {
		t.Fatal(err)
	}
	if hc.CheckRedirect == nil || c.http == hc {
		t.Error("the caller's client was modified or shared")
	}
}

func BenchmarkBuildPivotRequest(b *testing.B) {
	c := NewClient()
	r := PivotRequest{URL: "https://hooks.example.com/ivr?app=1", Method: "POST", SigningKey: "0a1b2c3d4e5f", Params: goldenParams}
	now := time.Unix(1700000000, 0)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := c.preparePivotRequest(&r, now); err != nil {
			b.Fatal(err)
		}
	}
}

// The buffers a pivot request is built in are reused from one request to the next: nothing of one
// (another account's parameters, its URL, its body) may show in the next, whatever their sizes.
func TestPivotRequestsShareNothingThroughReusedBuffers(t *testing.T) {
	c := NewClient()
	now := time.Unix(1700000000, 0)
	vars := map[string]string{}
	for i := range 10 {
		vars[fmt.Sprintf("SecretOfA%d", i)] = strings.Repeat("a", 100)
	}
	other := []PivotRequest{
		{URL: "https://a.example.com/ivr?x=" + strings.Repeat("y", 2000), Format: FormatTwiML, SigningKey: "key-a", Params: CallParams{AccountID: "acct-a", Variables: vars}},
		{URL: "https://a.example.com/ivr", Method: "POST", Format: FormatTwiML, SigningKey: "key-a", Params: CallParams{AccountID: "acct-a", Variables: vars}},
		{URL: "https://a.example.com/ivr", Method: "POST", BodyFormat: BodyJSON, SigningKey: "key-a", Params: CallParams{AccountID: "acct-a", Variables: vars}},
	}
	for _, r := range []PivotRequest{
		{URL: "https://b.example.com/ivr", SigningKey: "key-b", Params: goldenParams},
		{URL: "https://b.example.com/ivr", Method: "POST", SigningKey: "key-b", Params: goldenParams},
		{URL: "https://b.example.com/ivr", Method: "POST", BodyFormat: BodyJSON, SigningKey: "key-b", Params: goldenParams},
	} {
		want, err := c.preparePivotRequest(&r, now)
		if err != nil {
			t.Fatal(err)
		}
		for range 20 { // a pool may drop what it is given (it does at random under -race): many rounds
			for _, o := range other {
				if _, err := c.preparePivotRequest(&o, now); err != nil {
					t.Fatal(err)
				}
			}
			got, err := c.preparePivotRequest(&r, now)
			if err != nil {
				t.Fatal(err)
			}
			if got.url != want.url || string(got.body) != string(want.body) || !reflect.DeepEqual(got.header, want.header) || !reflect.DeepEqual(got.pairs, want.pairs) {
				t.Fatalf("%s %s after other requests:\n url %q\nbody %q\n hdr %v\nwant url %q\nbody %q\n hdr %v", r.Method, r.BodyFormat, got.url, got.body, got.header, want.url, want.body, want.header)
			}
		}
	}
}

// URL credentials become the request's Basic Authorization (doc.go) and stay out of the request
// header kept for the debug records.
func TestURLCredentialsAreSentButNotRecorded(t *testing.T) {
	srv := testkit.NewWebhook(t, replyXML)
	u := strings.Replace(srv.URL, "http://", "http://alice:s3cret@", 1)
	doc, err := NewClient().FetchDocument(t.Context(), PivotRequest{URL: u, SigningKey: "k", Params: goldenParams})
	if err != nil {
		t.Fatal(err)
	}
	if user, pass, ok := (&http.Request{Header: srv.Requests()[0].Header}).BasicAuth(); !ok || user != "alice" || pass != "s3cret" {
		t.Errorf("the webhook got %v %q %q, want alice's Basic credentials", ok, user, pass)
	}
	if got := doc.RequestHeader.Get("Authorization"); got != "" || strings.Contains(doc.RequestURL, "s3cret") {
		t.Errorf("credentials recorded: Authorization %q, URL %s", got, doc.RequestURL)
	}
}

// A response that was not redirected came from the URL sent, which FetchDocument reports as the
// document's URL without writing it out again: it must be what writing out the parsed request URL
// gives (credentials and fragment dropped), whatever the URL's shape.
func TestDocumentURLIsTheURLSentWhenNotRedirected(t *testing.T) {
	srv := testkit.NewWebhook(t, replyXML)
	c := NewClient()
	host := strings.TrimPrefix(srv.URL, "http://")
	for _, path := range []string{"", "/", "/ivr", "/a%20b/c;d=1", "/%E2%82%AC/x?q=%2F&r", "/p?", "/p?a=1&#frag", "/a+b/~c?x=a+b"} {
		for _, method := range []string{"GET", "POST"} {
			raw := "http://u:p@" + host + path
			doc, err := c.FetchDocument(t.Context(), PivotRequest{URL: raw, Method: method, SigningKey: "k", Params: goldenParams})
			if err != nil {
				t.Fatal(err)
			}
			sent, err := url.Parse(doc.RequestURL)
			if err != nil {
				t.Fatal(err)
			}
			if want := displayURLWithQuery(sent); doc.URL != want {
				t.Errorf("%s %s: URL %s, want %s", method, raw, doc.URL, want)
			}
		}
	}
}

// readDocument reads a document into a reused buffer: it gives what readCapped gives, for bodies
// under, at and over the cap, read in any pieces, cut short by an error, one after another.
func TestReadDocumentReadsWhatReadCappedReads(t *testing.T) {
	const limit = 5000
	for _, size := range []int{0, 1, 100, 2047, 2048, 2049, limit - 1, limit, limit + 1, 3 * limit} {
		body := bytes.Repeat([]byte{byte('a' + size%26)}, size)
		for name, reader := range map[string]func() io.Reader{
			"whole":        func() io.Reader { return bytes.NewReader(body) },
			"byte by byte": func() io.Reader { return iotest.OneByteReader(bytes.NewReader(body)) },
			"then failing": func() io.Reader { return io.MultiReader(bytes.NewReader(body), iotest.ErrReader(io.ErrUnexpectedEOF)) },
		} {
			want, wantLarge, wantErr := readCapped(reader(), limit)
			got, gotLarge, gotErr := readDocument(reader(), limit)
			if !bytes.Equal(got, want) || gotLarge != wantLarge || !errors.Is(gotErr, wantErr) {
				t.Errorf("%d bytes %s: %d bytes, %v, %v; want %d, %v, %v", size, name, len(got), gotLarge, gotErr, len(want), wantLarge, wantErr)
			}
		}
	}
}
