package flow

import (
	"context"
	"fmt"
	"net/netip"

	"github.com/pivotua/pivotua/media"
)

var _ bridgeChannel = (*inboundLeg)(nil)

// bridgeSession is the caller's RTP session, which Dial bridges to the callee's.
func (l *inboundLeg) bridgeSession() *media.Session { return l.media }

// earlyMedia answers the caller's offer in a 183 and starts media toward it, so an unanswered caller
// hears what a ringing callee sends (Dial answerOnBridge). Answer later sends the same SDP in its 200.
func (l *inboundLeg) earlyMedia(_ context.Context) error {
	local := netip.AddrPortFrom(l.advertise, l.media.LocalAddr().Port())
	md, err := l.sip.EarlyMedia(local)
	if err != nil {
		return fmt.Errorf("early media: %w", err)
	}
	return l.applyMedia(md)
}

func (l *inboundLeg) relayInfoDigits(fn func(key byte)) {
	if fn == nil {
		l.infoRelay.Store(nil)
		return
	}
	l.infoRelay.Store(&fn)
}
