package flow

import (
	"context"
	"errors"
)

// responseAction ends the call with a SIP final response (module "response"); once answered, only a
// hangup is possible. Its media (Kazoo's cf_response: played before the response) goes to an
// unanswered caller as early media in a 183 (RFC 3960 §3.1), so the caller hears it and still gets
// the failure code; an answered caller hears it before the BYE.
type responseAction struct {
	code    int
	message string
	media   mediaRef // none when url and id are empty
}

func parseResponse(d *dataReader) kazooAction {
	a := &responseAction{code: int(d.integer("code", 486, 400, 699))}
	if _, ok := d.raw("media"); ok {
		a.media = d.mediaRef("media")
	}
	a.message = d.maxText("message", 128)
	if hasControlChars(a.message) { // the reason phrase of our final response
		d.fail("message", msgControlChars)
	}
	if a.message == "" {
		a.message = sipReasonPhrase(a.code)
	}
	return a
}

func (a *responseAction) run(ctx context.Context, c *Call, _ *Node) kazooOutcome {
	if a.media.url != "" || a.media.id != "" {
		if !c.playBeforeResponse(ctx, a.media) {
			return stopFlow()
		}
	}
	c.reject(a.code, a.message)
	return stopFlow()
}

// playBeforeResponse plays r to the caller: as early media before an answer, else as any prompt.
// Audio that cannot be had, or a caller without early media, costs the audio, not the response.
// false when the call ended meanwhile.
func (c *Call) playBeforeResponse(ctx context.Context, r mediaRef) bool {
	p, err := c.loadMediaRef(ctx, r)
	if err != nil {
		if ctx.Err() != nil {
			return false
		}
		c.mediaUnavailable("response", r, err)
		return true
	}
	if c.answered {
		return c.playPrompt(ctx, p, 1, "")
	}
	bl := c.ch.Bridge()
	if bl == nil || bl.Session() == nil {
		c.mediaUnavailable("response", r, errors.New("the call has no RTP session of pivotua's own for early media"))
		return true
	}
	if err := bl.EarlyMedia(ctx); err != nil {
		if c.ended() || ctx.Err() != nil {
			return false
		}
		c.mediaUnavailable("response", r, err)
		return true
	}
	c.activity++
	if err := bl.Session().Play(ctx, p); err != nil && (c.ended() || ctx.Err() != nil) {
		return false
	}
	return true
}

// sipReasonPhrase is the RFC 3261 §21 (and successors') reason phrase for a final failure code.
func sipReasonPhrase(code int) string {
	switch code {
	case 400:
		return "Bad Request"
	case 403:
		return "Forbidden"
	case 404:
		return "Not Found"
	case 408:
		return "Request Timeout"
	case 410:
		return "Gone"
	case 480:
		return "Temporarily Unavailable"
	case 484:
		return "Address Incomplete"
	case 486:
		return "Busy Here"
	case 487:
		return "Request Terminated"
	case 488:
		return "Not Acceptable Here"
	case 500:
		return "Server Internal Error"
	case 502:
		return "Bad Gateway"
	case 503:
		return "Service Unavailable"
	case 504:
		return "Server Time-out"
	case 600:
		return "Busy Everywhere"
	case 603:
		return "Decline"
	case 604:
		return "Does Not Exist Anywhere"
	case 606:
		return "Not Acceptable"
	}
	switch code / 100 {
	case 4:
		return "Request Failure"
	case 5:
		return "Server Failure"
	}
	return "Global Failure"
}
