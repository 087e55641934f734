package flow

import (
	"context"
	"log/slog"
	"sync/atomic"

	"github.com/pivotua/pivotua/media"
	"github.com/pivotua/pivotua/sip"
)

// placedLeg is the Channel of a call the API placed (originate.go): the answered outbound leg of a
// Dial callee (calleeLeg), except that here it is the call's only party, so it is also what a Dial,
// Record or Gather in its document acts on, as an inbound caller's leg is. Its Bridge is itself.
type placedLeg struct {
	*calleeLeg
	// infoRelay, set by a Dial while bridged, also gets the callee's INFO keys (for the party
	// dialled). Written by the call's goroutine, read by sip's.
	infoRelay atomic.Pointer[func(key byte)]
}

var (
	_ Channel   = (*placedLeg)(nil)
	_ BridgeLeg = (*placedLeg)(nil)
)

func newPlacedLeg(leg *outboundLeg, info CallInfo, obs Observer, log *slog.Logger) *placedLeg {
	l := &placedLeg{calleeLeg: newCalleeLeg(leg, info, obs, log)}
	leg.call.OnDigit(func(k byte) { // replaces calleeLeg's: the relay comes first, as inboundLeg's
		if relay := l.infoRelay.Load(); relay != nil {
			(*relay)(k)
		}
		l.deliverDigit(k, "sip-info")
	})
	return l
}

// Bridge is the leg itself: its session is what a Dial in the document bridges.
func (l *placedLeg) Bridge() BridgeLeg { return l }

// Session is the placed call's RTP session.
func (l *placedLeg) Session() *media.Session { return l.leg.sess }

// EarlyMedia has nothing to do: the placed call's party answered before its document ran.
func (l *placedLeg) EarlyMedia(context.Context) error { return nil }

// RelayInfoDigits hands the party's INFO keys to fn too (nil: no more).
func (l *placedLeg) RelayInfoDigits(fn func(key byte)) {
	if fn == nil {
		l.infoRelay.Store(nil)
		return
	}
	l.infoRelay.Store(&fn)
}

// OnTransfer hands fn each REFER the placed call's party sends that sip accepted, so a bridged Dial
// transfers its side as it does an inbound caller's.
func (l *placedLeg) OnTransfer(fn func(*sip.Transfer) bool) { l.leg.call.OnTransfer(fn) }
