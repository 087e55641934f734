package debugapi

import "time"

// AuthThrottle is the failed-credentials rule of PUT /v2/api_auth for another API that takes an
// account's api_key (the Calls API's Basic auth): after DefaultAuthFailures wrong keys from one source
// (an IPv4 address, an IPv6 /64) within DefaultAuthFailWindow, that source is refused for
// DefaultAuthBlock, whatever it sends. Safe for concurrent use.
type AuthThrottle struct{ t *authThrottle }

// NewAuthThrottle returns a throttle with the defaults of PUT /v2/api_auth.
func NewAuthThrottle() *AuthThrottle {
	return &AuthThrottle{t: newAuthThrottle(0, 0, 0)}
}

// Blocked returns how long the source of a request from remoteAddr (http.Request.RemoteAddr) is still
// refused; 0 when it is not.
func (a *AuthThrottle) Blocked(remoteAddr string, now time.Time) time.Duration {
	return a.t.blocked(authSourceKey(remoteAddr), now)
}

// Failed counts one wrong credential from remoteAddr and returns how long its source is now refused
// (0: not yet).
func (a *AuthThrottle) Failed(remoteAddr string, now time.Time) time.Duration {
	return a.t.failed(authSourceKey(remoteAddr), now)
}
