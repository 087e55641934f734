package mediastream

import "errors"

var (
	// ErrBadURL is wrapped for a stream URL that is not an absolute ws:// or wss:// URL with a host.
	ErrBadURL = errors.New("mediastream: bad stream URL")

	// ErrConnect is wrapped when the WebSocket could not be opened: refused, denied by
	// fetch.deny_cidrs, a bad certificate, an HTTP answer other than 101, or no answer within
	// streams.connect_timeout.
	ErrConnect = errors.New("mediastream: connect failed")

	// ErrBadMessage is wrapped when the application sent a message that breaks the protocol or
	// a bound (size, depth, payload, queue, marks); the message says what and the stream closes.
	ErrBadMessage = errors.New("mediastream: bad message from the application")

	// ErrStalled is wrapped when a write to the application did not finish within
	// streams.stall_timeout.
	ErrStalled = errors.New("mediastream: application stalled")

	// ErrClosedByApp is returned by Run when the application closed the WebSocket.
	ErrClosedByApp = errors.New("mediastream: closed by the application")
)
