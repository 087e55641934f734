package mediastream

import (
	"fmt"
	"time"
)

// Settings is the streams: section of pivotua's config file, as written: what a media stream's
// application may cost. It belongs to this package: a new setting is a field here, its check in
// Config, and a line in the sample file.
type Settings struct {
	// ConnectTimeout bounds the TCP, TLS and WebSocket handshakes (default 5s).
	ConnectTimeout string `yaml:"connect_timeout" json:"connect_timeout"`
	// StallTimeout closes a stream whose application has not taken a message for this long
	// (default 10s): its audio would only pile up.
	StallTimeout string `yaml:"stall_timeout" json:"stall_timeout"`
	// MaxMessageBytes bounds one message from the application (default 65536).
	MaxMessageBytes int `yaml:"max_message_bytes" json:"max_message_bytes"`
	// MaxQueuedAudio bounds the application's audio waiting to be played (default 10s); audio
	// beyond it closes the stream.
	MaxQueuedAudio string `yaml:"max_queued_audio" json:"max_queued_audio"`
	// MaxPendingMarks bounds the marks waiting for their audio to play (default 128).
	MaxPendingMarks int `yaml:"max_pending_marks" json:"max_pending_marks"`
}

// Config is a checked streams: section.
type Config struct {
	ConnectTimeout  time.Duration
	StallTimeout    time.Duration
	MaxMessageBytes int
	MaxQueuedAudio  time.Duration
	MaxPendingMarks int
}

// Limits of the settings: a message must hold at least a 20 ms frame in base64 and its envelope;
// an hour of queued audio (28.8 MB a call) is more than any application needs.
const (
	minMessageBytes  = 1024
	maxMessageBytes  = 16 << 20
	maxQueuedAudio   = time.Hour
	maxPendingMarks  = 65536
	minQueuedAudio   = 20 * time.Millisecond
	maxTimeoutConfig = 10 * time.Minute
)

// DefaultSettings is the streams: section when the file leaves a key out.
func DefaultSettings() Settings {
	return Settings{ConnectTimeout: "5s", StallTimeout: "10s", MaxMessageBytes: 64 << 10, MaxQueuedAudio: "10s", MaxPendingMarks: 128}
}

// DefaultConfig is DefaultSettings checked.
func DefaultConfig() Config {
	c, _ := DefaultSettings().Config("streams")
	return c
}

// Config checks s and returns what it sets, or every problem at once, each named by its path under
// path ("streams.connect_timeout: ...").
func (s Settings) Config(path string) (Config, []error) {
	var errs []error
	bad := func(p, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s.%s: %s", path, p, fmt.Sprintf(format, args...)))
	}
	duration := func(p, v string, lo, hi time.Duration) time.Duration {
		d, err := time.ParseDuration(v)
		if err != nil || d < lo || d > hi {
			bad(p, "%q is not a duration between %v and %v", v, lo, hi)
		}
		return d
	}
	c := Config{
		ConnectTimeout:  duration("connect_timeout", s.ConnectTimeout, time.Millisecond, maxTimeoutConfig),
		StallTimeout:    duration("stall_timeout", s.StallTimeout, time.Millisecond, maxTimeoutConfig),
		MaxQueuedAudio:  duration("max_queued_audio", s.MaxQueuedAudio, minQueuedAudio, maxQueuedAudio),
		MaxMessageBytes: s.MaxMessageBytes,
		MaxPendingMarks: s.MaxPendingMarks,
	}
	if s.MaxMessageBytes < minMessageBytes || s.MaxMessageBytes > maxMessageBytes {
		bad("max_message_bytes", "must be between %d and %d, not %d", minMessageBytes, maxMessageBytes, s.MaxMessageBytes)
	}
	if s.MaxPendingMarks < 1 || s.MaxPendingMarks > maxPendingMarks {
		bad("max_pending_marks", "must be between 1 and %d, not %d", maxPendingMarks, s.MaxPendingMarks)
	}
	return c, errs
}

// QueueBytes is MaxQueuedAudio in bytes of 8 kHz PCMU, rounded up to whole 20 ms frames.
func (c Config) QueueBytes() int {
	frames := (c.MaxQueuedAudio + 20*time.Millisecond - 1) / (20 * time.Millisecond)
	return int(frames) * 160
}
