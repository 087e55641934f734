package flow

import (
	"context"
	"fmt"
	"net/netip"

	"github.com/pivotua/pivotua/media"
)

var _ BridgeLeg = (*inboundLeg)(nil)

// Bridge is the inbound leg itself: its session is what Dial bridges.
func (l *inboundLeg) Bridge() BridgeLeg { return l }

// Session is the caller's RTP session, which Dial bridges to the callee's.
func (l *inboundLeg) Session() *media.Session { return l.media }

// EarlyMedia answers the caller's offer in a 183 and starts media toward it, so an unanswered caller
// hears what a ringing callee sends (Dial answerOnBridge). Answer later sends the same SDP in its 200.
func (l *inboundLeg) EarlyMedia(_ context.Context) error {
	local := netip.AddrPortFrom(l.advertise, l.media.LocalAddr().Port())
	md, err := l.sip.EarlyMedia(local)
	if err != nil {
		return fmt.Errorf("early media: %w", err)
	}
	return l.applyMedia(&md)
}

// RelayInfoDigits hands the caller's INFO keys to fn too (nil: no more); a bridged Dial sends them to the callee.
func (l *inboundLeg) RelayInfoDigits(fn func(key byte)) {
	if fn == nil {
		l.infoRelay.Store(nil)
		return
	}
	l.infoRelay.Store(&fn)
}
