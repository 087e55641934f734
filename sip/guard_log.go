package sip

import (
	"context"
	"fmt"
	"log/slog"
	"sort"
	"strings"
	"sync"
	"time"
)

// inputSummaryInterval is how often a stream of refused input is reported at
// warning level; each refusal is also logged at debug with a one-line summary.
const inputSummaryInterval = 10 * time.Second

// inputSummary makes hostile input cheap to log: a line per refused message at
// debug (first line only, truncated), and at most one warning per interval
// with the counts by kind, so a flood neither fills the log nor hides.
type inputSummary struct {
	log *slog.Logger
	now func() time.Time

	mu       sync.Mutex // guards the fields below
	counts   map[string]int
	since    time.Time
	lastSrc  string
	reported time.Time
}

func newInputSummary(log *slog.Logger) *inputSummary {
	return &inputSummary{log: log, now: time.Now, counts: map[string]int{}}
}

// note records one refused message of kind from src; detail says what was wrong.
func (s *inputSummary) note(kind, src, detail string, msg []byte) {
	if s.log.Enabled(context.Background(), slog.LevelDebug) {
		s.log.Debug("SIP input refused", "kind", kind, "source", src, "detail", detail,
			"first_line", firstLine(msg), "bytes", len(msg))
	}
	s.tally(kind, src)
}

// tally counts one message of kind from src toward the next summary warning,
// for callers that log their own debug line (with a call_id, say): anything a
// remote party can repeat at will is counted here, never logged above debug
// one by one.
func (s *inputSummary) tally(kind, src string) {
	now := s.now()
	s.mu.Lock()
	if len(s.counts) == 0 {
		s.since = now
	}
	s.counts[kind]++
	s.lastSrc = src
	if now.Sub(s.reported) < inputSummaryInterval {
		s.mu.Unlock()
		return
	}
	kinds := make([]string, 0, len(s.counts))
	total := 0
	for k, n := range s.counts {
		kinds = append(kinds, fmt.Sprintf("%s=%d", k, n))
		total += n
	}
	sort.Strings(kinds)
	since, last := s.since, s.lastSrc
	s.counts, s.reported = map[string]int{}, now
	s.mu.Unlock()
	s.log.Warn("SIP input refused or dropped", "count", total, "kinds", strings.Join(kinds, " "),
		"since", since.Format(time.RFC3339), "last_source", last)
}

// firstLine is a message's start line, at most 120 bytes, for logs.
func firstLine(msg []byte) string {
	s := string(msg)
	if i := strings.IndexAny(s, "\r\n"); i >= 0 {
		s = s[:i]
	}
	if len(s) > 120 {
		s = s[:120] + "..."
	}
	return strings.ToValidUTF8(s, "?")
}

// noisyRecords are the lines sipgo writes at ERROR or WARN, with the whole
// message, about input it could not parse or route: hostile input decides
// how often they happen.
var noisyRecords = map[string]string{
	"failed to parse":                                    "unparsable",
	"Server tx failed to handle request":                 "unmatched-request",
	"Client tx failed to handle response":                "unmatched-response",
	"Failed to send stateless 400 for malformed request": "unanswerable",
	"SIP request handler not found":                      "unknown-method",
}

// summarizingHandler is the slog handler given to sipgo: its noisyRecords go
// to the inputSummary, everything else (real faults) passes unchanged.
type summarizingHandler struct {
	next    slog.Handler
	summary *inputSummary
}

func (h summarizingHandler) Enabled(ctx context.Context, l slog.Level) bool {
	return h.next.Enabled(ctx, l)
}

func (h summarizingHandler) Handle(ctx context.Context, r slog.Record) error {
	kind, noisy := noisyRecords[r.Message]
	if !noisy {
		return h.next.Handle(ctx, r)
	}
	var src, data, detail string
	r.Attrs(func(a slog.Attr) bool {
		switch a.Key {
		case "data":
			data = a.Value.String()
		case "error":
			detail = a.Value.String()
		case "raddr", "source":
			src = a.Value.String()
		case "req":
			data = a.Value.String()
		}
		return true
	})
	h.summary.note(kind, src, detail, []byte(data))
	return nil
}

func (h summarizingHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return summarizingHandler{next: h.next.WithAttrs(as), summary: h.summary}
}

func (h summarizingHandler) WithGroup(name string) slog.Handler {
	return summarizingHandler{next: h.next.WithGroup(name), summary: h.summary}
}
