package httpfetch

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// PivotRequest describes one request for a pivot document.
type PivotRequest struct {
	URL        string
	Method     string // GET (default) or POST, any case
	Format     string // FormatKazoo (default) or FormatTwiML: parameter naming
	BodyFormat string // BodyForm (default) or BodyJSON; POST only
	// Timeout is the whole-request deadline: default DefaultPivotTimeout,
	// at most MaxPivotTimeout.
	Timeout    time.Duration
	SigningKey string // the account's api_key; empty sends no signatures
	Params     CallParams
}

// Document is one pivot exchange, kept whole for the debug records. The
// request fields are always set (as far as the request could be built); the
// response fields are set when a response arrived (Status != 0).
type Document struct {
	RequestMethod string
	RequestURL    string // as sent: query included, no fragment, no credentials
	RequestHeader http.Header
	RequestBody   []byte

	// URL is the URL the response came from (RequestURL unless redirected):
	// the base for relative URLs in the document.
	URL         string
	Status      int
	Header      http.Header
	Body        []byte // at most the document cap (truncated when ErrTooLarge)
	ContentType string // media type, lower-cased, without parameters
	Elapsed     time.Duration
}

// preparedRequest is a pivot request ready to send.
type preparedRequest struct {
	method     string
	url        string // as sent and signed
	displayURL string // for messages: the configured URL without query or credentials
	user       *url.Userinfo
	header     http.Header
	body       []byte
	pairs      []paramPair // form POST params, for re-signing on redirect
	bodyHash   string      // a signed JSON POST's bodySHA256, for re-signing on redirect
	timeout    time.Duration
}

// preparePivotRequest builds the method, URL, headers and body of r, signing
// with now as the timestamp.
func (c *Client) preparePivotRequest(r *PivotRequest, now time.Time) (preparedRequest, error) {
	p := preparedRequest{ // a value: FetchDocument keeps it on its stack
		method:     strings.ToUpper(strings.TrimSpace(r.Method)),
		url:        r.URL,
		displayURL: r.URL,
		header:     http.Header{"User-Agent": {c.userAgent}},
		timeout:    r.Timeout,
	}
	if p.method == "" {
		p.method = http.MethodGet
	}
	if p.timeout <= 0 {
		p.timeout = DefaultPivotTimeout
	}
	p.timeout = min(p.timeout, MaxPivotTimeout)
	format := strings.ToLower(strings.TrimSpace(r.Format))
	if format == "" {
		format = FormatKazoo
	}
	bodyFormat := strings.ToLower(strings.TrimSpace(r.BodyFormat))
	if bodyFormat == "" {
		bodyFormat = BodyForm
	}
	switch {
	case p.method != http.MethodGet && p.method != http.MethodPost:
		return p, fmt.Errorf("%w: method %q: want GET or POST", ErrBadRequest, r.Method)
	case format != FormatKazoo && format != FormatTwiML:
		return p, fmt.Errorf("%w: format %q: want kazoo or twiml", ErrBadRequest, r.Format)
	case bodyFormat != BodyForm && bodyFormat != BodyJSON:
		return p, fmt.Errorf("%w: body format %q: want form or json", ErrBadRequest, r.BodyFormat)
	}
	u, err := parseHTTPURL(r.URL)
	if err != nil {
		return p, err
	}
	p.user, u.User = u.User, nil
	p.displayURL = displayURL(u)

	params := paramSets.Get().(*paramSet)
	defer params.release()
	fields := params.build(format, &r.Params)
	switch {
	case p.method == http.MethodGet:
		p.url = queryURL(u, fields)
	case bodyFormat == BodyJSON:
		p.header.Set("Content-Type", "application/json")
		if p.body, err = encodeJSON(fields); err != nil {
			return p, fmt.Errorf("%w: encoding JSON body: %v", ErrBadRequest, err)
		}
		if r.SigningKey != "" {
			// Twilio signs JSON requests through the URL: the body's hash
			// goes in the query and the signature covers the URL alone.
			sum := sha256.Sum256(p.body)
			p.bodyHash = hex.EncodeToString(sum[:])
			u.RawQuery = joinQuery(u.RawQuery, BodySHA256Param+"="+p.bodyHash)
		}
		p.url = u.String()
	default:
		p.header.Set("Content-Type", "application/x-www-form-urlencoded")
		buf := getBuffer()
		*buf = appendForm(*buf, fields)
		p.body = bytes.Clone(*buf)
		putBuffer(buf)
		p.pairs = flatten(fields)
		p.url = u.String()
	}
	if r.SigningKey != "" {
		signHeader(p.header, r.SigningKey, p.url, p.pairs, p.body, now)
	}
	return p, nil
}

