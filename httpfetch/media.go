package httpfetch

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
)

// Media is a downloaded media file.
type Media struct {
	URL         string // as requested, without credentials or fragment
	ContentType string // media type, lower-cased, without parameters
	// Body is shared with the cache and other callers: never modify it.
	Body []byte
	// Version identifies the content: a hex SHA-256 prefix of Body, so it
	// changes iff the content changes and stays the same across 304s.
	Version string
}

// mediaVersionHexLen is 128 bits of SHA-256: collisions are not a concern.
const mediaVersionHexLen = 32

func mediaVersion(body []byte) string {
	sum := sha256.Sum256(body)
	return hex.EncodeToString(sum[:])[:mediaVersionHexLen]
}

// FetchMedia downloads url (http or https) through the media cache.
//
// A fresh cached copy is returned without a request; a stale one with a
// validator is revalidated (304 keeps the cached body and Version);
// otherwise the file is downloaded again. Concurrent calls for the same URL
// share one request, which runs to its own deadline (WithMediaTimeout) while
// any of them waits: the caller that started it may give up, but when the
// last one does, the request is abandoned. Errors wrap ErrBadURL, ErrConnect,
// ErrTimeout, ErrStatus or ErrTooLarge, or the caller's context.Canceled.
func (c *Client) FetchMedia(ctx context.Context, rawURL string) (*Media, error) {
	u, err := parseHTTPURL(rawURL)
	if err != nil {
		return nil, err
	}
	key := u.String()
	mc := c.media

	mc.mu.Lock()
	if e := mc.entries[key]; e != nil && e.policy.fresh(c.now()) {
		mc.lru.MoveToFront(e.elem)
		m := e.media
		mc.mu.Unlock()
		return &m, nil
	}
	f := mc.flights[key]
	if f == nil {
		// Detached from the caller, who may leave while others wait; cancelled when all have left.
		flightCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
		f = &mediaFlight{done: make(chan struct{}), cancel: cancel}
		mc.flights[key] = f
		stale := mc.entries[key]
		go c.runMediaFlight(flightCtx, key, u, stale, f)
	}
	f.callers++
	mc.mu.Unlock()

	select {
	case <-f.done:
		if f.err != nil {
			return nil, f.err
		}
		m := *f.media
		return &m, nil
	case <-ctx.Done():
		mc.mu.Lock()
		if f.callers--; f.callers == 0 {
			if mc.flights[key] == f {
				delete(mc.flights, key) // the next caller starts afresh
			}
			f.cancel()
		}
		mc.mu.Unlock()
		what := "GET " + displayURL(u)
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			return nil, fmt.Errorf("%w: %s: the caller's deadline passed", ErrTimeout, what)
		}
		return nil, fmt.Errorf("%s: %w", what, ctx.Err())
	}
}

// runMediaFlight performs the shared request and publishes its result.
func (c *Client) runMediaFlight(ctx context.Context, key string, u *url.URL, stale *mediaEntry, f *mediaFlight) {
	m, err := c.fetchMediaOrigin(ctx, key, u, stale)
	c.media.mu.Lock()
	if c.media.flights[key] == f {
		delete(c.media.flights, key)
	}
	c.media.mu.Unlock()
	f.media, f.err = m, err
	close(f.done)
	f.cancel()
}

// fetchMediaOrigin asks the origin for u, conditionally when a stale entry
// has validators, and updates the cache.
func (c *Client) fetchMediaOrigin(ctx context.Context, key string, u *url.URL, stale *mediaEntry) (*Media, error) {
	what := "GET " + displayURL(u)
	reqCtx, cancel := context.WithTimeout(ctx, c.mediaTimeout)
	defer cancel()

	target := *u
	target.User = nil
	req, err := http.NewRequestWithContext(reqCtx, http.MethodGet, target.String(), nil)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrBadURL, what, err)
	}
	req.Header.Set("User-Agent", c.userAgent)
	if u.User != nil {
		pass, _ := u.User.Password()
		req.SetBasicAuth(u.User.Username(), pass)
	}
	if stale != nil {
		// RFC 9111 §4.3.1: send the validators we hold.
		if etag := stale.header.Get("ETag"); etag != "" {
			req.Header.Set("If-None-Match", etag)
		}
		if lm := stale.header.Get("Last-Modified"); lm != "" {
			req.Header.Set("If-Modified-Since", lm)
		}
	}

	requestTime := c.now()
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, transportError(reqCtx, ctx, what, c.mediaTimeout, err)
	}
	defer resp.Body.Close()
	responseTime := c.now()

	if resp.StatusCode == http.StatusNotModified && stale != nil {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
		// RFC 9111 §4.3.4: freshen the stored response with the 304's
		// header fields; the body and so the Version stay.
		header := stale.header.Clone()
		for name, values := range resp.Header {
			if name == "Content-Length" || name == "Content-Type" {
				continue
			}
			header[name] = values
		}
		m := stale.media
		c.media.store(key, &mediaEntry{
			media:  m,
			header: header,
			policy: newCachePolicy(header, requestTime, responseTime),
		})
		return &m, nil
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return nil, fmt.Errorf("%w: %s: %s", ErrStatus, what, resp.Status)
	}
	if resp.ContentLength > c.maxMediaBytes {
		return nil, fmt.Errorf("%w: %s: Content-Length %d exceeds %d bytes", ErrTooLarge, what, resp.ContentLength, c.maxMediaBytes)
	}
	body, tooLarge, err := readCapped(resp.Body, c.maxMediaBytes)
	switch {
	case tooLarge:
		return nil, fmt.Errorf("%w: %s: body exceeds %d bytes", ErrTooLarge, what, c.maxMediaBytes)
	case err != nil:
		return nil, transportError(reqCtx, ctx, what+": reading body", c.mediaTimeout, err)
	}
	m := Media{
		URL:         displayURLWithQuery(u),
		ContentType: mediaType(resp.Header),
		Body:        body,
		Version:     mediaVersion(body),
	}
	e := &mediaEntry{media: m, header: resp.Header, policy: newCachePolicy(resp.Header, requestTime, responseTime)}
	if resp.StatusCode == http.StatusOK && e.policy.storable(responseTime) {
		c.media.store(key, e)
	} else {
		c.media.remove(key)
	}
	return &m, nil
}
