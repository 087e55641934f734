package flow

import (
	"context"
	"time"
)

// sendDTMFAction plays DTMF to the caller (module "send_dtmf") as RFC 4733 events.
type sendDTMFAction struct {
	digits   string
	duration time.Duration // of each tone
}

func parseSendDTMF(d *dataReader) kazooAction {
	a := &sendDTMFAction{}
	if d.required("digits") {
		a.digits = d.str("digits", "")
		for i := 0; i < len(a.digits); i++ {
			if k := a.digits[i]; !isDTMFKey(k) && !isDTMFExtraKey(k) && k != 'w' && k != 'W' {
				d.fail("digits", "may hold only 0-9, *, #, A-D and w/W pauses")
				break
			}
		}
		if a.digits == "" && len(d.errs) == 0 {
			d.fail("digits", "must not be empty")
		}
	}
	a.duration = time.Duration(d.integer("duration_ms", 100, 40, 5000)) * time.Millisecond
	return a
}

func isDTMFExtraKey(k byte) bool { return (k >= 'A' && k <= 'D') || (k >= 'a' && k <= 'd') }

func (a *sendDTMFAction) run(ctx context.Context, c *Call, _ *Node) kazooOutcome {
	if err := c.answer(ctx); err != nil {
		return stopFlow()
	}
	c.activity++
	if err := c.ch.SendDigits(ctx, a.digits, a.duration); err != nil {
		if c.ended() || ctx.Err() != nil {
			return stopFlow()
		}
		c.log.Warn("send_dtmf failed, continuing", "digits", a.digits, "err", err)
	}
	return continueWith("_")
}
