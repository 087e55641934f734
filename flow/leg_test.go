package flow

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"
)

// TestDroppedKeysAreNotLoggedOneByOne: a caller pressing keys nobody reads (no Gather running) must not
// write a log line per key.
func TestDroppedKeysAreNotLoggedOneByOne(t *testing.T) {
	var buf bytes.Buffer
	l := newLegMedia(context.Background(), nil, nil, slog.New(slog.NewTextHandler(&buf, nil)))
	for range digitBuffer + 50 {
		l.deliverDigit('5', "rfc4733")
	}
	if n := strings.Count(buf.String(), "dtmf dropped"); n != 1 {
		t.Errorf("%d log lines for 50 dropped keys, want 1:\n%s", n, buf.String())
	}
}

// TestDroppedKeysAreSummedUp: after the first line, one line at most every droppedKeysLogEvery says
// how many keys were dropped, and closing the leg sums up the rest.
func TestDroppedKeysAreSummedUp(t *testing.T) {
	var buf bytes.Buffer
	l := newLegMedia(context.Background(), nil, nil, slog.New(slog.NewTextHandler(&buf, nil)))
	now := time.Unix(1_000_000, 0)
	l.now = func() time.Time { return now }
	for range digitBuffer + 30 {
		l.deliverDigit('5', "rfc4733")
	}
	now = now.Add(droppedKeysLogEvery)
	l.deliverDigit('6', "sip-info") // the 31st: a summary of the 30 since the first line
	for range 7 {
		l.deliverDigit('7', "inband")
	}
	l.logDroppedKeys()
	l.logDroppedKeys() // nothing left to say
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 3 || !strings.Contains(lines[0], "key=5") || !strings.Contains(lines[1], "dropped=30") ||
		!strings.Contains(lines[2], "dropped=7") {
		t.Errorf("log lines:\n%s\nwant the first key, then dropped=30, then dropped=7 at the end", buf.String())
	}
}

// TestBoundEndsWithTheLeg: what a verb plays or sends on a leg stops when the leg ends, whether the
// verb's context descends from the leg's (a call's verbs) or not (a Dial's callee document).
func TestBoundEndsWithTheLeg(t *testing.T) {
	for _, c := range []struct {
		name   string
		parent func(t *testing.T, l *legMedia) context.Context
	}{
		{"under the leg's context", func(t *testing.T, l *legMedia) context.Context {
			ctx, cancel := context.WithCancel(l.Context())
			t.Cleanup(cancel)
			return ctx
		}},
		{"under another context", func(*testing.T, *legMedia) context.Context { return context.Background() }},
	} {
		t.Run(c.name, func(t *testing.T) {
			parent, cancelParent := context.WithCancel(context.Background())
			defer cancelParent()
			l := newLegMedia(parent, nil, nil, slog.New(slog.DiscardHandler))
			ctx, cancel := l.bound(c.parent(t, &l))
			defer cancel()
			if ctx.Err() != nil {
				t.Fatal("the bound context ended before the leg did")
			}
			cancelParent() // the dialog ends
			select {
			case <-ctx.Done():
			case <-time.After(5 * time.Second):
				t.Fatal("the bound context did not end with the leg")
			}
		})
	}
}
