package recordings

import (
	"cmp"
	"context"
	"errors"
	"log/slog"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/pivotua/pivotua/codec"
)

// Local recordings older than recordings.retention are purged: the Record files served above, and
// the local copies of uploaded ones. Two kinds are never touched whatever their age: a file that a
// pending upload is still to send (the spool replays it until the target takes it; deleting it
// would lose the recording), and a recording of a call still in progress (its next webhook may
// still hand out its URL).

// Uploads is what the purge asks of the upload spool (*httpfetch.Uploader).
type Uploads interface {
	Holds(file string) bool
}

// LiveCalls is the set of calls in progress, by the form of their Call-ID that names their
// recordings. HandleCall's wrapper in serve adds and removes them; the purge reads it.
type LiveCalls struct {
	mu  sync.Mutex
	ids map[string]int // CallPart(call-id) -> calls in progress (a Call-ID may repeat)
}

// NewLiveCalls is an empty set of live calls.
func NewLiveCalls() *LiveCalls { return &LiveCalls{ids: make(map[string]int)} }

// track marks callID live until the returned func is called.
func (l *LiveCalls) Track(callID string) (done func()) {
	key := CallPart(callID)
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
func (l *LiveCalls) holds(file string) bool {
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

// CallPart is a Call-ID as flow writes it in recording file names: codec.CallIDFilePart,
// which flow uses too, so no Call-ID names files the server or the purge never match.
func CallPart(callID string) string { return codec.CallIDFilePart(callID) }

// PurgeInterval is how often the purge runs for a retention: a tenth of it, between a
// second and an hour, so a file outlives its retention by at most a tenth.
func PurgeInterval(retention time.Duration) time.Duration {
	return min(max(retention/10, time.Second), time.Hour)
}

// PurgeEvery purges recordings older than retention at start and every
// PurgeInterval until ctx ends.
func PurgeEvery(ctx context.Context, dir string, retention time.Duration, uploads Uploads, live *LiveCalls, log *slog.Logger) {
	t := time.NewTicker(PurgeInterval(retention))
	defer t.Stop()
	for {
		n, err := Purge(dir, time.Now().Add(-retention), uploads, live)
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

// transcriptionFileName is a <Record transcribe> callback's body, kept beside its recording until the
// spool delivered it (flow/transcribe.go); never served, but purged like the recording.
var transcriptionFileName = regexp.MustCompile(`^[A-Za-z0-9_-][A-Za-z0-9._-]{0,200}\.transcription$`)

// purgeable reports whether a file of an account folder is one pivotua wrote and may purge.
func purgeable(name string) bool {
	return recordingFileName.MatchString(name) || transcriptionFileName.MatchString(name)
}

// Purge removes recordings and transcription bodies (names flow gives them, in account folders) last written
// before cutoff, except those uploads or live still hold. It goes on past a file it cannot remove
// and returns the first such error.
func Purge(dir string, cutoff time.Time, uploads Uploads, live *LiveCalls) (int, error) {
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
			if !f.Type().IsRegular() || !purgeable(f.Name()) {
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
