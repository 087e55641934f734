package debugapi

import (
	"fmt"
	"net/url"
	"slices"
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

// MediaStoreSettings is the media_store: section of pivotua's config file: where the Kazoo media API
// (media_api.go) keeps accounts' audio, and how much of it it takes.
type MediaStoreSettings struct {
	// Dir holds one folder per account (default data/media, relative to the config file).
	Dir string `yaml:"dir" json:"dir"`
	// MaxFileBytes bounds one uploaded file (default 10 MiB); a bigger upload gets 413.
	MaxFileBytes int `yaml:"max_file_bytes" json:"max_file_bytes"`
	// MaxPerAccount bounds the media documents of one account (default 1000).
	MaxPerAccount int `yaml:"max_per_account" json:"max_per_account"`
	// Formats are the audio formats an upload may be in: wav, mp3 (default both).
	Formats []string `yaml:"formats" json:"formats"`
}

// MediaStoreConfig is a checked media_store: section. Dir is as written: a relative folder is
// resolved by whoever read the file.
type MediaStoreConfig struct {
	Dir           string
	MaxFileBytes  int64
	MaxPerAccount int
	Formats       []string // "wav", "mp3"
}

// Bounds of the media_store: settings.
const (
	DefaultMediaFileBytes  = 10 << 20
	MaxMediaFileBytes      = 256 << 20 // a decode holds the whole file and its PCM in memory
	DefaultMediaPerAccount = 1000
	MaxMediaPerAccount     = 100000
)

// mediaFormats are the formats an upload may be in: the ones codec decodes.
var mediaFormats = []string{"wav", "mp3"}

// DefaultMediaStoreSettings is the media_store: section when the file leaves a key out.
func DefaultMediaStoreSettings() MediaStoreSettings {
	return MediaStoreSettings{Dir: "data/media", MaxFileBytes: DefaultMediaFileBytes,
		MaxPerAccount: DefaultMediaPerAccount, Formats: slices.Clone(mediaFormats)}
}

// Config checks s and returns what it sets, or every problem at once, each named by its path under
// path ("media_store.max_file_bytes: ...").
func (s MediaStoreSettings) Config(path string) (MediaStoreConfig, []error) {
	var errs []error
	bad := func(p, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", p, fmt.Sprintf(format, args...)))
	}
	if strings.TrimSpace(s.Dir) == "" {
		bad(path+".dir", "required: the folder media files are kept in")
	}
	if s.MaxFileBytes < 1024 || s.MaxFileBytes > MaxMediaFileBytes {
		bad(path+".max_file_bytes", "must be between 1024 and %d (256 MiB), not %d", MaxMediaFileBytes, s.MaxFileBytes)
	}
	if s.MaxPerAccount < 1 || s.MaxPerAccount > MaxMediaPerAccount {
		bad(path+".max_per_account", "must be between 1 and %d, not %d", MaxMediaPerAccount, s.MaxPerAccount)
	}
	if len(s.Formats) == 0 {
		bad(path+".formats", "must name at least one of %s", strings.Join(mediaFormats, ", "))
	}
	var formats []string
	for i, f := range s.Formats {
		f = strings.ToLower(strings.TrimSpace(f))
		switch {
		case !slices.Contains(mediaFormats, f):
			bad(fmt.Sprintf("%s.formats[%d]", path, i), "%q is not one of %s", s.Formats[i], strings.Join(mediaFormats, ", "))
		case slices.Contains(formats, f):
			bad(fmt.Sprintf("%s.formats[%d]", path, i), "%q is listed twice", s.Formats[i])
		default:
			formats = append(formats, f)
		}
	}
	return MediaStoreConfig{Dir: s.Dir, MaxFileBytes: int64(s.MaxFileBytes), MaxPerAccount: s.MaxPerAccount, Formats: formats}, errs
}
