package codec

import (
	"container/list"
	"context"
	"fmt"
	"sync"

	"golang.org/x/sync/singleflight"
)

// PromptCache keeps prompts by key within a budget of bytes (Prompt.Bytes),
// least recently used out first, and makes each missing prompt once however
// many callers ask for it at the same time.
//
// The making runs for as long as at least one caller waits for it. When the
// last waiting caller gives up (its context ends, say because the call hung
// up), the making's context is cancelled, which kills the lame, flite or
// espeak-ng process behind it; the next caller starts afresh. A prompt
// bigger than the whole budget is handed to the callers that waited for it
// but not kept: it plays, and each later call makes it again. Failures are
// not kept either. A PromptCache is safe for concurrent use.
type PromptCache struct {
	maxBytes int64
	group    singleflight.Group // one make per key at a time

	mu      sync.Mutex // guards everything below
	used    int64      // sum of the held entries' sizes
	lru     *list.List // of *promptCacheEntry; front = most recently used
	entries map[string]*list.Element
	makes   map[string]*promptMake // makes callers may join, by key
}

type promptCacheEntry struct {
	key    string
	prompt *Prompt
	size   int64
}

// promptMake is one making and the callers waiting for it. ctx is detached
// from every caller's and cancelled when waiters drops to zero.
type promptMake struct {
	ctx     context.Context
	cancel  context.CancelFunc
	waiters int // guarded by PromptCache.mu
}

// NewPromptCache returns a cache holding at most maxBytes (at least 1).
func NewPromptCache(maxBytes int64) *PromptCache {
	return &PromptCache{
		maxBytes: max(maxBytes, 1),
		lru:      list.New(),
		entries:  make(map[string]*list.Element),
		makes:    make(map[string]*promptMake),
	}
}

// Get returns key's prompt, from the cache or else from build, which runs
// once for all the callers that want key meanwhile. ctx bounds only this
// caller's wait; build's context ends when no caller waits any longer.
func (c *PromptCache) Get(ctx context.Context, key string, build func(context.Context) (*Prompt, error)) (*Prompt, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	c.mu.Lock()
	if e, ok := c.entries[key]; ok {
		c.lru.MoveToFront(e)
		p := e.Value.(*promptCacheEntry).prompt
		c.mu.Unlock()
		return p, nil
	}
	m := c.makes[key]
	if m == nil {
		mctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
		m = &promptMake{ctx: mctx, cancel: cancel}
		c.makes[key] = m
	}
	m.waiters++
	// Joined under mu, so that the waiters counted in m are the callers of
	// the make singleflight runs with m (DoChan only starts a goroutine or
	// adds a channel): leave can then cancel m without failing a caller
	// counted elsewhere. run takes mu only on its own goroutine.
	done := c.group.DoChan(key, func() (any, error) { return c.run(key, m, build) })
	c.mu.Unlock()

	select {
	case r := <-done:
		c.leave(key, m, false)
		if r.Err != nil {
			return nil, r.Err
		}
		return r.Val.(*Prompt), nil
	case <-ctx.Done():
		c.leave(key, m, true)
		return nil, ctx.Err()
	}
}

func (c *PromptCache) run(key string, m *promptMake, build func(context.Context) (*Prompt, error)) (*Prompt, error) {
	p, err := buildSafely(m.ctx, build)
	c.mu.Lock()
	if c.makes[key] == m {
		delete(c.makes, key)
	}
	if err == nil {
		c.storeLocked(key, p)
	}
	c.mu.Unlock()
	m.cancel()
	return p, err
}

// buildSafely turns a panic into an error: singleflight.DoChan re-panics on
// a goroutine of its own, which would end the process.
func buildSafely(ctx context.Context, build func(context.Context) (*Prompt, error)) (p *Prompt, err error) {
	defer func() {
		if r := recover(); r != nil {
			p, err = nil, fmt.Errorf("making a prompt panicked: %v", r)
		}
	}()
	p, err = build(ctx)
	if err == nil && p == nil {
		err = fmt.Errorf("making a prompt returned none")
	}
	return p, err
}

// leave counts a caller out of m. The last one out cancels m's context:
// after a result that frees it; after giving up it kills the making, and
// the key is forgotten so that the next caller does not join a making that
// is being cancelled.
func (c *PromptCache) leave(key string, m *promptMake, gaveUp bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if m.waiters--; m.waiters > 0 {
		return
	}
	if c.makes[key] == m {
		delete(c.makes, key)
		if gaveUp {
			c.group.Forget(key)
		}
	}
	m.cancel()
}

func (c *PromptCache) storeLocked(key string, p *Prompt) {
	if e, ok := c.entries[key]; ok {
		c.removeLocked(e)
	}
	size := p.Bytes() + int64(len(key))
	if size > c.maxBytes {
		return
	}
	c.entries[key] = c.lru.PushFront(&promptCacheEntry{key: key, prompt: p, size: size})
	c.used += size
	for c.used > c.maxBytes {
		c.removeLocked(c.lru.Back())
	}
}

func (c *PromptCache) removeLocked(e *list.Element) {
	entry := c.lru.Remove(e).(*promptCacheEntry)
	delete(c.entries, entry.key)
	c.used -= entry.size
}

// Len is how many prompts the cache holds.
func (c *PromptCache) Len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.lru.Len()
}

// Bytes is the total size of the prompts held, never more than the budget.
func (c *PromptCache) Bytes() int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.used
}

// MaxBytes is the budget.
func (c *PromptCache) MaxBytes() int64 { return c.maxBytes }
