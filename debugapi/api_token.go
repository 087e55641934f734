package debugapi

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"time"
)

// DefaultTokenTTL is how long an auth token from PUT /v2/api_auth is valid.
const DefaultTokenTTL = time.Hour

// maxTokenLen bounds an auth token before it is parsed.
const maxTokenLen = 512

// Tokens are stateless: "<account_id>.<expiry unix seconds>.<mac>", mac = URL-safe base64 of
// HMAC-SHA256(api_key, "<account_id>.<expiry>"). Any node that shares the accounts' api_keys accepts
// a token another node issued, and no store is involved. A changed api_key revokes its tokens.

func signToken(accountID, apiKey string, expires time.Time) string {
	payload := accountID + "." + strconv.FormatInt(expires.Unix(), 10)
	return payload + "." + tokenMAC(apiKey, payload)
}

func tokenMAC(apiKey, payload string) string {
	m := hmac.New(sha256.New, []byte(apiKey))
	m.Write([]byte(payload))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// Why a request's token was refused: the 401's message, so a client knows what to fix.
var (
	errTokenMissing = errors.New("no auth token: send the auth_token from PUT /v2/api_auth as X-Auth-Token (or ?auth_token=)")
	errTokenInvalid = errors.New("invalid credentials: the auth token is not one this server issued (or its account's api_key changed)")
	errTokenExpired = errors.New("the auth token has expired: get a new one with PUT /v2/api_auth")
)

// verifyToken returns the account a token was issued to, or why it cannot be used: missing, not
// ours (malformed, an unknown account, a wrong signature) or expired at now.
func verifyToken(token string, apiKeys map[string]Account, now time.Time) (string, error) {
	if token == "" {
		return "", errTokenMissing
	}
	if len(token) > maxTokenLen {
		return "", errTokenInvalid
	}
	dot := strings.LastIndexByte(token, '.')
	if dot < 0 {
		return "", errTokenInvalid
	}
	payload, mac := token[:dot], token[dot+1:]
	accountID, expiry, ok := strings.Cut(payload, ".")
	if !ok {
		return "", errTokenInvalid
	}
	acc, ok := apiKeys[accountID]
	if !ok || !hmac.Equal([]byte(mac), []byte(tokenMAC(acc.APIKey, payload))) {
		return "", errTokenInvalid
	}
	exp, err := strconv.ParseInt(expiry, 10, 64)
	if err != nil {
		return "", errTokenInvalid
	}
	if now.Unix() >= exp {
		return "", errTokenExpired
	}
	return accountID, nil
}

// Failed PUT /v2/api_auth throttle defaults: after AuthFailures wrong keys from one source within
// AuthFailWindow, that source gets 429 for AuthBlock, whatever key it sends.
const (
	DefaultAuthFailures   = 5
	DefaultAuthFailWindow = time.Minute
	DefaultAuthBlock      = 5 * time.Minute
	// maxAuthSources bounds the sources tracked; past it, expired ones are swept and then the
	// oldest window goes, so a flood of addresses costs memory only up to here.
	maxAuthSources = 10000
)

// authThrottle counts failed api_key exchanges per source: a /64 for IPv6 (one host's share), the
// address for IPv4. A blocked source is refused even the right key, or a guess that hits would
// still show; a right key does not clear the count, or one known key would reset the guessing of
// another account's.
type authThrottle struct {
	failures int
	window   time.Duration
	block    time.Duration

	mu      sync.Mutex
	sources map[netip.Prefix]*authSource
}

type authSource struct {
	windowStart  time.Time
	failed       int
	blockedUntil time.Time
}

func newAuthThrottle(failures int, window, block time.Duration) *authThrottle {
	if failures <= 0 {
		failures = DefaultAuthFailures
	}
	if window <= 0 {
		window = DefaultAuthFailWindow
	}
	if block <= 0 {
		block = DefaultAuthBlock
	}
	return &authThrottle{failures: failures, window: window, block: block, sources: make(map[netip.Prefix]*authSource)}
}

// authSourceKey is who a request counts against: the peer's address (r.RemoteAddr), not a
// forwarded header a client can write.
func authSourceKey(remoteAddr string) netip.Prefix {
	ap, err := netip.ParseAddrPort(remoteAddr)
	if err != nil {
		return netip.Prefix{}
	}
	a := ap.Addr().Unmap()
	if a.Is6() {
		p, _ := a.Prefix(64)
		return p
	}
	return netip.PrefixFrom(a, 32)
}

// blocked returns how long src is still refused, 0 when it is not.
func (t *authThrottle) blocked(src netip.Prefix, now time.Time) time.Duration {
	t.mu.Lock()
	defer t.mu.Unlock()
	s, ok := t.sources[src]
	if !ok || !now.Before(s.blockedUntil) {
		return 0
	}
	return s.blockedUntil.Sub(now)
}

// failed counts one wrong key from src and returns how long src is now blocked (0: not yet).
func (t *authThrottle) failed(src netip.Prefix, now time.Time) time.Duration {
	t.mu.Lock()
	defer t.mu.Unlock()
	s, ok := t.sources[src]
	if !ok {
		if len(t.sources) >= maxAuthSources {
			t.sweepLocked(now)
		}
		s = &authSource{windowStart: now}
		t.sources[src] = s
	}
	if now.Sub(s.windowStart) >= t.window {
		s.windowStart, s.failed = now, 0
	}
	s.failed++
	if s.failed >= t.failures {
		s.blockedUntil = now.Add(t.block)
		s.windowStart, s.failed = s.blockedUntil, 0 // counting starts afresh after the block
		return t.block
	}
	return 0
}

// sweepLocked drops sources whose window and block are over, then, if still full, the one whose
// window started first. t.mu is held.
func (t *authThrottle) sweepLocked(now time.Time) {
	var oldest netip.Prefix
	var oldestStart time.Time
	for k, s := range t.sources {
		if now.Sub(s.windowStart) >= t.window && !now.Before(s.blockedUntil) {
			delete(t.sources, k)
			continue
		}
		if oldestStart.IsZero() || s.windowStart.Before(oldestStart) {
			oldest, oldestStart = k, s.windowStart
		}
	}
	if len(t.sources) >= maxAuthSources {
		delete(t.sources, oldest)
	}
}

// tooManyFailures answers 429 with Retry-After (RFC 6585 §4) in the error envelope.
func (rp *reply) tooManyFailures(wait time.Duration) {
	secs := int64((wait + time.Second - 1) / time.Second)
	rp.w.Header().Set("Retry-After", strconv.FormatInt(secs, 10))
	rp.fail(http.StatusTooManyRequests, "too many failed api_key attempts from this address; retry after "+strconv.FormatInt(secs, 10)+" s")
}
