package flow

import "context"

// responseAction ends the call with a SIP final response (module "response"); once answered, only a
// hangup is possible.
type responseAction struct {
	code    int
	message string
}

func parseResponse(d *dataReader) kazooAction {
	a := &responseAction{code: int(d.integer("code", 486, 400, 699))}
	a.message = d.maxText("message", 128)
	if hasControlChars(a.message) { // the reason phrase of our final response
		d.fail("message", msgControlChars)
	}
	if a.message == "" {
		a.message = sipReasonPhrase(a.code)
	}
	return a
}

func (a *responseAction) run(_ context.Context, c *Call, _ *Node) kazooOutcome {
	c.reject(a.code, a.message)
	return stopFlow()
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
