package httpfetch

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"time"
)

// Uploader defaults.
const (
	DefaultUploadMinBackoff = time.Second
	DefaultUploadMaxBackoff = 5 * time.Minute
	DefaultUploadTimeout    = 120 * time.Second
	DefaultUploadWorkers    = 16
	// DefaultUploadAccountWorkers is how many of the workers one account's uploads may hold: an
	// account whose target hangs (each attempt up to DefaultUploadTimeout) leaves the rest to the
	// other accounts.
	DefaultUploadAccountWorkers = 4
)

// Upload is one recording to deliver: the raw bytes of File sent as the
// body of one request to URL.
type Upload struct {
	ID          string // unique among pending uploads; names the job file (1 to 128 of A-Z a-z 0-9 . _ -)
	File        string // absolute path of the finished recording (written and closed)
	URL         string // full destination URL, see RecordingUploadURL
	Method      string // PUT or POST (any case; empty means PUT)
	ContentType string // audio/wav or audio/mpeg
	CallID      string // for logs
	AccountID   string // for logs
	// Header is sent with the request, e.g. the X-Twilio-Signature of a transcription callback,
	// whose form body and URL do not change between attempts.
	Header map[string]string
}

// UploadStats counts since NewUploader.
type UploadStats struct {
	Pending        int    // jobs in the spool, being tried or waiting for a retry
	Uploaded       uint64 // jobs delivered
	Attempts       uint64 // requests made (or tried)
	FailedAttempts uint64 // attempts that did not deliver
	Failed         uint64 // jobs moved aside as .failed (file missing, corrupt job)
}

// UploadEventKind names what happened to an upload; the values suit a
// metric label.
type UploadEventKind string

// Upload events.
const (
	UploadQueued   UploadEventKind = "queued"   // persisted by Enqueue or found by Start
	UploadRetry    UploadEventKind = "retry"    // an attempt failed; another will follow
	UploadUploaded UploadEventKind = "uploaded" // delivered; the job is gone
	UploadFailed   UploadEventKind = "failed"   // cannot ever succeed; moved aside as .failed
)

// UploadEvent reports one step of an upload to an observer.
type UploadEvent struct {
	Kind       UploadEventKind
	ID         string
	CallID     string
	AccountID  string
	Attempt    int           // 1-based, counted since this process loaded the job; 0 for queued
	StatusCode int           // HTTP status of the attempt; 0 when none arrived
	Err        error         // why the attempt failed or the job was moved aside
	Elapsed    time.Duration // duration of the attempt
	NextRetry  time.Duration // for UploadRetry: the wait before the next attempt
}

// UploaderOption configures an Uploader.
type UploaderOption func(*Uploader)

// WithUploadHTTPClient makes the Uploader use hc's Transport, Jar and
// Timeout. The redirect policy stays the Uploader's own (307 and 308 only,
// which re-send the body); hc itself is not modified.
func WithUploadHTTPClient(hc *http.Client) UploaderOption {
	return func(u *Uploader) {
		if hc != nil {
			copied := *hc
			u.http = &copied
		}
	}
}

// WithUploadBackoff sets the wait after the first failed attempt (min) and
// the most it doubles to (max). Defaults 1 s and 5 min.
func WithUploadBackoff(minWait, maxWait time.Duration) UploaderOption {
	return func(u *Uploader) {
		if minWait > 0 {
			u.minBackoff = minWait
		}
		if maxWait > 0 {
			u.maxBackoff = maxWait
		}
	}
}

// WithUploadTimeout bounds each attempt: connect, sending the body and
// reading the response (default 120 s, FreeSWITCH's http_post timeout).
func WithUploadTimeout(d time.Duration) UploaderOption {
	return func(u *Uploader) {
		if d > 0 {
			u.timeout = d
		}
	}
}

// WithUploadWorkers sets how many uploads run at once (default 16), so one
// slow target does not hold up the others.
func WithUploadWorkers(n int) UploaderOption {
	return func(u *Uploader) {
		if n > 0 {
			u.workers = n
		}
	}
}

// WithUploadAccountWorkers sets how many uploads of one account (Upload.AccountID) run at once
// (default 4, never more than the workers), so one account's slow or hanging target cannot take
// every worker and delay the other accounts' recordings.
func WithUploadAccountWorkers(n int) UploaderOption {
	return func(u *Uploader) {
		if n > 0 {
			u.accountWorkers = n
		}
	}
}

// WithUploadLogger sets the logger (default slog.Default()).
func WithUploadLogger(l *slog.Logger) UploaderOption {
	return func(u *Uploader) {
		if l != nil {
			u.log = l
		}
	}
}

