package callapi

import "errors"

// ErrUnauthorized reports a request whose credentials are not an account's id and api_key, or whose
// path names another account.
var ErrUnauthorized = errors.New("authentication failed")
