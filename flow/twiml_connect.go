package flow

import (
	"context"
	"errors"
	"fmt"

	"github.com/pivotua/pivotua/mediastream"
)

// connectVerb is <Connect><Stream>: a bidirectional media stream. The document waits while the
// socket is open: the application hears the caller, the caller hears the application, and the
// caller's keys reach it as dtmf messages. When the stream ends other than by the caller's hangup
// (the application closed it, broke the protocol, stalled, or could not be reached), action is
// requested and its document runs, as Twilio does; without action the next verb runs.
type connectVerb struct {
	action string // "" = continue with the next verb
	method string
	stream *streamNoun
}

func parseConnectVerb(p *twimlParser, e *xmlElement, path string) twimlVerb {
	a := p.attrs(e, path, "action", "method")
	v := &connectVerb{action: p.urlAttr(a, path, "action"), method: p.methodAttr(a, path)}
	p.noText(e, path)
	p.eachChild(e, path, func(child *xmlElement, cpath string) {
		switch {
		case child.name != "Stream":
			p.fail(cpath, fmt.Sprintf("<%s> is not supported in <Connect> (only <Stream>)", child.name))
		case v.stream != nil:
			p.fail(cpath, "one <Stream> per <Connect>")
		default:
			v.stream = parseStreamNoun(p, child, cpath, true)
		}
	})
	if v.stream == nil {
		p.fail(path, "<Connect> needs a <Stream>")
	}
	return v
}

func (v *connectVerb) run(ctx context.Context, c *Call, _ int) twimlOutcome {
	if c.answer(ctx) != nil {
		return twimlStop
	}
	c.activity++
	sid, by, err := c.connectStream(ctx, v.stream)
	c.streamEnded(v.stream, sid, true, by, err)
	if by == "call" || c.ended() || ctx.Err() != nil {
		return twimlStop
	}
	if v.action == "" {
		return twimlOutcome{}
	}
	target, rerr := c.resolveURL(v.action)
	if rerr != nil {
		c.log.Warn("<Connect> action unusable, continuing", "action", v.action, "err", rerr)
		return twimlOutcome{}
	}
	return twimlOutcome{redirect: target, method: v.method}
}

// connectStream runs a bidirectional stream until it ends and says who ended it: "call" (hangup),
// "app" (the application closed the socket) or "error".
func (c *Call) connectStream(ctx context.Context, n *streamNoun) (sid, by string, err error) {
	sc, err := c.openStream(ctx, n, true)
	if err != nil {
		return "", "error", err
	}
	sid = sc.stream.SID()
	c.drainDigits() // keys pressed before the stream are not the application's
	c.keys.typeAhead = nil
	sctx, stop := context.WithCancel(ctx)
	defer stop()
	done := make(chan error, 1)
	go func() { done <- sc.run(sctx) }()
	for {
		select {
		case err = <-done:
			switch {
			case err == nil || c.ended():
				return sid, "call", err
			case errors.Is(err, mediastream.ErrClosedByApp):
				return sid, "app", nil
			}
			return sid, "error", err
		case k := <-c.ch.Digits():
			sc.stream.SendDTMF(k)
		case <-c.ch.Context().Done():
			stop() // the caller hung up: stop goes out, the socket closes
			<-done
			return sid, "call", nil
		}
	}
}
