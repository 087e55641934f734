package flow

import (
	"context"
	"fmt"
	"log/slog"
	"net/netip"
	"time"

	"github.com/pivotua/pivotua/codec"
	"github.com/pivotua/pivotua/media"
	"github.com/pivotua/pivotua/sip"
)

// outboundLeg is one Dial target: its RTP session, opened before the INVITE
// so the port in our offer drains from the start, and, once answered, its
// SIP dialog. The call's goroutine owns it; the dialing goroutine sets call
// before it reports the answer over a channel.
type outboundLeg struct {
	target dialEndpoint
	sess   *media.Session
	call   *sip.OutboundCall // nil until answered
	events *legCallbacks     // the noun's statusCallback (dial_status_callback.go); nil: none
}

// log is the call's logger: the session's lines carry the call's call_id and account_id.
// The session shares the caller's send tick, so the bridge relays each packet in the tick it is read.
func openOutboundLeg(d DialDeps, t dialEndpoint, caller *media.Session, log *slog.Logger) (*outboundLeg, netip.AddrPort, error) {
	sess, err := d.Engine.Open(media.WithTickOf(caller), media.WithSessionLogger(log.With("dial_target", t.uri)))
	if err != nil {
		return nil, netip.AddrPort{}, fmt.Errorf("open media session: %w", err)
	}
	adv := d.Advertise
	if !adv.IsValid() || adv.IsUnspecified() {
		adv = sess.LocalAddr().Addr()
	}
	return &outboundLeg{target: t, sess: sess}, netip.AddrPortFrom(adv, sess.LocalAddr().Port()), nil
}

// startMedia points the session at the callee's (early or final) media.
func (o *outboundLeg) startMedia(md sip.MediaDesc) error {
	err := o.sess.Start(media.Params{
		Remote:           md.Addr,
		Law:              codec.Law(md.PayloadType),
		PayloadType:      md.PayloadType,
		EventPayloadType: md.EventPayloadType,
		SRTP:             srtpOf(md),
	})
	if err != nil {
		return fmt.Errorf("start callee media: %w", err)
	}
	o.sess.SetSending(md.Direction.WeSend())
	return nil
}

// done is closed when the callee hung up or its media timed out.
func (o *outboundLeg) done() <-chan struct{} {
	ch := make(chan struct{})
	go func() {
		select {
		case <-o.call.Done():
		case <-o.sess.Done():
		}
		close(ch)
	}()
	return ch
}

// close hangs up an answered leg (BYE) and frees its port; its statusCallback reports it ended.
func (o *outboundLeg) close() {
	o.events.finish(nil)
	if o.call != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_ = o.call.Hangup(ctx)
		cancel()
	}
	_ = o.sess.Close()
}