// WithUploadUserAgent sets the User-Agent header, as WithUserAgent does for
// a Client.
func WithUploadUserAgent(v string) UploaderOption {
	return func(u *Uploader) {
		switch {
		case v == "":
		case strings.Contains(v, "/"):
			u.userAgent = v
		default:
			u.userAgent = "pivotua/" + v
		}
	}
}

// WithUploadObserver has fn called for every UploadEvent, from the
// Uploader's goroutines; it must return quickly (count, don't block).
func WithUploadObserver(fn func(UploadEvent)) UploaderOption {
	return func(u *Uploader) { u.observe = fn }
}

// Uploader delivers recordings to developers' URLs and never drops one.
// Every job is written to the spool directory before Enqueue returns and
// removed only once the target answered 200, 201, 202 or 204; until then
// it is retried with exponential backoff, across restarts, forever. A job
// whose recording file has vanished cannot succeed: it is logged as an
// error and renamed to <id>.job.failed for an operator to see.
//
// Attempts share a pool of workers (16) of which one account holds at most
// 4, and a free worker goes to the account with the fewest attempts in
// flight: a developer whose target hangs (each attempt up to 120 s) delays
// only their own recordings.
//
// One Uploader owns its spool directory; two processes must not share one.
type Uploader struct {
	spoolDir string

	// Set by options, read-only after NewUploader.
	http       *http.Client
	userAgent  string
	minBackoff time.Duration
	maxBackoff time.Duration
	timeout    time.Duration
	workers    int
	log        *slog.Logger
	// accountWorkers caps one account's attempts in flight.
	accountWorkers int
	observe        func(UploadEvent)

	wake chan struct{} // cap 1: the set of due jobs or free workers changed

	// mu guards everything below. The dispatcher goroutine starts attempts;
	// each attempt goroutine updates its job and the counters when it ends.
	mu        sync.Mutex
	jobs      map[string]*uploadJob // every pending job, by ID; changed only by addJobLocked and dropJobLocked
	files     map[string]int        // pending jobs per Upload.File, so Holds is O(1) for the purge's every file
	active    int                   // attempts in flight
	byAccount map[string]int        // attempts in flight per Upload.AccountID (absent: 0)
	rounds    uint64                // dispatcher passes, for tests: it must sleep, not spin
	stats     UploadStats           // Pending is computed in Stats
	started   bool
	closed    bool
	runCancel context.CancelFunc // cancels in-flight attempts
	stop      chan struct{}      // closed by Close: start no more attempts
	stopped   chan struct{}      // closed when the dispatcher returns
	attempts  sync.WaitGroup     // attempt goroutines
}

// uploadJob is a pending Upload and its retry state; guarded by Uploader.mu.
type uploadJob struct {
	up       Upload
	enqueued time.Time
	ready    bool      // persisted (Enqueue may still be writing the file)
	running  bool      // an attempt is in flight
	failures int       // failed attempts since this process loaded the job
	next     time.Time // earliest time of the next attempt
}

// NewUploader returns an Uploader whose jobs live in spoolDir, which is
// created if needed. Nothing is sent before Start.
func NewUploader(spoolDir string, opts ...UploaderOption) (*Uploader, error) {
	if spoolDir == "" {
		return nil, fmt.Errorf("%w: empty spool directory", ErrBadUpload)
	}
	dir, err := filepath.Abs(spoolDir)
	if err != nil {
		return nil, fmt.Errorf("upload spool: %w", err)
	}
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, fmt.Errorf("upload spool: %w", err)
	}
	transport := http.DefaultTransport.(*http.Transport).Clone()
	transport.MaxIdleConnsPerHost = DefaultUploadWorkers
	u := &Uploader{
		spoolDir:   dir,
		http:       &http.Client{Transport: transport},
		userAgent:  DefaultUserAgent,
		minBackoff: DefaultUploadMinBackoff,
		maxBackoff: DefaultUploadMaxBackoff,
		timeout:    DefaultUploadTimeout,
		workers:    DefaultUploadWorkers,
		log:        slog.Default(),
		byAccount:  make(map[string]int),

		accountWorkers: DefaultUploadAccountWorkers,
		wake:           make(chan struct{}, 1),
		jobs:           make(map[string]*uploadJob),
		files:          make(map[string]int),
		stop:           make(chan struct{}),
		stopped:        make(chan struct{}),
	}
	for _, o := range opts {
		o(u)
	}
	u.maxBackoff = max(u.maxBackoff, u.minBackoff)
	u.accountWorkers = min(u.accountWorkers, u.workers)
	u.http.CheckRedirect = checkUploadRedirect
	return u, nil
}

