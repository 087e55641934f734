package flow

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"time"

	"github.com/pivotua/pivotua/httpfetch"
)

// callbackPoster posts one series of callbacks to the application (a call's status callbacks, a
// stream's or a recording's events, a Dial callee leg's progress) in the order they were posted, from a
// goroutine of its own: a slow or dead target holds neither the media nor the call. Each post is a
// request like the pivot's (httpfetch signs it, applies the deny lists, timeouts and size caps) and
// leaves a debug record (always for a failed one, else when the pivot keeps them).
//
// A post that fails for a reason a later try may not meet (no response, a timeout, 429 or 5xx) is
// tried again after a backoff that doubles, at most retries more times, each failure logged. Ordering
// holds across retries: the next post waits.
//
// post and close are called by one goroutine (the call's, or the stream's); wait by any, after close.
// A nil *callbackPoster posts nothing.
type callbackPoster struct {
	fetch     DocumentFetcher
	debug     func(Exchange) // nil: no debug records
	accountID string
	keep      bool // the pivot keeps debug records of successful exchanges too
	what      string
	log       *slog.Logger
	retries   int
	backoff   time.Duration // before the first retry; doubled for each next
	queue     chan callbackPost
	done      chan struct{}
}

// callbackPost is one request of a series and what its debug record names.
type callbackPost struct {
	event     string // for logs: "completed", "stream-started"
	req       httpfetch.PivotRequest
	callID    string
	iteration int
}

const (
	// callbackQueue bounds the callbacks of one series waiting for a slow target: a Dial leg or a
	// call has at most four, a recording three.
	callbackQueue = 8
	// callbackRetryBackoff is the wait before a failed callback's first retry (then 2x, 4x...).
	callbackRetryBackoff = time.Second
)

// callbackPosterConfig is what a poster needs of the call that starts it, copied at start.
type callbackPosterConfig struct {
	fetch     DocumentFetcher
	debug     func(Exchange)
	accountID string
	keep      bool
	what      string // names the callback in logs: "<Record> recordingStatusCallback"
	log       *slog.Logger
	retries   int           // tries after the first; 0: none
	backoff   time.Duration // 0: callbackRetryBackoff
	queue     int           // callbacks that may wait for a slow target; 0: callbackQueue
}

// newCallbackPoster starts a poster; nil when there is no fetcher to post with.
func newCallbackPoster(cfg callbackPosterConfig) *callbackPoster {
	if cfg.fetch == nil {
		return nil
	}
	if cfg.backoff <= 0 {
		cfg.backoff = callbackRetryBackoff
	}
	if cfg.queue <= 0 {
		cfg.queue = callbackQueue
	}
	if cfg.log == nil {
		cfg.log = slog.Default()
	}
	p := &callbackPoster{
		fetch: cfg.fetch, debug: cfg.debug, accountID: cfg.accountID, keep: cfg.keep, what: cfg.what, log: cfg.log,
		retries: cfg.retries, backoff: cfg.backoff,
		queue: make(chan callbackPost, cfg.queue), done: make(chan struct{}),
	}
	go p.run()
	return p
}

// post queues one callback; it never blocks. A full queue (a target slower than the series) drops it,
// logged.
func (p *callbackPoster) post(cp callbackPost) {
	if p == nil {
		return
	}
	select {
	case p.queue <- cp:
	default:
		p.log.Warn(p.what+" dropped, the queue is full", "event", cp.event, "url", cp.req.URL)
	}
}

// close ends the series: what was queued still goes out. Later posts are not allowed.
func (p *callbackPoster) close() {
	if p != nil {
		close(p.queue)
	}
}

// wait returns once every queued callback went out (or gave up); after close.
func (p *callbackPoster) wait() {
	if p != nil {
		<-p.done
	}
}

func (p *callbackPoster) run() {
	defer close(p.done)
	for cp := range p.queue {
		p.deliver(cp)
	}
}

// deliver sends one callback, retrying as the poster allows.
func (p *callbackPoster) deliver(cp callbackPost) {
	wait := p.backoff
	for attempt := 0; ; attempt++ {
		ctx, cancel := context.WithTimeout(context.Background(), cp.req.Timeout+fetchGrace)
		start := time.Now()
		doc, err := p.fetch.FetchDocument(ctx, cp.req)
		cancel()
		if p.debug != nil && (p.keep || err != nil) {
			ex := newExchange(cp.callID, cp.iteration, &cp.req, doc, time.Since(start))
			ex.AccountID, ex.Debug, ex.Err = p.accountID, p.keep, err
			p.debug(ex)
		}
		if err == nil {
			return
		}
		if attempt >= p.retries || !retryableCallback(doc, err) {
			p.log.Warn(p.what+" failed", "event", cp.event, "url", cp.req.URL, "attempts", attempt+1, "err", err)
			return
		}
		p.log.Warn(p.what+" failed, retrying", "event", cp.event, "url", cp.req.URL, "attempt", attempt+1, "retry_in", wait, "err", err)
		time.Sleep(wait)
		wait *= 2
	}
}

// retryableCallback reports whether a failed callback may succeed if tried again: no response (the
// application is down or slow), 429, or a 5xx. A 4xx, a denied address or a request that could not be
// built will not.
func retryableCallback(doc *httpfetch.Document, err error) bool {
	if errors.Is(err, httpfetch.ErrBadURL) || errors.Is(err, httpfetch.ErrBadRequest) || errors.Is(err, httpfetch.ErrDenied) {
		return false
	}
	if doc == nil || doc.Status == 0 {
		return true
	}
	return doc.Status == http.StatusTooManyRequests || doc.Status >= 500
}
