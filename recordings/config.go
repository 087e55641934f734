package recordings

import (
	"fmt"
	"time"

	"github.com/pivotua/pivotua/httpfetch"
)

// Settings is the recordings: section of pivotua's config file, as written. It belongs
// to this package: a new recordings setting is a field here, its check in Config, and
// a line in the sample file.
type Settings struct {
	Dir string `yaml:"dir" json:"dir"`
	// Retention is how long local recordings are kept (default 744h, as store.retention); "0"
	// keeps them forever. One still waiting in the upload spool or of a live call is never purged.
	Retention string `yaml:"retention" json:"retention"`
	// UploadWorkers is how many recording uploads run at once (default 16), so one slow target
	// does not hold up the others.
	UploadWorkers int `yaml:"upload_workers" json:"upload_workers"`
	// UploadWorkersPerAccount is how many of them one account's uploads may hold (default 4), so
	// one account's hanging target cannot delay every other account's recordings.
	UploadWorkersPerAccount int `yaml:"upload_workers_per_account" json:"upload_workers_per_account"`
}

// Config is a checked recordings: section. The folder is not in it: named relative to
// the config file, it is resolved by whoever read the file.
type Config struct {
	// Retention is how long a local recording is kept; 0 keeps them forever.
	Retention time.Duration
	// UploadWorkers and UploadWorkersPerAccount size the upload pool (UploaderOptions).
	UploadWorkers, UploadWorkersPerAccount int
}

// MaxUploadWorkers bounds recordings.upload_workers: each worker may hold a file open and a
// connection, and a thousand at once already outruns any one uplink.
const MaxUploadWorkers = 1024

// DefaultSettings is the recordings: section when the file leaves a key out.
func DefaultSettings() Settings {
	return Settings{
		Dir: "data/recordings", Retention: "744h",
		UploadWorkers: httpfetch.DefaultUploadWorkers, UploadWorkersPerAccount: httpfetch.DefaultUploadAccountWorkers,
	}
}

// Config checks s and returns what it sets, or every problem at once, each named by its
// path under path ("recordings.retention: ...").
func (s Settings) Config(path string) (Config, []error) {
	var (
		c    = Config{UploadWorkers: s.UploadWorkers, UploadWorkersPerAccount: s.UploadWorkersPerAccount}
		errs []error
	)
	bad := func(p, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", p, fmt.Sprintf(format, args...)))
	}
	if s.Retention != "0" {
		d, err := time.ParseDuration(s.Retention)
		if err != nil || d <= 0 {
			bad(path+".retention", "%q is not a positive duration such as 15s or 5m", s.Retention)
		}
		c.Retention = d
	}
	if s.UploadWorkers < 1 || s.UploadWorkers > MaxUploadWorkers {
		bad(path+".upload_workers", "must be between 1 and %d, not %d", MaxUploadWorkers, s.UploadWorkers)
	}
	if s.UploadWorkersPerAccount < 1 || s.UploadWorkersPerAccount > max(s.UploadWorkers, 1) {
		bad(path+".upload_workers_per_account", "must be between 1 and upload_workers (%d), not %d", s.UploadWorkers, s.UploadWorkersPerAccount)
	}
	return c, errs
}

// UploaderOptions are the httpfetch.NewUploader options c sets: the size of the upload pool.
func (c Config) UploaderOptions() []httpfetch.UploaderOption {
	return []httpfetch.UploaderOption{
		httpfetch.WithUploadWorkers(c.UploadWorkers),
		httpfetch.WithUploadAccountWorkers(c.UploadWorkersPerAccount),
	}
}