// Start loads every job found in the spool (left by an earlier run or by
// Enqueue before Start) and starts delivering. It returns once the jobs
// are loaded; ctx bounds the Uploader's life like Close without the grace.
func (u *Uploader) Start(ctx context.Context) error {
	u.mu.Lock()
	switch {
	case u.closed:
		u.mu.Unlock()
		return ErrUploaderClosed
	case u.started:
		u.mu.Unlock()
		return ErrUploaderStarted
	}
	u.started = true
	runCtx, cancel := context.WithCancel(ctx)
	u.runCancel = cancel
	u.mu.Unlock()

	loaded, err := u.loadSpool()
	if err != nil {
		cancel()
		close(u.stopped)
		return err
	}
	if loaded > 0 {
		u.log.Info("upload spool loaded", "dir", u.spoolDir, "pending", loaded)
	}
	go u.dispatch(runCtx)
	return nil
}

// Enqueue validates up, writes its job to the spool (synced to disk) and
// only then returns; the first attempt starts at once when the Uploader is
// running. The recording file must exist. After Close the job is still
// written, and is delivered by the next Start.
func (u *Uploader) Enqueue(up Upload) error {
	up, err := normalizeUpload(up)
	if err != nil {
		return err
	}
	if fi, err := os.Stat(up.File); err != nil {
		return fmt.Errorf("%w: %v", ErrBadUpload, err)
	} else if !fi.Mode().IsRegular() {
		return fmt.Errorf("%w: %s is not a regular file", ErrBadUpload, up.File)
	}
	job := &uploadJob{up: up, enqueued: time.Now()}
	u.mu.Lock()
	if _, dup := u.jobs[up.ID]; dup {
		u.mu.Unlock()
		return fmt.Errorf("%w: %s", ErrUploadExists, up.ID)
	}
	closed := u.closed
	if !closed {
		u.addJobLocked(job) // reserved; the dispatcher skips it until ready
	}
	u.mu.Unlock()

	if err := u.writeJob(job); err != nil {
		u.mu.Lock()
		u.dropJobLocked(job)
		u.mu.Unlock()
		return err
	}
	u.emit(UploadEvent{Kind: UploadQueued, ID: up.ID, CallID: up.CallID, AccountID: up.AccountID})
	if closed {
		u.log.Warn("uploader closed: upload kept in the spool for the next start",
			"upload_id", up.ID, "call_id", up.CallID, "account_id", up.AccountID)
		return nil
	}
	u.log.Info("upload queued", "upload_id", up.ID, "call_id", up.CallID, "account_id", up.AccountID,
		"url", uploadLogURL(up.URL), "file", up.File)
	u.mu.Lock()
	job.ready, job.next = true, time.Now()
	u.mu.Unlock()
	u.poke()
	return nil
}

// Holds reports whether a pending upload (queued, being sent or waiting for
// a retry) is to send file, an absolute path: such a file must not be
// deleted, or the recording is lost.
func (u *Uploader) Holds(file string) bool {
	file = filepath.Clean(file)
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.files[file] > 0
}

// addJobLocked makes job pending. u.mu is held.
func (u *Uploader) addJobLocked(job *uploadJob) {
	u.jobs[job.up.ID] = job
	u.files[job.up.File]++
}

// dropJobLocked ends a pending job: delivered, given up, or never saved.
// u.mu is held.
func (u *Uploader) dropJobLocked(job *uploadJob) {
	if u.jobs[job.up.ID] != job {
		return
	}
	delete(u.jobs, job.up.ID)
	if u.files[job.up.File]--; u.files[job.up.File] <= 0 {
		delete(u.files, job.up.File)
	}
}

// Stats returns the counters.
func (u *Uploader) Stats() UploadStats {
	u.mu.Lock()
	defer u.mu.Unlock()
	s := u.stats
	s.Pending = len(u.jobs)
	return s
}

// Close starts no more attempts and waits for those in flight until ctx is
// done, then cancels them and returns ctx's error. Every job not delivered
// stays in the spool for the next Start.
func (u *Uploader) Close(ctx context.Context) error {
	u.mu.Lock()
	if u.closed {
		u.mu.Unlock()
		return nil
	}
	u.closed = true
	started, cancel := u.started, u.runCancel
	close(u.stop)
	u.mu.Unlock()
	if !started {
		return nil
	}
	<-u.stopped
	done := make(chan struct{})
	go func() {
		u.attempts.Wait()
		close(done)
	}()
	select {
	case <-done:
		cancel()
		return nil
	case <-ctx.Done():
		cancel()
		<-done
		return ctx.Err()
	}
}

