package flow

import (
	"fmt"

	"github.com/pivotua/pivotua/codec"
)

// MediaSettings is the media: section of pivotua's config file: what webhooks' media may
// cost in memory and processes. It belongs to this package: a new media setting is a
// field here, its check in Validate, and a line in the sample file.
type MediaSettings struct {
	// PromptCacheBytes bounds the decoded prompts kept for reuse (default 256 MiB); a prompt bigger
	// than all of it still plays, but is decoded for each play.
	PromptCacheBytes int64 `yaml:"prompt_cache_bytes" json:"prompt_cache_bytes"`
	// MaxProcesses caps the lame, flite and espeak-ng processes running at once; 0 means twice the CPUs.
	MaxProcesses int `yaml:"max_processes" json:"max_processes"`
}

// MaxProcesses bounds media.max_processes: more lame/flite/espeak-ng processes than this
// would starve the send clock of CPU on any box.
const MaxProcesses = 1024

// DefaultMediaSettings is the media: section when the file leaves a key out.
func DefaultMediaSettings() MediaSettings {
	return MediaSettings{PromptCacheBytes: DefaultPromptCacheBytes}
}

// Validate names every problem in s by its path under path ("media.max_processes: ...").
func (s MediaSettings) Validate(path string) []error {
	var errs []error
	if s.PromptCacheBytes < codec.MinCacheBytes {
		errs = append(errs, fmt.Errorf("%s.prompt_cache_bytes: must be at least %d (1 MiB), not %d", path, codec.MinCacheBytes, s.PromptCacheBytes))
	}
	if s.MaxProcesses < 0 || s.MaxProcesses > MaxProcesses {
		errs = append(errs, fmt.Errorf("%s.max_processes: must be 0 (twice the CPUs) or up to %d, not %d", path, MaxProcesses, s.MaxProcesses))
	}
	return errs
}

// NewProcessLimit is the one cap s sets for lame, flite and espeak-ng together.
func (s MediaSettings) NewProcessLimit() *codec.ProcessLimit {
	return codec.NewProcessLimit(s.MaxProcesses)
}

// NewPromptCache is the prompt cache s describes, its decoders counted by procs.
func (s MediaSettings) NewPromptCache(procs *codec.ProcessLimit) *PromptCache {
	return NewPromptCache(s.PromptCacheBytes, procs)
}
