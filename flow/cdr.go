package flow

import (
	"context"
	"strconv"
	"time"

	"github.com/pivotua/pivotua/httpfetch"
)

// A pivot's cdr_url gets the call's record once it has ended, as Kazoo's pivot POSTs the
// CHANNEL_DESTROY event there: a form POST under Kazoo's hyphenated names, signed like every pivot
// request. Kazoo posts it only while TwiML runs (a Kazoo JSON document ends its pivot process);
// pivotua posts it for the last pivot that ran, whatever its documents were.

// gregorianOffset is the seconds from 0001-01-01 (Erlang's calendar, Kazoo's Timestamp) to 1970-01-01.
const gregorianOffset = 62167219200

// postCDR sends the record to the running pivot's cdr_url, if it has one. It runs on the call's
// goroutine after the hangup, so a call's resources are freed once its record is delivered or the
// pivot's timeout passed.
func (c *Call) postCDR() {
	a := c.pivot.action
	if a == nil || a.cdrURL == "" || c.deps.Documents == nil {
		return
	}
	end := time.Now()
	req := httpfetch.PivotRequest{
		URL: a.cdrURL, Method: "POST", Format: httpfetch.FormatKazoo, BodyFormat: httpfetch.BodyForm,
		Timeout: a.timeout, SigningKey: c.signingKey,
		Params: httpfetch.CallParams{
			AccountID: c.accountID, CallID: c.info.CallID,
			CallerIDName: c.info.CallerIDName, CallerIDNumber: c.info.CallerIDNumber,
			From: c.info.From, FromRealm: c.info.FromRealm, To: c.info.To, ToRealm: c.info.ToRealm,
			Request: c.info.Request, RequestRealm: c.info.RequestRealm,
			CallStatus: "completed", CustomSIPHeaders: c.info.CustomSIPHeaders,
			Variables: c.cdrFields(end),
		},
	}
	c.pivot.iteration++
	start := time.Now()
	resp, err := c.deps.Documents.FetchDocument(context.Background(), req)
	ex := c.exchange(&req, resp, time.Since(start))
	if err != nil {
		ex.Err = err
		c.log.Warn("cdr_url: the call record was not delivered", "url", a.cdrURL, "err", err)
	}
	c.report(a, ex)
}

// cdrFields are the CHANNEL_DESTROY fields beyond the pivot request's own.
func (c *Call) cdrFields(end time.Time) map[string]string {
	ending := c.endingData()
	code, cause := c.hangupCause(ending)
	lasted := seconds(end.Sub(c.started))
	rang, billed, disposition := lasted, 0, "NO_ANSWER"
	if c.answered {
		rang, billed, disposition = seconds(c.answeredAt.Sub(c.started)), seconds(end.Sub(c.answeredAt)), "ANSWER"
	}
	f := map[string]string{
		"Event-Category":    "call_event",
		"Event-Name":        "CHANNEL_DESTROY",
		"Call-Direction":    "inbound",
		"Hangup-Cause":      cause,
		"Hangup-Code":       "sip:" + strconv.Itoa(code),
		"Duration-Seconds":  strconv.Itoa(lasted),
		"Billing-Seconds":   strconv.Itoa(billed),
		"Ringing-Seconds":   strconv.Itoa(rang),
		"Timestamp":         strconv.FormatInt(end.Unix()+gregorianOffset, 10),
		"Disposition":       disposition,
		"Other-Leg-Call-ID": c.dial.lastID,
	}
	f["Hangup-By"], _ = ending["by"].(string)
	return f
}

// q850Causes names the final responses pivotua sends by their Q.850 causes, as FreeSWITCH reports
// them (RFC 3398 section 8.2 read backwards).
var q850Causes = map[int]string{
	404: "UNALLOCATED_NUMBER", 480: "NO_USER_RESPONSE", 486: "USER_BUSY", 487: "ORIGINATOR_CANCEL",
	503: "NORMAL_TEMPORARY_FAILURE", 603: "CALL_REJECTED",
}

// hangupCause is the SIP code that ended the call and its Q.850 name: 200 for a BYE after the
// answer, the final response we sent otherwise, 487 when the caller cancelled.
func (c *Call) hangupCause(ending map[string]any) (int, string) {
	if by, _ := ending["by"].(string); by == "media_timeout" {
		return 200, "MEDIA_TIMEOUT"
	}
	code, _ := ending["code"].(int)
	switch {
	case code == 0 && c.answered:
		return 200, "NORMAL_CLEARING"
	case code == 0:
		return 487, "ORIGINATOR_CANCEL"
	}
	if cause, ok := q850Causes[code]; ok {
		return code, cause
	}
	return code, "NORMAL_UNSPECIFIED"
}

func seconds(d time.Duration) int { return int(d.Round(time.Second) / time.Second) }