// poke wakes the dispatcher without blocking.
func (u *Uploader) poke() {
	select {
	case u.wake <- struct{}{}:
	default:
	}
}

// dispatch starts attempts for due jobs while workers are free, and sleeps
// until the next job falls due or something changes.
func (u *Uploader) dispatch(ctx context.Context) {
	defer close(u.stopped)
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		u.mu.Lock()
		u.rounds++
		wait := u.startDueLocked(ctx)
		u.mu.Unlock()
		if wait < 0 {
			wait = time.Hour
		}
		timer.Reset(wait)
		select {
		case <-ctx.Done():
			return
		case <-u.stop:
			return
		case <-u.wake:
		case <-timer.C:
		}
	}
}

// startDueLocked starts attempts for due jobs while workers are free, and
// returns how long until the earliest job that is not yet due (negative
// when there is none). A free worker goes to the account with the fewest
// attempts in flight, under its cap, and within it to the job due first:
// an account whose target hangs holds at most accountWorkers workers, and
// a newcomer is served before it gets another. u.mu is held.
func (u *Uploader) startDueLocked(ctx context.Context) time.Duration {
	now := time.Now()
	for u.active < u.workers {
		var due *uploadJob
		for _, j := range u.jobs {
			if !j.ready || j.running || j.next.After(now) {
				continue
			}
			busy := u.byAccount[j.up.AccountID]
			if busy >= u.accountWorkers {
				continue
			}
			if due == nil {
				due = j
				continue
			}
			if dueBusy := u.byAccount[due.up.AccountID]; busy < dueBusy || (busy == dueBusy && j.next.Before(due.next)) {
				due = j
			}
		}
		if due == nil {
			break
		}
		due.running = true
		u.active++
		u.byAccount[due.up.AccountID]++
		u.attempts.Add(1)
		go u.runAttempt(ctx, due)
	}
	// Due jobs left waiting for a worker are not counted: the attempt that
	// frees one pokes the dispatcher, and counting them (a wait of 0) would
	// spin it while every worker hangs.
	wait := time.Duration(-1)
	for _, j := range u.jobs {
		if j.ready && !j.running && j.next.After(now) {
			if d := j.next.Sub(now); wait < 0 || d < wait {
				wait = d
			}
		}
	}
	return wait
}

// runAttempt makes one attempt for job and records the outcome.
func (u *Uploader) runAttempt(ctx context.Context, job *uploadJob) {
	defer u.attempts.Done()
	u.mu.Lock()
	up, attempt := job.up, job.failures+1
	u.stats.Attempts++
	u.mu.Unlock()

	started := time.Now()
	res := u.attempt(ctx, up)
	elapsed := time.Since(started)
	ev := UploadEvent{ID: up.ID, CallID: up.CallID, AccountID: up.AccountID, Attempt: attempt,
		StatusCode: res.status, Err: res.err, Elapsed: elapsed}
	attrs := []any{"upload_id", up.ID, "call_id", up.CallID, "account_id", up.AccountID,
		"url", uploadLogURL(up.URL), "attempt", attempt, "elapsed", elapsed.Round(time.Millisecond)}
	if res.status != 0 {
		attrs = append(attrs, "status", res.status)
	}

	var fail bool
	switch {
	case res.err == nil:
		ev.Kind = UploadUploaded
		if err := u.removeJob(up.ID); err != nil {
			// Delivered all the same; at worst the next start sends it again.
			u.log.Error("upload delivered but its job file could not be removed", append(attrs, "error", err)...)
		}
		u.log.Info("recording uploaded", append(attrs, "bytes", res.bytes)...)
	case res.missing:
		ev.Kind, fail = UploadFailed, true
		aside, err := u.failJob(up.ID)
		if err != nil {
			attrs = append(attrs, "move_error", err)
		}
		u.log.Error("recording file missing: upload can never succeed, job moved aside",
			append(attrs, "file", up.File, "error", res.err, "job", aside)...)
	default:
		ev.Kind, fail = UploadRetry, true
	}

	u.mu.Lock()
	job.running = false
	u.active--
	if u.byAccount[up.AccountID]--; u.byAccount[up.AccountID] <= 0 {
		delete(u.byAccount, up.AccountID)
	}
	if fail {
		u.stats.FailedAttempts++
	}
	switch ev.Kind {
	case UploadUploaded:
		u.stats.Uploaded++
		u.dropJobLocked(job)
	case UploadFailed:
		u.stats.Failed++
		u.dropJobLocked(job)
	case UploadRetry:
		job.failures++
		ev.NextRetry = max(u.backoff(job.failures), res.retryAfter)
		ev.NextRetry = min(ev.NextRetry, u.maxBackoff)
		job.next = time.Now().Add(ev.NextRetry)
	}
	u.mu.Unlock()

	if ev.Kind == UploadRetry {
		attrs = append(attrs, "error", res.err, "next_retry", ev.NextRetry.Round(time.Millisecond))
		if res.body != "" {
			attrs = append(attrs, "response", res.body)
		}
		if ctx.Err() != nil {
			u.log.Info("upload interrupted by shutdown; kept in the spool", attrs...)
		} else {
			u.log.Warn("upload attempt failed; will retry", attrs...)
		}
	}
	u.emit(ev)
	u.poke()
}

