package flow

import (
	"context"
	"io"
	"time"

	"github.com/pivotua/pivotua/codec"
)

// CallInfo describes the inbound call as the INVITE presented it.
type CallInfo struct {
	CallID, From, FromRealm, To, ToRealm, Request, RequestRealm, CallerIDName, CallerIDNumber string
	CustomSIPHeaders                                                                          map[string]string // the INVITE's X- headers
}

// Channel is the one interface through which the interpreters touch signalling and media.
type Channel interface {
	Info() CallInfo
	Ring() error                      // 180 Ringing (idempotent, no-op once answered)
	Answer(ctx context.Context) error // 200 OK + SDP, idempotent; media flows after it
	// Play answers first if needed, then plays p and returns when it was played, ctx ended, the call
	// ended, or a key among stopKeys arrived (barge-in: stopped is true). Keys still reach Digits,
	// the stopping one included.
	Play(ctx context.Context, p *codec.Prompt, stopKeys string) (stopped bool, err error)
	Reject(code int, reason string) error // final non-2xx; only before answer
	Hangup() error                        // BYE if answered, else 480 Temporarily Unavailable
	Context() context.Context             // ends when the call ended (remote BYE/CANCEL, media timeout, our hangup)

	// Digits delivers the caller's DTMF keys in order, whichever way they came (RFC 4733, SIP INFO,
	// in-band tones). Only the call's goroutine reads it.
	Digits() <-chan byte
	// SendDigits plays DTMF to the caller as RFC 4733 events; 'w' is a 0.5 s pause.
	SendDigits(ctx context.Context, digits string, toneDuration time.Duration) error
	// StartRecording writes what the caller says from now on to w, as 8 kHz 16-bit little-endian mono PCM.
	StartRecording(w io.Writer) (Recording, error)
}

// Recording is a recording of the caller in progress.
type Recording interface {
	// Stop ends the recording once everything received so far (the tail) is written; it returns the
	// number of samples written.
	Stop() (samples int64, err error)
}
