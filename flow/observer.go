package flow

import (
	"errors"
	"strconv"

	"github.com/pivotua/pivotua/httpfetch"
)

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