// backoff is the wait after the n-th consecutive failure: min doubling up
// to max, less up to a fifth at random so jobs that failed together (a
// target that was down) do not retry in lockstep.
func (u *Uploader) backoff(n int) time.Duration {
	d := u.maxBackoff
	if n < 32 {
		d = min(u.minBackoff<<(n-1), u.maxBackoff)
		if d <= 0 { // overflow
			d = u.maxBackoff
		}
	}
	return d - rand.N(d/5+1)
}

func (u *Uploader) emit(ev UploadEvent) {
	if u.observe != nil {
		u.observe(ev)
	}
}

// uploadIDPattern keeps IDs usable as file names (<id>.job, so even "."
// and ".." are safe): no separators, nothing a shell or a log would mangle.
var uploadIDPattern = regexp.MustCompile(`^[A-Za-z0-9._-]{1,128}$`)

// normalizeUpload checks up and returns it with Method upper-cased and
// defaulted.
func normalizeUpload(up Upload) (Upload, error) {
	if !uploadIDPattern.MatchString(up.ID) {
		return up, fmt.Errorf("%w: ID %q (want 1 to 128 of A-Z a-z 0-9 . _ -)", ErrBadUpload, up.ID)
	}
	if !filepath.IsAbs(up.File) {
		return up, fmt.Errorf("%w: file %q is not an absolute path", ErrBadUpload, up.File)
	}
	up.File = filepath.Clean(up.File)
	if _, err := parseHTTPURL(up.URL); err != nil {
		return up, fmt.Errorf("%w: %w", ErrBadUpload, err)
	}
	switch up.Method = strings.ToUpper(up.Method); up.Method {
	case "":
		up.Method = http.MethodPut
	case http.MethodPut, http.MethodPost:
	default:
		return up, fmt.Errorf("%w: method %q (want PUT or POST)", ErrBadUpload, up.Method)
	}
	if strings.TrimSpace(up.ContentType) == "" || strings.ContainsAny(up.ContentType, "\r\n") {
		return up, fmt.Errorf("%w: content type %q", ErrBadUpload, up.ContentType)
	}
	return up, nil
}

// uploadLogURL is the URL for logs: no credentials, no query (which may
// hold a token).
func uploadLogURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(unparsable URL)"
	}
	return displayURL(u)
}

// recordingExtPattern is what RecordingUploadURL accepts as an extension.
var recordingExtPattern = regexp.MustCompile(`^[A-Za-z0-9]{1,8}$`)

// RecordingUploadURL builds Kazoo's record_caller destination:
// <base without trailing '/'>/<call-id>.<ext>. Unlike Kazoo, which pastes
// the call-id in raw, it is escaped as one path segment (a '/' or '?' in a
// SIP Call-ID cannot change the path or start a query), and the name is
// added to the path, so a query on base (an access token, say) is kept
// after it rather than broken.
func RecordingUploadURL(base, callID, ext string) (string, error) {
	u, err := parseHTTPURL(base)
	if err != nil {
		return "", err
	}
	if callID == "" {
		return "", fmt.Errorf("%w: empty call-id", ErrBadUpload)
	}
	if !recordingExtPattern.MatchString(ext) {
		return "", fmt.Errorf("%w: extension %q", ErrBadUpload, ext)
	}
	name := url.PathEscape(callID) + "." + ext
	escaped := strings.TrimRight(u.EscapedPath(), "/") + "/" + name
	path, err := url.PathUnescape(escaped)
	if err != nil {
		return "", fmt.Errorf("%w: %q: %v", ErrBadURL, base, err)
	}
	u.Path, u.RawPath = path, escaped
	return u.String(), nil
}

// drainLimit is how much of a response body is read so the connection can
// be reused; larger bodies close the connection instead.
const drainLimit = 64 << 10

func drainClose(body io.ReadCloser) {
	io.Copy(io.Discard, io.LimitReader(body, drainLimit))
	body.Close()
}
