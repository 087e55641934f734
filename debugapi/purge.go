package debugapi

import (
	"context"
	"log/slog"
	"time"
)

// DefaultRetention is how long records are kept: 31 days, Kazoo's crossbar.maximum_range.
const DefaultRetention = 31 * 24 * time.Hour

// PurgeEvery deletes records older than retention from s once at once and then every interval, until
// ctx ends. A failed purge is logged and tried again at the next tick.
func PurgeEvery(ctx context.Context, s Store, retention, interval time.Duration, log *slog.Logger) {
	if log == nil {
		log = slog.Default()
	}
	purge := func() {
		cutoff := time.Now().Add(-retention)
		n, err := s.Purge(ctx, cutoff)
		switch {
		case err != nil && ctx.Err() == nil:
			log.Warn("debug store purge failed", "older_than", cutoff.UTC().Format(time.RFC3339), "error", err)
		case n > 0:
			log.Info("debug store purged", "records", n, "older_than", cutoff.UTC().Format(time.RFC3339))
		}
	}
	purge()
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			purge()
		}
	}
}
