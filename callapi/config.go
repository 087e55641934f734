package callapi

import (
	"fmt"
	"time"
)

// Settings is the api: section of pivotua's config file, as written. It belongs to this package: a new
// setting is a field here, its check in Config, and a line in the sample file.
type Settings struct {
	// MaxCalls is how many calls placed through the API one account may have live at once (default
	// 100); the next gets 429 (Twilio code 20429).
	MaxCalls int `yaml:"max_calls" json:"max_calls"`
	// CallsPerSecond is how many calls one account may place per second (default 10), with bursts of
	// as many; beyond it 429.
	CallsPerSecond float64 `yaml:"calls_per_second" json:"calls_per_second"`
	// KeepEnded is how long an ended call stays listed (default 24h); MaxEnded how many are kept at
	// most (default 10000), the oldest forgotten first.
	KeepEnded string `yaml:"keep_ended" json:"keep_ended"`
	MaxEnded  int    `yaml:"max_ended" json:"max_ended"`
}

// Config is a checked api: section.
type Config struct {
	MaxCalls       int
	CallsPerSecond float64
	KeepEnded      time.Duration
	MaxEnded       int
}

// Bounds of the api: settings: beyond them a typo, not a plan.
const (
	maxMaxCalls       = 100000
	maxCallsPerSecond = 10000
	maxMaxEnded       = 1000000
)

// DefaultSettings is the api: section when the file leaves a key out.
func DefaultSettings() Settings {
	return Settings{MaxCalls: 100, CallsPerSecond: 10, KeepEnded: "24h", MaxEnded: 10000}
}

// Config checks s and returns what it sets, or every problem at once, each named by its path under
// path ("api.max_calls: ...").
func (s Settings) Config(path string) (Config, []error) {
	c := Config{MaxCalls: s.MaxCalls, CallsPerSecond: s.CallsPerSecond, MaxEnded: s.MaxEnded}
	var errs []error
	bad := func(p, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", p, fmt.Sprintf(format, args...)))
	}
	if s.MaxCalls < 1 || s.MaxCalls > maxMaxCalls {
		bad(path+".max_calls", "must be between 1 and %d, not %d", maxMaxCalls, s.MaxCalls)
	}
	if !(s.CallsPerSecond > 0 && s.CallsPerSecond <= maxCallsPerSecond) {
		bad(path+".calls_per_second", "must be above 0 and at most %d, not %v", maxCallsPerSecond, s.CallsPerSecond)
	}
	d, err := time.ParseDuration(s.KeepEnded)
	if err != nil || d <= 0 {
		bad(path+".keep_ended", "%q is not a positive duration such as 1h or 24h", s.KeepEnded)
	}
	c.KeepEnded = d
	if s.MaxEnded < 0 || s.MaxEnded > maxMaxEnded {
		bad(path+".max_ended", "must be between 0 and %d, not %d", maxMaxEnded, s.MaxEnded)
	}
	return c, errs
}
