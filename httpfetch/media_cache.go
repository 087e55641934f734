package httpfetch

import (
	"container/list"
	"context"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
)

// mediaCache is a private HTTP cache (RFC 9111) of media bodies, bounded by
// their total size and evicting the least recently used entry.
type mediaCache struct {
	mu        sync.Mutex // guards everything below
	maxBytes  int64      // set before first use
	usedBytes int64
	lru       *list.List // of cache keys; front = most recently used
	entries   map[string]*mediaEntry
	flights   map[string]*mediaFlight // requests in progress, by key
}

// mediaEntry is immutable once stored except elem (guarded by mediaCache.mu):
// a revalidation stores a new entry that shares the body.
type mediaEntry struct {
	media  Media
	header http.Header
	policy cachePolicy
	elem   *list.Element
}

func (e *mediaEntry) size() int64 { return int64(len(e.media.Body) + len(e.media.URL)) }

// mediaFlight is one shared origin request; media and err are written once
// before done is closed and only read after.
type mediaFlight struct {
	done    chan struct{}
	media   *Media
	err     error
	cancel  context.CancelFunc // ends the request; called when no caller waits
	callers int                // callers waiting; guarded by mediaCache.mu
}

func newMediaCache(maxBytes int64) *mediaCache {
	return &mediaCache{
		maxBytes: maxBytes,
		lru:      list.New(),
		entries:  make(map[string]*mediaEntry),
		flights:  make(map[string]*mediaFlight),
	}
}

// store replaces key's entry with e, then evicts from the cold end until the
// cache fits. An entry bigger than the whole cache is not kept.
func (mc *mediaCache) store(key string, e *mediaEntry) {
	mc.mu.Lock()
	defer mc.mu.Unlock()
	mc.removeLocked(key)
	if e.size() > mc.maxBytes {
		return
	}
	e.elem = mc.lru.PushFront(key)
	mc.entries[key] = e
	mc.usedBytes += e.size()
	for mc.usedBytes > mc.maxBytes {
		mc.removeLocked(mc.lru.Back().Value.(string))
	}
}

func (mc *mediaCache) remove(key string) {
	mc.mu.Lock()
	mc.removeLocked(key)
	mc.mu.Unlock()
}

func (mc *mediaCache) removeLocked(key string) {
	e := mc.entries[key]
	if e == nil {
		return
	}
	mc.lru.Remove(e.elem)
	delete(mc.entries, key)
	mc.usedBytes -= e.size()
}

// cachePolicy is what a response's header fields allow a private cache.
type cachePolicy struct {
	noStore    bool      // RFC 9111 §5.2.2.5
	noCache    bool      // §5.2.2.4: every reuse must be revalidated
	varyAll    bool      // Vary: * (§4.1) never matches a later request
	validators bool      // ETag or Last-Modified: revalidation possible
	freshUntil time.Time // zero: never fresh
}

// newCachePolicy reads Cache-Control, Expires, Date, Age, ETag,
// Last-Modified and Vary. There is no heuristic freshness: a response that
// states no lifetime is not reused without revalidation.
func newCachePolicy(h http.Header, requestTime, responseTime time.Time) cachePolicy {
	var p cachePolicy
	maxAge := int64(-1)
	for _, line := range h.Values("Cache-Control") {
		for directive := range strings.SplitSeq(line, ",") {
			name, value, _ := strings.Cut(strings.TrimSpace(directive), "=")
			switch strings.ToLower(strings.TrimSpace(name)) {
			case "no-store":
				p.noStore = true
			case "no-cache":
				// The qualified form (no-cache="field") is treated as
				// unqualified: stricter, and always allowed.
				p.noCache = true
			case "max-age":
				// §4.2.1: a private cache uses max-age and ignores s-maxage.
				n, err := strconv.ParseInt(strings.Trim(strings.TrimSpace(value), `"`), 10, 64)
				if err != nil || n < 0 {
					n = 0 // §4.2.1: an invalid max-age means stale
				}
				if maxAge < 0 {
					maxAge = n
				}
			}
		}
	}
	for _, v := range h.Values("Vary") {
		for f := range strings.SplitSeq(v, ",") {
			if strings.TrimSpace(f) == "*" {
				p.varyAll = true
			}
		}
	}
	p.validators = h.Get("ETag") != "" || h.Get("Last-Modified") != ""

	date, err := http.ParseTime(h.Get("Date"))
	if err != nil {
		date = responseTime
	}
	var lifetime time.Duration
	switch {
	case maxAge >= 0:
		lifetime = time.Duration(min(maxAge, int64(100*365*24*3600))) * time.Second
	case h.Get("Expires") != "":
		// §5.3: an invalid Expires (such as "0") means already expired.
		if exp, err := http.ParseTime(h.Get("Expires")); err == nil {
			lifetime = exp.Sub(date)
		}
	default:
		return p
	}
	if lifetime <= 0 {
		return p
	}
	// §4.2.3: the age the response already had when it arrived.
	apparentAge := max(0, responseTime.Sub(date))
	correctedAge := responseTime.Sub(requestTime)
	if age, err := strconv.ParseInt(strings.TrimSpace(h.Get("Age")), 10, 64); err == nil && age > 0 {
		correctedAge += time.Duration(age) * time.Second
	}
	p.freshUntil = responseTime.Add(lifetime - max(apparentAge, correctedAge))
	return p
}

// fresh reports whether the stored response may be reused without asking
// the origin.
func (p cachePolicy) fresh(now time.Time) bool {
	return !p.noCache && now.Before(p.freshUntil)
}

// storable reports whether keeping the response can ever save a download.
func (p cachePolicy) storable(now time.Time) bool {
	if p.noStore || p.varyAll {
		return false
	}
	return p.fresh(now) || p.validators
}
