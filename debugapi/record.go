package debugapi

import (
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// GregorianOffset is the number of seconds from 0000-01-01 (Erlang's calendar:datetime_to_gregorian_seconds)
// to the Unix epoch: Kazoo's created values are Unix seconds plus this.
const GregorianOffset = 62167219200

// GregorianSeconds converts t to Kazoo's Gregorian seconds.
func GregorianSeconds(t time.Time) int64 { return t.Unix() + GregorianOffset }

// FromGregorian converts Kazoo's Gregorian seconds to a time.
func FromGregorian(s int64) time.Time { return time.Unix(s-GregorianOffset, 0).UTC() }

// DebugID names one call's records in one month as Kazoo does: "YYYYMM-<call_id>" (the month of its MODb).
func DebugID(created time.Time, callID string) string {
	return created.UTC().Format("200601") + "-" + callID
}

// Kind says which of a pivot exchange's documents a Record is.
type Kind uint8

// Kinds of records, in the order they are listed within an iteration.
const (
	KindRequest  Kind = iota // what pivotua sent: method, uri, req_headers, req_body
	KindResponse             // what came back: resp_status_code, resp_headers, resp_body, elapsed_ms
	KindError                // a document that failed to parse (json_errors) or validate (schema_errors)
	// KindEvent is pivotua's own: something that happened on the call (a verb started, digits, a
	// recording, the hangup), for the call inspector. Kazoo clients never see it (see callDetail).
	KindEvent
)

func (k Kind) String() string {
	switch k {
	case KindRequest:
		return "request"
	case KindResponse:
		return "response"
	case KindError:
		return "error"
	case KindEvent:
		return "event"
	}
	return "kind(" + strconv.Itoa(int(k)) + ")"
}

// Record is one stored pivot debug document. The fields a kind does not use stay empty.
type Record struct {
	ID        string // 32 lowercase hex; the Recorder assigns one when empty
	AccountID string
	CallID    string
	Iteration int // 1 for the first request of a pivot cycle, +1 per TwiML follow-up
	Created   time.Time
	Node      string
	Kind      Kind

	// KindRequest; URI also on KindError, so a failed document shows where it came from.
	Method     string            // lower-case: get, post
	URI        string            // as sent, query included
	ReqHeaders map[string]string // keys and values lower-cased, as Kazoo stores them
	ReqBody    string
	FetchError string // set when no response arrived (connect error, timeout)

	// KindResponse; RespBody also on KindError.
	StatusCode  int
	RespHeaders map[string]string // keys and values lower-cased
	RespBody    string
	Elapsed     time.Duration

	// KindError: exactly one of them.
	JSONErrors   *JSONErrors
	SchemaErrors SchemaErrors

	// KindEvent: what happened ("verb", "digits", "recording", "hangup", ...) and its details, a
	// small JSON object (numbers read back as float64).
	Event     string
	EventData map[string]any
}

// DebugID is the Kazoo debug_id of the record: the month it was created in, and its call.
func (r Record) DebugID() string { return DebugID(r.Created, r.CallID) }

// JSONErrors is the json_errors object of a document that is not well-formed, in Kazoo's layout
// ({message, before, after}); Detail is ours: the parser's own words.
type JSONErrors struct {
	Message string `json:"message"`
	Before  string `json:"before,omitempty"`
	After   string `json:"after,omitempty"`
	Detail  string `json:"detail,omitempty"`
}

// SchemaErrors is Kazoo's validation error layout: {"<path>": {"<rule>": {"message": ...}}}.
type SchemaErrors map[string]map[string]SchemaError

// SchemaError is one broken rule at one path.
type SchemaError struct {
	Message string `json:"message"`
	Target  any    `json:"target,omitempty"`
}

// Add records a broken rule, joining messages when the same path breaks the same rule twice.
func (s SchemaErrors) Add(path, rule, message string) {
	rules := s[path]
	if rules == nil {
		rules = map[string]SchemaError{}
		s[path] = rules
	}
	if prev, ok := rules[rule]; ok && prev.Message != "" && prev.Message != message {
		message = prev.Message + "; " + message
	}
	rules[rule] = SchemaError{Message: message}
}

// LowerHeaders flattens h as Kazoo stores headers: one entry per name, the name lower-cased, repeated
// values joined with ", ". Unlike Kazoo, values keep their case: a stored X-Twilio-Signature must be
// the one that was sent. It never returns nil, so an empty set encodes as {}. Names and values are
// escaped first (StoredText): lower-casing would turn each byte that is not UTF-8 into U+FFFD, and
// the store's \xHH escape could no longer show it.
func LowerHeaders(h http.Header) map[string]string {
	out := make(map[string]string, len(h))
	for k, vs := range h {
		out[strings.ToLower(StoredText(k))] = StoredText(strings.Join(vs, ", "))
	}
	return out
}

// recordCommon is the part of every document the API returns.
type recordCommon struct {
	ID        string `json:"id"`
	CallID    string `json:"call_id"`
	Iteration int    `json:"iteration"`
	Created   int64  `json:"created"`
	Node      string `json:"node"`
	DebugID   string `json:"debug_id"`
	// pivotua's extension (?events=true), absent from Kazoo's documents: the record's kind, and when
	// it was made to the microsecond (Unix), so a timeline can show milliseconds.
	Kind      string `json:"kind,omitempty"`
	CreatedUS int64  `json:"created_us,omitempty"`
}

type requestDoc struct {
	recordCommon
	Method     string            `json:"method"`
	URI        string            `json:"uri"`
	ReqHeaders map[string]string `json:"req_headers"`
	ReqBody    string            `json:"req_body"`
	FetchError string            `json:"fetch_error,omitempty"`
}

type responseDoc struct {
	recordCommon
	RespStatusCode string            `json:"resp_status_code"`
	RespHeaders    map[string]string `json:"resp_headers"`
	RespBody       string            `json:"resp_body"`
	ElapsedMS      int64             `json:"elapsed_ms"`
}

type errorDoc struct {
	recordCommon
	JSONErrors   *JSONErrors  `json:"json_errors,omitempty"`
	SchemaErrors SchemaErrors `json:"schema_errors,omitempty"`
	RespBody     string       `json:"resp_body"`
	URI          string       `json:"uri,omitempty"`
}

type eventDoc struct {
	recordCommon
	Event     string         `json:"event"`
	EventData map[string]any `json:"event_data"`
}

// MarshalJSON writes the record as Kazoo's crossbar returns a pivot debug document: the kind's fields
// plus id, call_id, iteration, created (Gregorian seconds), node and debug_id.
func (r Record) MarshalJSON() ([]byte, error) { return json.Marshal(r.document(false)) }

// document is the record's API document; extended adds pivotua's kind and created_us.
func (r Record) document(extended bool) any {
	c := recordCommon{
		ID: r.ID, CallID: r.CallID, Iteration: r.Iteration,
		Created: GregorianSeconds(r.Created), Node: r.Node, DebugID: r.DebugID(),
	}
	if extended {
		c.Kind, c.CreatedUS = r.Kind.String(), r.Created.UnixMicro()
	}
	switch r.Kind {
	case KindRequest:
		return requestDoc{c, r.Method, r.URI, nonNil(r.ReqHeaders), r.ReqBody, r.FetchError}
	case KindResponse:
		return responseDoc{c, statusString(r.StatusCode), nonNil(r.RespHeaders), r.RespBody, r.Elapsed.Milliseconds()}
	case KindEvent:
		data := r.EventData
		if data == nil {
			data = map[string]any{}
		}
		return eventDoc{c, r.Event, data}
	default:
		return errorDoc{c, r.JSONErrors, r.SchemaErrors, r.RespBody, r.URI}
	}
}

func nonNil(m map[string]string) map[string]string {
	if m == nil {
		return map[string]string{}
	}
	return m
}

// statusString writes an HTTP status as Kazoo does (a string); 0, no response, is "".
func statusString(code int) string {
	if code <= 0 {
		return ""
	}
	return strconv.Itoa(code)
}
