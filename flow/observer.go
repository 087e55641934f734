package flow

import (
	"errors"
	"strconv"
	"time"

	"github.com/pivotua/pivotua/httpfetch"
)

// Observer receives what the metrics count. Its methods are called from call goroutines and must be
// cheap and safe for concurrent use.
type Observer interface {
	// CallEnded reports how a call ended: "completed" (answered), "rejected" (a 4xx or 6xx final
	// response, including 404 for an unrouted number), "failed" (a 5xx final response) or "canceled"
	// (the caller gave up before any final response).
	CallEnded(outcome string)
	// PivotRequest reports one pivot request: its HTTP status ("200", "404"), or "timeout" or "error"
	// when no response arrived.
	PivotRequest(status string, elapsed time.Duration)
	// DTMF reports one key from the caller and how it came: "rfc4733", "inband" or "sip-info".
	DTMF(source string)
	// RecordingSaved reports a recording written to recordings.dir (Record, record_caller, a Dial's
	// record), whether or not it is uploaded afterwards.
	RecordingSaved()
	// RecordingFailed reports a recording whose file could not be written completely; the file
	// was removed.
	RecordingFailed()
}

// callOutcome names how a call ended from the final status sent to the caller.
func callOutcome(finalStatus int) string {
	switch {
	case finalStatus == 0:
		return "canceled"
	case finalStatus < 300:
		return "completed"
	case finalStatus >= 500 && finalStatus < 600:
		return "failed"
	}
	return "rejected"
}

// pivotStatus names a pivot request's result for the metrics.
func pivotStatus(doc *httpfetch.Document, err error) string {
	switch {
	case doc != nil && doc.Status > 0:
		return strconv.Itoa(doc.Status)
	case errors.Is(err, httpfetch.ErrTimeout):
		return "timeout"
	}
	return "error"
}
