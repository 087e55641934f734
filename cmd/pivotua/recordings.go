package main

import (
	"cmp"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/pivotua/pivotua/flow"
)

// recordingServer serves TwiML <Record> recordings from recordings.dir at unguessable URLs:
//
//	GET /recordings/{account_id}/{token}/{file}
//
// token is an HMAC-SHA256 (first 128 bits, hex) of the account and file name keyed by the account's
// api_key, so the URL cannot be guessed from the call-id in the file name, nothing needs storing, and
// any node sharing the config (and the recordings folder) serves it. Range requests, HEAD and
// conditional requests come from http.ServeContent; anything unknown or malformed is a 404 and
// folders are never listed.
type recordingServer struct {
	dir     string            // recordings.dir; files are dir/<account_id>/<file>
	baseURL string            // "http://host:port" the URLs start with
	keys    map[string]string // account ID -> api_key
	// writeTimeout, when set, is http.write_timeout: a recording download gets it plus
	// recordingSendTime of its size.
	writeTimeout time.Duration
}

var _ flow.RecordingLinker = (*recordingServer)(nil)

// recordingFileName is what a recording's file name may look like: the flow's <call-id>-<nanos>.wav
// (or .mp3), made file-safe.
var recordingFileName = regexp.MustCompile(`^[A-Za-z0-9_-][A-Za-z0-9._-]{0,200}\.(wav|mp3)$`)

func newRecordingServer(dir, baseURL string, keys map[string]string) *recordingServer {
	return &recordingServer{dir: dir, baseURL: strings.TrimRight(baseURL, "/"), keys: keys}
}

// publicHTTPBase is the base of URLs pivotua hands out for its own HTTP listener: the listen
// address, with an unspecified host (0.0.0.0, ::) replaced by externalIP, else loopback.
func publicHTTPBase(listen, externalIP string) string {
	ap, err := netip.ParseAddrPort(listen)
	if err != nil {
		return "http://" + listen
	}
	host := ap.Addr().String()
	if ap.Addr().IsUnspecified() {
		host = "127.0.0.1"
		if externalIP != "" {
			host = externalIP
		}
	}
	return "http://" + net.JoinHostPort(host, strconv.Itoa(int(ap.Port())))
}

// RecordingURL implements flow.RecordingLinker.
func (s *recordingServer) RecordingURL(accountID, file string) string {
	return s.baseURL + "/recordings/" + accountID + "/" + recordingToken(s.keys[accountID], accountID, file) + "/" + file
}

// recordingToken signs account/file with the account's api_key.
func recordingToken(key, accountID, file string) string {
	mac := hmac.New(sha256.New, []byte(key))
	mac.Write([]byte("pivotua recording\x00" + accountID + "/" + file))
	return hex.EncodeToString(mac.Sum(nil)[:16])
}

func (s *recordingServer) register(mux *http.ServeMux) {
	mux.HandleFunc("GET /recordings/{account}/{token}/{file}", s.serve)
}