// FetchDocument sends the pivot request r and reads the document.
//
// The returned Document is never nil: it holds the request as sent (or as
// far as it could be built) and, when a response arrived, its status,
// headers and body. The error, if any, wraps ErrBadURL, ErrBadRequest,
// ErrConnect, ErrTimeout, ErrStatus (non-2xx, or a redirect not followed),
// ErrTooLarge, or the caller's context.Canceled.
func (c *Client) FetchDocument(ctx context.Context, r PivotRequest) (*Document, error) {
	start := time.Now()
	p, err := c.preparePivotRequest(&r, c.now())
	doc := &Document{
		RequestMethod: p.method,
		RequestURL:    p.url,
		RequestHeader: p.header,
		RequestBody:   p.body,
	}
	if err != nil {
		return doc, err
	}
	what := p.method + " " + p.displayURL

	reqCtx, cancel := context.WithTimeout(ctx, p.timeout)
	defer cancel()
	if r.SigningKey != "" {
		reqCtx = context.WithValue(reqCtx, redirectSignerKey{}, &redirectSigner{
			key: r.SigningKey, pairs: p.pairs, body: p.body, bodyHash: p.bodyHash, now: c.now,
		})
	}
	req, err := http.NewRequestWithContext(reqCtx, p.method, p.url, bytes.NewReader(p.body))
	if err != nil {
		return doc, fmt.Errorf("%w: %s: %v", ErrBadURL, what, err)
	}
	if p.body == nil {
		req.Body, req.GetBody, req.ContentLength = nil, nil, 0
	}
	// The request sends the recorded header itself (net/http reads it, a redirect copies it) unless
	// credentials go on the wire: they stay out of the debug record.
	req.Header = p.header
	if p.user != nil {
		req.Header = p.header.Clone()
		pass, _ := p.user.Password()
		req.SetBasicAuth(p.user.Username(), pass)
	}

	resp, err := c.http.Do(req)
	if err != nil {
		doc.Elapsed = time.Since(start)
		return doc, transportError(reqCtx, ctx, what, p.timeout, err)
	}
	defer resp.Body.Close()
	doc.URL = p.url // not redirected: the URL sent, which has neither credentials nor fragment
	if resp.Request.URL != req.URL {
		doc.URL = displayURLWithQuery(resp.Request.URL)
	}
	doc.Status = resp.StatusCode
	doc.Header = resp.Header
	doc.ContentType = mediaType(resp.Header)

	if resp.ContentLength > c.maxDocumentBytes {
		doc.Elapsed = time.Since(start)
		return doc, fmt.Errorf("%w: %s: Content-Length %d exceeds %d bytes", ErrTooLarge, what, resp.ContentLength, c.maxDocumentBytes)
	}
	body, tooLarge, err := readDocument(resp.Body, c.maxDocumentBytes)
	doc.Body = body
	doc.Elapsed = time.Since(start)
	switch {
	case resp.StatusCode < 200 || resp.StatusCode > 299:
		return doc, fmt.Errorf("%w: %s: %s", ErrStatus, what, resp.Status)
	case tooLarge:
		return doc, fmt.Errorf("%w: %s: body exceeds %d bytes", ErrTooLarge, what, c.maxDocumentBytes)
	case err != nil:
		return doc, transportError(reqCtx, ctx, what+": reading body", p.timeout, err)
	}
	return doc, nil
}

// displayURLWithQuery is u without credentials or fragment.
func displayURLWithQuery(u *url.URL) string {
	d := *u
	d.User, d.Fragment, d.RawFragment = nil, "", ""
	return d.String()
}
