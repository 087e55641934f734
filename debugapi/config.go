package debugapi

import (
	"fmt"
	"net/url"
	"strings"
	"time"
)

// StoreSettings is the store: section of pivotua's config file, as written. It belongs
// to this package: a new store setting is a field here, its check in Config, and a
// line in the sample file.
type StoreSettings struct {
	Driver    string `yaml:"driver" json:"driver"`
	DSN       string `yaml:"dsn" json:"dsn"`
	Retention string `yaml:"retention" json:"retention"` // how long debug records are kept; default 744h (31 days)
	// QueueBytes bounds the debug records waiting for the store (default 64 MiB); past it new records
	// are dropped and counted in pivotua_debug_records_dropped_total{reason="queue_full"}.
	QueueBytes int `yaml:"queue_bytes" json:"queue_bytes"`
	// With postgres, the nodes share their calls (store_calls.go): each says it is alive every
	// Heartbeat (default 2s); one silent for DeadAfter (default 10s) is dead and its live calls are
	// ended; an update sent to a node that does not hold the call waits ForwardTimeout (default 5s)
	// for the node that does.
	Heartbeat      string `yaml:"heartbeat" json:"heartbeat"`
	DeadAfter      string `yaml:"dead_after" json:"dead_after"`
	ForwardTimeout string `yaml:"forward_timeout" json:"forward_timeout"`
}

// StoreConfig is a checked store: section. The DSN is not in it: a sqlite file named
// relative to the config file is resolved by whoever read the file.
type StoreConfig struct {
	Driver     string        // "sqlite" or "postgres", for Open
	Retention  time.Duration // for Purge
	QueueBytes int64         // for WithQueueBytes
	// For OpenCalls (postgres only).
	Heartbeat, DeadAfter, ForwardTimeout time.Duration
}

// MinQueueBytes is the smallest store.queue_bytes: a few large records (1 MiB bodies) must fit.
const MinQueueBytes = 1 << 20

// DefaultStoreSettings is the store: section when the file leaves a key out.
func DefaultStoreSettings() StoreSettings {
	return StoreSettings{Driver: "sqlite", DSN: "data/pivotua.db", Retention: "744h", QueueBytes: DefaultQueueBytes,
		Heartbeat: "2s", DeadAfter: "10s", ForwardTimeout: "5s"}
}

// Config checks s and returns what it sets, or every problem at once, each named by
// its path under path ("store.dsn: ..."). A password in a DSN quoted back is hidden.
func (s StoreSettings) Config(path string) (StoreConfig, []error) {
	var errs []error
	bad := func(p, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", p, fmt.Sprintf(format, args...)))
	}
	switch s.Driver {
	case "sqlite", "postgres":
	default:
		bad(path+".driver", "%q is not sqlite or postgres", s.Driver)
	}
	switch {
	case s.DSN == "":
		bad(path+".dsn", "required: a file for sqlite, postgres://user:pass@host:5432/db for postgres")
	case s.Driver == "postgres" && !strings.HasPrefix(s.DSN, "postgres://") && !strings.HasPrefix(s.DSN, "postgresql://"):
		bad(path+".dsn", "%q is not a postgres:// URL", redactDSN(s.DSN))
	}
	retention, err := time.ParseDuration(s.Retention)
	if err != nil || retention <= 0 {
		bad(path+".retention", "%q is not a positive duration such as 15s or 5m", s.Retention)
	}
	if s.QueueBytes < MinQueueBytes {
		bad(path+".queue_bytes", "must be at least %d (1 MiB), not %d", MinQueueBytes, s.QueueBytes)
	}
	c := StoreConfig{Driver: s.Driver, Retention: retention, QueueBytes: int64(s.QueueBytes)}
	for _, d := range []struct {
		key, value string
		to         *time.Duration
		lo, hi     time.Duration
	}{
		{"heartbeat", s.Heartbeat, &c.Heartbeat, 100 * time.Millisecond, time.Minute},
		{"dead_after", s.DeadAfter, &c.DeadAfter, time.Second, time.Hour},
		{"forward_timeout", s.ForwardTimeout, &c.ForwardTimeout, 100 * time.Millisecond, time.Minute},
	} {
		v, err := time.ParseDuration(d.value)
		if err != nil || v < d.lo || v > d.hi {
			bad(path+"."+d.key, "%q is not a duration between %v and %v", d.value, d.lo, d.hi)
			continue
		}
		*d.to = v
	}
	// Two heartbeats may be late (a busy database) before a live node reads as dead.
	if c.Heartbeat > 0 && c.DeadAfter > 0 && c.DeadAfter < 3*c.Heartbeat {
		bad(path+".dead_after", "%v must be at least three heartbeats (%v)", c.DeadAfter, 3*c.Heartbeat)
	}
	return c, errs
}

// redactDSN hides a password in a DSN quoted back in an error.
func redactDSN(dsn string) string {
	if u, err := url.Parse(dsn); err == nil && u.User != nil {
		if _, has := u.User.Password(); has {
			u.User = url.UserPassword(u.User.Username(), "xxxxx")
			return u.String()
		}
	}
	return dsn
}
