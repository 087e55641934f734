package main

import (
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"

	"github.com/pivotua/pivotua/internal/testkit"
)

// TestQueuedLoggerWritesEveryLineInOrder: lines logged from several goroutines are all written once
// flush returns, each goroutine's in the order it logged them, with the attributes a With gave and
// more than slog keeps inline in a record.
func TestQueuedLoggerWritesEveryLineInOrder(t *testing.T) {
	var out testkit.SyncBuffer
	log, flush := newLogger(&out, "info", "text")
	log.Debug("not written")
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			l := log.With("g", g)
			for i := range 500 {
				l.Info("line", "i", i, "a", 1, "b", 2, "c", 3, "d", 4, "e", 5)
			}
		})
	}
	wg.Wait()
	flush()
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != 2000 {
		t.Fatalf("%d lines written, want 2000", len(lines))
	}
	next := map[string]int{}
	for _, line := range lines {
		var g, i int
		if _, err := fmt.Sscanf(line[strings.Index(line, "msg=line"):], "msg=line g=%d i=%d a=1 b=2 c=3 d=4 e=5", &g, &i); err != nil {
			t.Fatalf("line %q: %v", line, err)
		}
		if key := fmt.Sprint(g); i != next[key] {
			t.Fatalf("goroutine %d: line %d written where %d was due", g, i, next[key])
		} else {
			next[key]++
		}
	}
}

var _ slog.Handler = queuedHandler{}
