package httpfetch

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"mime"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// Defaults and limits.
const (
	DefaultUserAgent        = "pivotua/dev"
	DefaultPivotTimeout     = 5 * time.Second
	MaxPivotTimeout         = 30 * time.Second
	DefaultMaxDocumentBytes = 1 << 20  // 1 MiB
	DefaultMaxMediaBytes    = 50 << 20 // 50 MiB
	DefaultMediaTimeout     = 10 * time.Second
	DefaultMediaCacheBytes  = 256 << 20 // 256 MiB
	// MaxRedirects is how many redirects a request follows (GET; POST only
	// through 307/308).
	MaxRedirects = 5
)

// Client makes pivotua's outbound HTTP requests. It is safe for concurrent
// use; create one per process so connections and the media cache are shared.
type Client struct {
	http             *http.Client // CheckRedirect is ours; read-only after NewClient
	userAgent        string
	maxDocumentBytes int64
	maxMediaBytes    int64
	mediaTimeout     time.Duration
	media            *mediaCache
	now              func() time.Time // replaced by tests
}

// Option configures a Client.
type Option func(*Client)

// WithUserAgent sets the User-Agent header. A value without "/" is taken as a
// version and sent as "pivotua/<v>"; anything else is sent as it is.
func WithUserAgent(v string) Option {
	return func(c *Client) {
		switch {
		case v == "":
		case strings.Contains(v, "/"):
			c.userAgent = v
		default:
			c.userAgent = "pivotua/" + v
		}
	}
}

// WithMaxDocumentBytes caps the body of a pivot response (default 1 MiB).
func WithMaxDocumentBytes(n int64) Option {
	return func(c *Client) {
		if n > 0 {
			c.maxDocumentBytes = n
		}
	}
}

// WithMaxMediaBytes caps the body of a media download (default 50 MiB).
func WithMaxMediaBytes(n int64) Option {
	return func(c *Client) {
		if n > 0 {
			c.maxMediaBytes = n
		}
	}
}

// WithMediaTimeout sets the whole-request deadline of a media download
// (default 10 s).
func WithMediaTimeout(d time.Duration) Option {
	return func(c *Client) {
		if d > 0 {
			c.mediaTimeout = d
		}
	}
}

// WithMediaCacheBytes bounds the media cache by the total size of the bodies
// it holds (default 256 MiB); the least recently used entries go first.
func WithMediaCacheBytes(n int64) Option {
	return func(c *Client) {
		if n > 0 {
			c.media.maxBytes = n
		}
	}
}

// WithHTTPClient makes the Client use hc's Transport, Jar and Timeout.
// Redirect policy and per-request deadlines stay httpfetch's own; hc itself
// is not modified.
func WithHTTPClient(hc *http.Client) Option {
	return func(c *Client) {
		if hc != nil {
			copied := *hc
			c.http = &copied
		}
	}
}

// NewClient returns a Client with a connection pool sized for many calls
// hitting the same webhook host.
func NewClient(opts ...Option) *Client {
	c := &Client{
		http:             &http.Client{Transport: NewGuardedTransport(nil)},
		userAgent:        DefaultUserAgent,
		maxDocumentBytes: DefaultMaxDocumentBytes,
		maxMediaBytes:    DefaultMaxMediaBytes,
		mediaTimeout:     DefaultMediaTimeout,
		media:            newMediaCache(DefaultMediaCacheBytes),
		now:              time.Now,
	}
	for _, o := range opts {
		o(c)
	}
	c.http.CheckRedirect = checkRedirect
	return c
}

// redirectSigner lets checkRedirect sign a redirected request for its new URL.
type redirectSigner struct {
	key   string
	pairs []paramPair // form POST params (307/308 re-send them)
	body  []byte
	// bodyHash is the JSON POST's bodySHA256 value (empty otherwise): the new URL must carry it too.
	bodyHash string
	now      func() time.Time
}

type redirectSignerKey struct{}

