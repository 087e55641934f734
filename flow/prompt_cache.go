package flow

import (
	"container/list"
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/pivotua/pivotua/codec"
)

// PromptCache keeps decoded media prompts shared by all calls, keyed by URL and the content version
// httpfetch reports, so a file is decoded and resampled once and re-decoded only when it changes. It
// holds at most maxEntries prompts and drops the least recently used.
type PromptCache struct {
	mu      sync.Mutex
	max     int
	order   *list.List // of *promptEntry, most recently used first
	entries map[string]*list.Element
}

type promptEntry struct {
	key    string
	prompt *codec.Prompt
}

// NewPromptCache returns a cache of at most maxEntries prompts (at least 1).
func NewPromptCache(maxEntries int) *PromptCache {
	return &PromptCache{max: max(maxEntries, 1), order: list.New(), entries: map[string]*list.Element{}}
}

func (pc *PromptCache) get(key string) *codec.Prompt {
	if pc == nil {
		return nil
	}
	pc.mu.Lock()
	defer pc.mu.Unlock()
	e, ok := pc.entries[key]
	if !ok {
		return nil
	}
	pc.order.MoveToFront(e)
	return e.Value.(*promptEntry).prompt
}

func (pc *PromptCache) put(key string, p *codec.Prompt) {
	if pc == nil {
		return
	}
	pc.mu.Lock()
	defer pc.mu.Unlock()
	if e, ok := pc.entries[key]; ok {
		e.Value.(*promptEntry).prompt = p
		pc.order.MoveToFront(e)
		return
	}
	pc.entries[key] = pc.order.PushFront(&promptEntry{key: key, prompt: p})
	for pc.order.Len() > pc.max {
		oldest := pc.order.Back()
		pc.order.Remove(oldest)
		delete(pc.entries, oldest.Value.(*promptEntry).key)
	}
}

// Len reports how many prompts the cache holds.
func (pc *PromptCache) Len() int {
	pc.mu.Lock()
	defer pc.mu.Unlock()
	return pc.order.Len()
}

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
	key := url + "\x00" + m.Version
	if m.Version != "" {
		if p := c.deps.Prompts.get(key); p != nil {
			return p, nil
		}
	}
	pcm, err := codec.DecodeAudio(m.Body, m.ContentType)
	if err != nil {
		return nil, fmt.Errorf("decode %s: %w", url, err)
	}
	p := codec.NewPrompt(pcm)
	if m.Version != "" {
		c.deps.Prompts.put(key, p)
	}
	return p, nil
}
