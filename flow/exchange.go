package flow

import (
	"errors"
	"net/http"
	"time"
)

// Error kinds of an Exchange, named as Kazoo names its pivot debug documents.
const (
	ErrorKindJSON   = "json_errors"   // the document is not well-formed JSON or XML
	ErrorKindSchema = "schema_errors" // the document parsed but failed validation
)

// Exchange is one pivot request and what came back, for the debug store. Deps.Debug receives one for
// every request of a callflow with debug: true, and one for every failed request (no response,
// non-2xx, a document that failed to parse or validate) whether or not debug is on.
type Exchange struct {
	AccountID string
	CallID    string
	Debug     bool // the callflow asked for debug records; false: this is a failure, kept regardless
	Iteration int  // 1 for the first request of a pivot cycle, +1 per TwiML follow-up

	Method        string // GET or POST
	URL           string // as sent, GET parameters included
	RequestHeader http.Header
	RequestBody   []byte

	Status         int // 0 when no response arrived
	ResponseHeader http.Header
	ResponseBody   []byte
	Elapsed        time.Duration

	Err       error   // why the exchange failed (fetch, parse or validation); nil on success
	ErrorKind string  // "", ErrorKindJSON or ErrorKindSchema
	Errors    []error // the details of ErrorKind: *ValidationError values, or the parse error
}

// classifyDocumentError names the debug error kind of a parse or validation failure.
func classifyDocumentError(err error) (kind string, details []error) {
	var ve *ValidationError
	switch {
	case errors.Is(err, ErrInvalidJSON), errors.Is(err, ErrInvalidXML):
		return ErrorKindJSON, []error{err}
	case errors.As(err, &ve):
		return ErrorKindSchema, validationErrors(err)
	}
	return "", nil
}