func (s *recordingServer) serve(w http.ResponseWriter, r *http.Request) {
	account, token, file := r.PathValue("account"), r.PathValue("token"), r.PathValue("file")
	key, ok := s.keys[account]
	if !ok || key == "" || !accountIDPattern.MatchString(account) || !recordingFileName.MatchString(file) ||
		!hmac.Equal([]byte(token), []byte(recordingToken(key, account, file))) {
		http.NotFound(w, r)
		return
	}
	f, err := os.Open(filepath.Join(s.dir, account, file))
	if err != nil {
		http.NotFound(w, r)
		return
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil || !st.Mode().IsRegular() {
		http.NotFound(w, r)
		return
	}
	contentType := "audio/wav"
	if path.Ext(file) == ".mp3" {
		contentType = "audio/mpeg"
	}
	w.Header().Set("Content-Type", contentType)
	w.Header().Set("Cache-Control", "private, max-age=3600")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	if s.writeTimeout > 0 {
		// The listener's write timeout would cut a large file on a slow link. The kernel wakes a
		// writer blocked on a full send buffer only once half of it (megabytes) has drained, so a
		// deadline moved per write cuts slow readers too: the whole file gets its own.
		_ = http.NewResponseController(w).SetWriteDeadline(time.Now().Add(s.writeTimeout + recordingSendTime(st.Size())))
	}
	http.ServeContent(w, r, file, st.ModTime(), f)
}

// minRecordingRate is the slowest download of a recording that is not cut: 16,000 bytes a second,
// the rate an 8 kHz 16-bit WAV plays at, so a listener may take as long as the recording lasts.
const minRecordingRate = 16000

// recordingSendTime is how long a download of size bytes may take beyond http.write_timeout.
func recordingSendTime(size int64) time.Duration {
	return time.Duration(size/minRecordingRate+1) * time.Second
}

// Local recordings older than recordings.retention are purged: the Record files served above, and
// the local copies of uploaded ones. Two kinds are never touched whatever their age: a file that a
// pending upload is still to send (the spool replays it until the target takes it; deleting it
// would lose the recording), and a recording of a call still in progress (its next webhook may
// still hand out its URL).

// recordingUploads is what the purge asks of the upload spool (*httpfetch.Uploader).
type recordingUploads interface {
	Holds(file string) bool
}

// liveCalls is the set of calls in progress, by the form of their Call-ID that names their
// recordings. HandleCall's wrapper in serve adds and removes them; the purge reads it.
type liveCalls struct {
	mu  sync.Mutex
	ids map[string]int // recordingCallPart(call-id) -> calls in progress (a Call-ID may repeat)
}

func newLiveCalls() *liveCalls { return &liveCalls{ids: make(map[string]int)} }

// track marks callID live until the returned func is called.
func (l *liveCalls) track(callID string) (done func()) {
	key := recordingCallPart(callID)
	l.mu.Lock()
	l.ids[key]++
	l.mu.Unlock()
	return func() {
		l.mu.Lock()
		if l.ids[key]--; l.ids[key] <= 0 {
			delete(l.ids, key)
		}
		l.mu.Unlock()
	}
}

// holds reports whether file (a name in an account's folder) may be a recording of a live call.
// flow names recordings <call-id made file-safe>-<nanos>.<ext> and a Dial's
// <call-id made file-safe>-dial-<nanos>.wav; a Call-ID may itself end in "-dial", so both readings
// are tried.
func (l *liveCalls) holds(file string) bool {
	base := strings.TrimSuffix(file, path.Ext(file))
	i := strings.LastIndexByte(base, '-')
	if i < 0 {
		return false
	}
	base = base[:i]
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.ids[base] > 0 {
		return true
	}
	call, ok := strings.CutSuffix(base, "-dial")
	return ok && l.ids[call] > 0
}

// recordingCallPart is a Call-ID as flow writes it in recording file names (flow's fileSafe).
func recordingCallPart(callID string) string {
	return strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '-', r == '_', r == '.':
			return r
		}
		return '_'
	}, callID)
}

// recordingPurgeInterval is how often the purge runs for a retention: a tenth of it, between a
// second and an hour, so a file outlives its retention by at most a tenth.
func recordingPurgeInterval(retention time.Duration) time.Duration {
	return min(max(retention/10, time.Second), time.Hour)
}

// purgeRecordingsEvery purges recordings older than retention at start and every
// recordingPurgeInterval until ctx ends.
func purgeRecordingsEvery(ctx context.Context, dir string, retention time.Duration, uploads recordingUploads, live *liveCalls, log *slog.Logger) {
	t := time.NewTicker(recordingPurgeInterval(retention))
	defer t.Stop()
	for {
		n, err := purgeRecordings(dir, time.Now().Add(-retention), uploads, live)
		if n > 0 || err != nil {
			log.Info("old recordings purged", "removed", n, "retention", retention, "error", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// purgeRecordings removes recordings (names flow gives them, in account folders) last written
// before cutoff, except those uploads or live still hold. It goes on past a file it cannot remove
// and returns the first such error.
func purgeRecordings(dir string, cutoff time.Time, uploads recordingUploads, live *liveCalls) (int, error) {
	accounts, err := os.ReadDir(dir)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return 0, nil // no recording made yet
		}
		return 0, err
	}
	removed := 0
	var firstErr error
	for _, acc := range accounts {
		// Only account folders: the spool (.spool) and anything else an operator keeps here stay.
		if !acc.IsDir() || !accountIDPattern.MatchString(acc.Name()) {
			continue
		}
		accDir := filepath.Join(dir, acc.Name())
		files, err := os.ReadDir(accDir)
		if err != nil {
			firstErr = cmp.Or(firstErr, err)
			continue
		}
		for _, f := range files {
			if !f.Type().IsRegular() || !recordingFileName.MatchString(f.Name()) {
				continue
			}
			info, err := f.Info()
			if err != nil || !info.ModTime().Before(cutoff) {
				continue
			}
			p := filepath.Join(accDir, f.Name())
			if abs, err := filepath.Abs(p); err != nil || uploads.Holds(abs) || live.holds(f.Name()) {
				continue
			}
			if err := os.Remove(p); err != nil && !errors.Is(err, os.ErrNotExist) {
				firstErr = cmp.Or(firstErr, err)
				continue
			}
			removed++
		}
	}
	return removed, firstErr
}
