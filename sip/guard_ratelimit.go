package sip

import (
	"net/netip"
	"sync"
	"time"
)

// RateLimit caps out-of-dialog requests per source address, as Kamailio's pike
// does: more than Requests in one Window, and the source is ignored for Block.
type RateLimit struct {
	Requests int // per Window from one source; 0 turns the limit off
	Window   time.Duration
	Block    time.Duration
	// Exempt lists trusted sources (a busy carrier sends far more).
	Exempt []netip.Prefix
}

// maxTrackedSources bounds the limiter's memory under a spoofed-source flood;
// beyond it new sources go uncounted rather than blocked.
const maxTrackedSources = 100_000

// rateLimiter counts requests per source in fixed windows.
type rateLimiter struct {
	cfg RateLimit
	now func() time.Time

	mu      sync.Mutex // guards sources
	sources map[netip.Addr]*sourceCount
}

type sourceCount struct {
	start        time.Time // of the current window
	n            int
	blockedUntil time.Time
}

func newRateLimiter(cfg RateLimit) *rateLimiter {
	return &rateLimiter{cfg: cfg, now: time.Now, sources: map[netip.Addr]*sourceCount{}}
}

func (r *rateLimiter) exempt(src netip.Addr) bool {
	for _, p := range r.cfg.Exempt {
		if p.Contains(src) {
			return true
		}
	}
	return false
}

// allow counts one request from src. It reports false while src is blocked;
// blockedNow is true for the request that started the block.
func (r *rateLimiter) allow(src netip.Addr) (ok, blockedNow bool) {
	if r == nil || r.cfg.Requests <= 0 || r.exempt(src) {
		return true, false
	}
	now := r.now()
	r.mu.Lock()
	defer r.mu.Unlock()
	c := r.sources[src]
	if c == nil {
		if len(r.sources) >= maxTrackedSources {
			r.sweep(now)
			if len(r.sources) >= maxTrackedSources {
				return true, false
			}
		}
		c = &sourceCount{start: now}
		r.sources[src] = c
	}
	if now.Before(c.blockedUntil) {
		return false, false
	}
	if now.Sub(c.start) >= r.cfg.Window {
		c.start, c.n = now, 0
	}
	c.n++
	if c.n > r.cfg.Requests {
		c.blockedUntil = now.Add(r.cfg.Block)
		c.n = 0
		return false, true
	}
	return true, false
}

// sweep forgets sources neither blocked nor seen within the last window.
func (r *rateLimiter) sweep(now time.Time) {
	for a, c := range r.sources {
		if now.After(c.blockedUntil) && now.Sub(c.start) >= r.cfg.Window {
			delete(r.sources, a)
		}
	}
}
