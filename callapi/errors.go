package callapi

import "errors"

// ErrUnauthorized reports a request whose credentials are not an account's id and api_key, or whose
// path names another account.
var ErrUnauthorized = errors.New("authentication failed")

var (
	// ErrDraining reports a call not placed because the process is shutting down.
	ErrDraining = errors.New("this node is shutting down")
	// ErrTooManyCalls reports a call not placed because the account is at api.max_calls or
	// api.calls_per_second; the error says which.
	ErrTooManyCalls = errors.New("too many calls")
)
