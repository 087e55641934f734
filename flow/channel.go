package flow

import (
	"context"

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
	Ring() error                                     // 180 Ringing (idempotent, no-op once answered)
	Answer(ctx context.Context) error                // 200 OK + SDP, idempotent; media flows after it
	Play(ctx context.Context, p *codec.Prompt) error // answers first if needed; returns when played, ctx done or call ended
	Reject(code int, reason string) error            // final non-2xx; only before answer
	Hangup() error                                   // BYE if answered, else 480 Temporarily Unavailable
	Done() <-chan struct{}                           // the call ended (remote BYE/CANCEL, media timeout, our hangup)
}
