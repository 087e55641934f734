package media

import "errors"

var (
	// ErrNoPorts is returned by Engine.Open when every even port in the range
	// is in use or cannot be bound.
	ErrNoPorts = errors.New("media: no free RTP port")

	// ErrMediaTimeout is a session's Err after no RTP arrived for the media
	// timeout; its Done channel is closed then.
	ErrMediaTimeout = errors.New("media: RTP timeout")

	// ErrClosed is returned by calls on a closed session or engine, and is a
	// session's Err after Close.
	ErrClosed = errors.New("media: closed")

	// ErrBusy is returned by Play while another Play runs on the same session,
	// by SendDigits while another SendDigits runs, and by StartRecording
	// while a recording is active: callers serialise them.
	ErrBusy = errors.New("media: busy")

	// ErrNoTelephoneEvent is returned by SendDigits when the session has no
	// negotiated RFC 4733 telephone-event payload type.
	ErrNoTelephoneEvent = errors.New("media: no telephone-event negotiated")

	// ErrInvalidDigit is wrapped by SendDigits for a character that is not a
	// DTMF key or pause; the message names it.
	ErrInvalidDigit = errors.New("media: invalid DTMF digit")

	// ErrNotStarted is returned by Play before the session was started.
	ErrNotStarted = errors.New("media: session not started")

	// ErrInvalidConfig is wrapped by NewEngine for a bad Config.
	ErrInvalidConfig = errors.New("media: invalid config")

	// ErrInvalidParams is wrapped by Start for bad Params.
	ErrInvalidParams = errors.New("media: invalid session params")

	// ErrQueueFull is returned by StreamFeed.Write when the audio does not fit
	// in the feed's queue.
	ErrQueueFull = errors.New("media: stream queue full")

	// ErrTooManyMarks is returned by StreamFeed.Mark when the feed's bound of
	// marks waiting to be played is reached.
	ErrTooManyMarks = errors.New("media: too many marks pending")
)

// ErrNotInRoom is returned by a Room's per-party calls for a session that
// is not in the room.
var ErrNotInRoom = errors.New("media: session not in the room")
