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
}

// Config is a checked recordings: section. The folder is not in it: named relative to
// the config file, it is resolved by whoever read the file.
type Config struct {
	// Retention is how long a local recording is kept; 0 keeps them forever.
	Retention time.Duration
}

// DefaultSettings is the recordings: section when the file leaves a key out.
func DefaultSettings() Settings {
	return Settings{Dir: "data/recordings", Retention: "744h"}
}

// Config checks s and returns what it sets, or every problem at once, each named by its
// path under path ("recordings.retention: ...").
func (s Settings) Config(path string) (Config, []error) {
	var (
		c    Config
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
	return c, errs
}

// UploaderOptions are the httpfetch.NewUploader options c sets (none yet: the uploader's
// defaults). The recordings' uploads are this section's to tune.
func (c Config) UploaderOptions() []httpfetch.UploaderOption {
	return nil
}
