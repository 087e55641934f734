package httpfetch

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"
)

// attemptResult is what one upload attempt came to.
type attemptResult struct {
	err        error         // nil when delivered
	missing    bool          // the recording file is gone: retrying cannot help
	status     int           // HTTP status, 0 when no response arrived
	bytes      int64         // body bytes sent
	body       string        // start of a refusing response's body, for the log
	retryAfter time.Duration // from a Retry-After header on a refusal
}

// uploadSuccess is FreeSWITCH http_put's set of success statuses.
func uploadSuccess(code int) bool {
	switch code {
	case http.StatusOK, http.StatusCreated, http.StatusAccepted, http.StatusNoContent:
		return true
	}
	return false
}

// maxLoggedBody is how much of a refusing response's body goes in the log.
const maxLoggedBody = 256

// attempt sends up.File as the raw request body, streamed from disk with
// its Content-Length, within the per-attempt timeout.
func (u *Uploader) attempt(ctx context.Context, up Upload) attemptResult {
	f, err := os.Open(up.File)
	if err != nil {
		return attemptResult{err: err, missing: errors.Is(err, os.ErrNotExist)}
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return attemptResult{err: err}
	}
	size := fi.Size()

	ctx, cancel := context.WithTimeout(ctx, u.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, up.Method, up.URL, nil)
	if err != nil {
		return attemptResult{err: fmt.Errorf("%w: %v", ErrBadURL, err)}
	}
	// A SectionReader per send: 307/308 redirects re-send the body through
	// GetBody, and ReadAt needs no shared offset.
	req.Body = io.NopCloser(io.NewSectionReader(f, 0, size))
	req.GetBody = func() (io.ReadCloser, error) {
		return io.NopCloser(io.NewSectionReader(f, 0, size)), nil
	}
	req.ContentLength = size
	if size == 0 {
		req.Body, req.GetBody = http.NoBody, func() (io.ReadCloser, error) { return http.NoBody, nil }
	}
	for name, v := range up.Header {
		req.Header.Set(name, v)
	}
	req.Header.Set("Content-Type", up.ContentType)
	req.Header.Set("User-Agent", u.userAgent)

	resp, err := u.http.Do(req)
	if err != nil {
		if ctx.Err() == context.DeadlineExceeded {
			return attemptResult{err: fmt.Errorf("%w: no answer within %v: %v", ErrTimeout, u.timeout, stripURLError(err))}
		}
		return attemptResult{err: fmt.Errorf("%w: %v", ErrConnect, stripURLError(err))}
	}
	defer drainClose(resp.Body)
	res := attemptResult{status: resp.StatusCode, bytes: size}
	if uploadSuccess(resp.StatusCode) {
		return res
	}
	res.err = fmt.Errorf("%w: %s", ErrStatus, resp.Status)
	snippet, _ := io.ReadAll(io.LimitReader(resp.Body, maxLoggedBody))
	res.body = strings.TrimSpace(strings.ToValidUTF8(string(snippet), "?"))
	res.retryAfter = parseRetryAfter(resp.Header.Get("Retry-After"), time.Now())
	return res
}

// stripURLError drops *url.Error's "Put \"<url>\": " prefix, which would
// put the query (and a token in it) in the log.
func stripURLError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

// parseRetryAfter reads a Retry-After header (RFC 9110 §10.2.3: seconds or
// an HTTP date); 0 when absent or unparsable.
func parseRetryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if secs, err := strconv.ParseInt(v, 10, 64); err == nil {
		if secs <= 0 {
			return 0
		}
		return time.Duration(min(secs, int64(24*time.Hour/time.Second))) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil && t.After(now) {
		return t.Sub(now)
	}
	return 0
}

// checkUploadRedirect follows only 307 and 308, which repeat the method
// and the body. Go turns a PUT or POST answered 301/302/303 into a GET
// without the body, whose 200 would pass for a delivered recording; such a
// response is returned instead and counts as a failed attempt.
func checkUploadRedirect(req *http.Request, via []*http.Request) error {
	if len(via) > MaxRedirects {
		return http.ErrUseLastResponse
	}
	if req.Response == nil {
		return http.ErrUseLastResponse
	}
	switch req.Response.StatusCode {
	case http.StatusTemporaryRedirect, http.StatusPermanentRedirect:
		return nil
	}
	return http.ErrUseLastResponse
}
