package codec

import "fmt"

// TTSSettings is the tts: section of pivotua's config file. It belongs to this package:
// a new text-to-speech setting is a field here, its check in Validate, and a line in
// the sample file.
type TTSSettings struct {
	Engine string `yaml:"engine" json:"engine"` // flite | espeak-ng
	// CacheBytes bounds the rendered speech kept for reuse (default 64 MiB).
	CacheBytes int64 `yaml:"cache_bytes" json:"cache_bytes"`
}

// MinCacheBytes is the smallest cache a setting may ask for: under 1 MiB holds not even
// a minute of audio.
const MinCacheBytes = 1 << 20

// DefaultTTSSettings is the tts: section when the file leaves a key out.
func DefaultTTSSettings() TTSSettings {
	return TTSSettings{Engine: "flite", CacheBytes: DefaultSpeechCacheBytes}
}

// Validate names every problem in s by its path under path ("tts.engine: ...").
func (s TTSSettings) Validate(path string) []error {
	var errs []error
	switch s.Engine {
	case "flite", "espeak-ng":
	default:
		errs = append(errs, fmt.Errorf("%s.engine: %q is not flite or espeak-ng", path, s.Engine))
	}
	if s.CacheBytes < MinCacheBytes {
		errs = append(errs, fmt.Errorf("%s.cache_bytes: must be at least %d (1 MiB), not %d", path, MinCacheBytes, s.CacheBytes))
	}
	return errs
}

// NewCache is the speech cache s describes, its engines' processes counted by procs.
func (s TTSSettings) NewCache(procs *ProcessLimit) *SpeechCache {
	return NewSpeechCache(s.Engine, s.CacheBytes, procs)
}