// checkRedirect follows at most MaxRedirects redirects. A POST follows only
// 307 and 308, which re-send the body; 301/302/303 would turn it into a GET
// without the parameters, so the 3xx is returned instead (and reported as
// ErrStatus). A signed request is re-signed for each new URL.
func checkRedirect(req *http.Request, via []*http.Request) error {
	if len(via) > MaxRedirects {
		return http.ErrUseLastResponse
	}
	if via[0].Method == http.MethodPost {
		code := 0
		if req.Response != nil {
			code = req.Response.StatusCode
		}
		if code != http.StatusTemporaryRedirect && code != http.StatusPermanentRedirect {
			return http.ErrUseLastResponse
		}
	}
	if s, ok := req.Context().Value(redirectSignerKey{}).(*redirectSigner); ok {
		u := *req.URL
		u.User = nil
		var pairs []paramPair
		var body []byte
		if req.Method == http.MethodPost {
			pairs, body = s.pairs, s.body
			if s.bodyHash != "" {
				// Twilio signs a JSON POST through its URL; a Location of the webhook's choosing
				// carries no hash, or one that is not this body's.
				q := req.URL.Query()
				q.Set(BodySHA256Param, s.bodyHash)
				req.URL.RawQuery = q.Encode()
				u.RawQuery = req.URL.RawQuery
			}
		}
		signHeader(req.Header, s.key, u.String(), pairs, body, s.now())
	}
	return nil
}

// signHeader sets both signature headers for a request to signedURL.
func signHeader(h http.Header, key, signedURL string, pairs []paramPair, body []byte, now time.Time) {
	h.Set(HeaderTwilioSignature, twilioSignature(key, signedURL, pairs))
	h.Set(HeaderPivotSignature, pivotSignatureHeader(key, now.Unix(), signedURL, body))
}

// parseHTTPURL parses an absolute http(s) URL with a host.
func parseHTTPURL(raw string) (*url.URL, error) {
	u, err := url.Parse(strings.TrimSpace(raw))
	if err != nil {
		return nil, fmt.Errorf("%w: %q: %v", ErrBadURL, raw, err)
	}
	u.Scheme = strings.ToLower(u.Scheme)
	if u.Scheme != "http" && u.Scheme != "https" {
		return nil, fmt.Errorf("%w: %q: scheme must be http or https", ErrBadURL, raw)
	}
	if u.Host == "" || u.Hostname() == "" {
		return nil, fmt.Errorf("%w: %q: no host", ErrBadURL, raw)
	}
	u.Fragment, u.RawFragment = "", ""
	return u, nil
}

// displayURL is a URL for error messages: no credentials, no query (a GET
// pivot query holds every call parameter).
func displayURL(u *url.URL) string {
	d := *u
	d.User, d.RawQuery, d.ForceQuery = nil, "", false
	return d.String()
}

// transportError wraps an error from http.Client.Do or a body read in the
// sentinel that says what happened. deadlineCtx is the request's own
// deadline context: when it expired, the cause was the deadline whatever
// shape the transport's error took.
func transportError(deadlineCtx, parent context.Context, what string, timeout time.Duration, err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	if parent.Err() != nil && !errors.Is(parent.Err(), context.DeadlineExceeded) {
		// The caller gave up (the call ended): say so plainly.
		return fmt.Errorf("%s: %w", what, parent.Err())
	}
	var ne net.Error
	if deadlineCtx.Err() != nil || errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout()) {
		return fmt.Errorf("%w: %s: no complete response within %v", ErrTimeout, what, timeout)
	}
	return fmt.Errorf("%w: %s: %w", ErrConnect, what, err)
}

// readCapped reads at most limit bytes; tooLarge reports that more followed.
func readCapped(r io.Reader, limit int64) (body []byte, tooLarge bool, err error) {
	body, err = io.ReadAll(io.LimitReader(r, limit+1))
	if int64(len(body)) > limit {
		return body[:limit], true, err
	}
	return body, false, err
}

// readDocument is readCapped for a pivot document: read into a pooled
// buffer and copied out at its size, where io.ReadAll would start at 512
// bytes and double (a document is often a few hundred bytes, read once a
// call setup).
func readDocument(r io.Reader, limit int64) (body []byte, tooLarge bool, err error) {
	buf := getBuffer()
	defer putBuffer(buf)
	lr := io.LimitedReader{R: r, N: limit + 1}
	b := *buf
	for {
		if len(b) == cap(b) {
			b = append(b, 0)[:len(b)]
		}
		n, rerr := lr.Read(b[len(b):cap(b)])
		b = b[:len(b)+n]
		if rerr != nil {
			if rerr != io.EOF {
				err = rerr
			}
			break
		}
	}
	*buf = b
	if int64(len(b)) > limit {
		return bytes.Clone(b[:limit]), true, err
	}
	return bytes.Clone(b), false, err
}

// mediaType returns the Content-Type's media type, lower-cased, without
// parameters ("" when absent).
func mediaType(h http.Header) string {
	ct := h.Get("Content-Type")
	if ct == "" {
		return ""
	}
	if mt, _, err := mime.ParseMediaType(ct); err == nil {
		return mt
	}
	mt, _, _ := strings.Cut(ct, ";")
	return strings.ToLower(strings.TrimSpace(mt))
}
