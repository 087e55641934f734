package flow

import (
	"context"
	"errors"
	"fmt"

	"github.com/pivotua/pivotua/codec"
)

// DefaultPromptCacheBytes is the prompt cache's budget when NewPromptCache gets none: two one-hour
// prompts (about 124 MB each with both laws' frames), or some 8,000 ten-second ones.
const DefaultPromptCacheBytes = 256 << 20

// PromptCache keeps decoded media prompts shared by all calls, keyed by URL and the content version
// httpfetch reports, so a file is decoded and resampled once and re-decoded only when it changes.
//
// It holds at most its budget of bytes (codec.Prompt.Bytes, which counts the samples and both laws'
// frames) and drops the least recently used. Concurrent plays of one version share one decode, which
// is killed when no call waits for it any longer; lame waits for a slot in the process limit. A prompt
// bigger than the whole budget still plays, but is decoded for each play and not kept.
type PromptCache struct {
	prompts *codec.PromptCache
	procs   *codec.ProcessLimit // nil: no cap
}

// NewPromptCache returns a cache of at most maxBytes (<= 0: DefaultPromptCacheBytes) whose decoders
// wait for a slot in procs (nil: no cap).
func NewPromptCache(maxBytes int64, procs *codec.ProcessLimit) *PromptCache {
	if maxBytes <= 0 {
		maxBytes = DefaultPromptCacheBytes
	}
	return &PromptCache{prompts: codec.NewPromptCache(maxBytes), procs: procs}
}

// Len reports how many prompts the cache holds.
func (pc *PromptCache) Len() int { return pc.prompts.Len() }

// Bytes reports the size of the prompts the cache holds; it never exceeds the budget.
func (pc *PromptCache) Bytes() int64 { return pc.prompts.Bytes() }

// loadMedia fetches an audio URL (through httpfetch's HTTP cache) and returns it decoded, from the
// prompt cache when this version of it was decoded before.
func (c *Call) loadMedia(ctx context.Context, url string) (*codec.Prompt, error) {
	if c.deps.Media == nil {
		return nil, errors.New("no media fetcher configured")
	}
	m, err := c.deps.Media.FetchMedia(ctx, url)
	if err != nil {
		return nil, err
	}
	var procs *codec.ProcessLimit
	if c.deps.Prompts != nil {
		procs = c.deps.Prompts.procs
	}
	decode := func(ctx context.Context) (*codec.Prompt, error) {
		pcm, err := codec.DecodeAudioLimited(ctx, m.Body, m.ContentType, procs)
		if err != nil {
			return nil, err
		}
		return codec.NewPrompt(pcm), nil
	}
	var p *codec.Prompt
	if c.deps.Prompts == nil || m.Version == "" {
		p, err = decode(ctx)
	} else {
		p, err = c.deps.Prompts.prompts.Get(ctx, url+"\x00"+m.Version, decode)
	}
	if err != nil {
		return nil, fmt.Errorf("decode %s: %w", url, err)
	}
	return p, nil
}

// loadMediaRef returns the audio r names decoded: a URL as loadMedia does, a media id from the
// account's media store.
func (c *Call) loadMediaRef(ctx context.Context, r mediaRef) (*codec.Prompt, error) {
	if r.url != "" {
		return c.loadMedia(ctx, r.url)
	}
	return c.loadStoredMedia(ctx, r)
}

// loadStoredMedia decodes a media id of the call's account, from the prompt cache when this upload
// of it was decoded before. Another account's media is never read, whatever the document says.
func (c *Call) loadStoredMedia(ctx context.Context, r mediaRef) (*codec.Prompt, error) {
	store := c.deps.Stored
	switch {
	case store == nil:
		return nil, errors.New("no media store configured")
	case r.id == "":
		return nil, errors.New("no media id")
	case r.account != "" && r.account != c.accountID:
		return nil, fmt.Errorf("media of account %s: a call plays its own account's media only", r.account)
	}
	version, err := store.MediaVersion(c.accountID, r.id)
	if err != nil {
		return nil, fmt.Errorf("media %s: %w", r.id, err)
	}
	var procs *codec.ProcessLimit
	if c.deps.Prompts != nil {
		procs = c.deps.Prompts.procs
	}
	decode := func(ctx context.Context) (*codec.Prompt, error) {
		data, contentType, err := store.ReadMedia(c.accountID, r.id)
		if err != nil {
			return nil, err
		}
		pcm, err := codec.DecodeAudioLimited(ctx, data, contentType, procs)
		if err != nil {
			return nil, err
		}
		return codec.NewPrompt(pcm), nil
	}
	var p *codec.Prompt
	if c.deps.Prompts == nil {
		p, err = decode(ctx)
	} else {
		// Keyed apart from URLs (which never start with "media:") and by account, then by upload.
		p, err = c.deps.Prompts.prompts.Get(ctx, "media:"+c.accountID+"/"+r.id+"\x00"+version, decode)
	}
	if err != nil {
		return nil, fmt.Errorf("media %s: %w", r.id, err)
	}
	return p, nil
}
