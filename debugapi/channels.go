package debugapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
)

// The channels API is Kazoo's crossbar channels resource (applications/crossbar/doc/channels.md) on
// pivotua's calls, with the same tokens and envelopes as the debug API:
//
//	GET  /v2/accounts/{ACCOUNT_ID}/channels         the account's live channels
//	GET  /v2/accounts/{ACCOUNT_ID}/channels/{UUID}  one of them
//	POST /v2/accounts/{ACCOUNT_ID}/channels/{UUID}  {"data":{"action":"hangup"|"transfer"|"pivot",...}}
//	PUT  /v2/accounts/{ACCOUNT_ID}/channels         pivotua's own: place a call that runs a callflow
//
// A channel's UUID is its SIP Call-ID (Kazoo's is the call-id too); the Calls API's sid (CA + 32 hex)
// is accepted as well. What a call does is behind ChannelControl, which cmd/pivotua implements over
// flow; this file owns only the HTTP side: the bodies, their bounds, and the answers.

// ChannelControl is what the channels API needs of the calls. Every method is keyed by the account of
// the token, so an account only ever sees and steers its own calls. Errors: ErrChannelNotFound,
// ErrChannelLimit, ErrChannelUnavailable, ErrChannelOwnerTimeout, or a *FieldError naming what in the request is wrong.
type ChannelControl interface {
	// List returns the account's live channels, newest first.
	List(accountID string) []Channel
	// Get returns the account's live channel uuid (its SIP Call-ID or call sid).
	Get(accountID, uuid string) (Channel, bool)
	// Hangup ends the live channel uuid: BYE when answered, CANCEL while a placed call rings.
	Hangup(accountID, uuid string) (Channel, error)
	// Transfer bridges the live channel uuid to target (a number through the account's trunk, or a
	// sip: URI) in place of what it runs.
	Transfer(accountID, uuid, target string) (Channel, error)
	// Redirect runs flow (a pivot node) on the live channel uuid in place of what it runs.
	Redirect(accountID, uuid string, flow Callflow) (Channel, error)
	// Originate places a call that runs flow once answered.
	Originate(accountID string, o Origination) (Channel, error)
}

// Channel is one live call as the channels API shows it.
type Channel struct {
	UUID        string // the SIP Call-ID; a placed call's sid until it is answered
	CallSid     string // the Calls API's sid (CA + 32 hex)
	Direction   string // Kazoo's: inbound (taken), outbound (placed)
	Answered    bool
	Destination string // the number or user called
	Username    string // the other party's user: the caller of an inbound call, the callee of a placed one
	PresenceID  string // user@host where pivotua knows the host; "" otherwise
	OtherLeg    string // the Call-ID of the leg a Dial or transfer bridged it to; "" when none
	Status      string // queued, ringing, in-progress (the Calls API's words)
	Created     time.Time
}

// Callflow is a Kazoo callflow node as JSON, and the path of the request its errors are named by
// ("data.flow", or "data" for one built from the request's own pivot fields).
type Callflow struct {
	JSON json.RawMessage
	Path string
}

// Origination is a call to place: To a number or sip: URI, From the caller ID, Timeout how long it
// may ring (0: the default), Flow what it runs once answered.
type Origination struct {
	To, From string
	Timeout  time.Duration
	Flow     Callflow
}

// FieldError is a request the channel control refused for one field (a target the account cannot
// dial, a callflow that does not validate): 400, naming it.
type FieldError struct {
	Field   string
	Message string
}

func (e *FieldError) Error() string { return e.Field + ": " + e.Message }

// Why a channel request was refused, beyond a FieldError. Declared beside the channels API, whose
// answers they pick (404, 429, 503).
var (
	// ErrChannelNotFound means the account has no live channel by that UUID.
	ErrChannelNotFound = errors.New("channel not found")
	// ErrChannelLimit means the account is at its limit of calls placed (api.max_calls,
	// api.calls_per_second); the error says which.
	ErrChannelLimit = errors.New("too many calls")
	// ErrChannelUnavailable means no call can be placed now (draining, no outbound SIP or RTP port).
	ErrChannelUnavailable = errors.New("unavailable")
	// ErrChannelOwnerTimeout means another node holds the channel and did not act on it in time.
	ErrChannelOwnerTimeout = errors.New("the node holding the channel did not answer in time")
)

// Bounds of a channels request.
const (
	maxChannelBody = 64 << 10
	maxUUIDLen     = 256
	maxTargetLen   = 256
	maxRingSecs    = 600
)

// The actions of POST .../channels/{UUID}: what pivotua does, and Kazoo's that it refuses, and why.
var (
	channelActions = []string{"hangup", "transfer", "pivot"}
	refusedActions = map[string]string{
		"callflow":  "pivotua has no stored callflows to run by id: use the pivot action with a voice_url",
		"intercept": "pivotua has no devices or users to intercept to: use transfer with a number or sip: URI",
		"break":     "pivotua runs no Konami metaflows",
		"metaflow":  "pivotua runs no Konami metaflows",
	}
	// transferRefused are Kazoo's transfer fields pivotua does not honour: refused, not ignored.
	transferRefused = map[string]string{
		"takeback_dtmf": "a transfer cannot be taken back: the channel is bridged to the target as a Dial would, and its call ends with that leg",
		"moh":           "pivotua plays no music on hold while transferring",
		"ringback":      "the transferred party hears the target's own ringback",
		"transfer-type": "only blind transfers are available",
		"leg":           "the channel named by the UUID is the leg transferred",
	}
	// pivotFields are the pivot module's fields (Kazoo's cf_pivot) a pivot action or a placed call
	// may carry.
	pivotFields = []string{"voice_url", "method", "req_format", "req_body_format", "req_timeout_ms", "debug", "cdr_url"}
)

// UseChannels serves the channels API over cc; until it is called the API answers 503.
func (a *API) UseChannels(cc ChannelControl) { a.channels = cc }

// registerChannels adds the channels routes to mux.
func (a *API) registerChannels(mux *http.ServeMux) {
	mux.HandleFunc("/v2/accounts/{account_id}/channels", a.channelsCollection)
	mux.HandleFunc("/v2/accounts/{account_id}/channels/{uuid}", a.channelResource)
}

// channelJSON is a channel as Kazoo's crossbar lists it, plus call_sid and status (pivotua's).
type channelJSON struct {
	Answered    bool   `json:"answered"`
	CallSid     string `json:"call_sid"`
	Destination string `json:"destination"`
	Direction   string `json:"direction"`
	OtherLeg    string `json:"other_leg,omitempty"`
	PresenceID  string `json:"presence_id,omitempty"`
	Status      string `json:"status"`
	Timestamp   int64  `json:"timestamp"`
	Username    string `json:"username"`
	UUID        string `json:"uuid"`
}

func channelOf(c Channel) channelJSON {
	return channelJSON{
		Answered: c.Answered, CallSid: c.CallSid, Destination: c.Destination, Direction: c.Direction,
		OtherLeg: c.OtherLeg, PresenceID: c.PresenceID, Status: c.Status, Timestamp: GregorianSeconds(c.Created),
		Username: c.Username, UUID: c.UUID,
	}
}

// channelsCollection serves GET (list) and PUT (place a call) on .../channels.
func (a *API) channelsCollection(w http.ResponseWriter, r *http.Request) {
	rp := a.newReply(w, r)
	if !isRead(r) && r.Method != http.MethodPut {
		rp.methodNotAllowed(http.MethodGet, http.MethodPut)
		return
	}
	account, ok := a.authorize(rp, r)
	if !ok || !a.channelsReady(rp) {
		return
	}
	if r.Method == http.MethodPut {
		a.originate(rp, r, account)
		return
	}
	list := a.channels.List(account)
	out := make([]channelJSON, 0, len(list))
	for _, c := range list {
		out = append(out, channelOf(c))
	}
	rp.ok(http.StatusOK, out)
}

// channelResource serves GET (fetch) and POST (act) on .../channels/{UUID}.
func (a *API) channelResource(w http.ResponseWriter, r *http.Request) {
	rp := a.newReply(w, r)
	if !isRead(r) && r.Method != http.MethodPost {
		rp.methodNotAllowed(http.MethodGet, http.MethodPost)
		return
	}
	account, ok := a.authorize(rp, r)
	if !ok || !a.channelsReady(rp) {
		return
	}
	uuid := r.PathValue("uuid")
	if uuid == "" || len(uuid) > maxUUIDLen {
		rp.fail(http.StatusNotFound, "channel not found")
		return
	}
	if isRead(r) {
		c, found := a.channels.Get(account, uuid)
		if !found {
			rp.fail(http.StatusNotFound, "channel not found: the account has no live channel "+strconv.Quote(uuid))
			return
		}
		rp.ok(http.StatusOK, channelOf(c))
		return
	}
	data, ok := readChannelData(rp, w, r)
	if !ok {
		return
	}
	action, ok := stringField(rp, data, "action", 64)
	if !ok {
		return
	}
	var c Channel
	var err error
	switch action {
	case "hangup":
		if !onlyFields(rp, data, nil, "action") {
			return
		}
		c, err = a.channels.Hangup(account, uuid)
	case "transfer":
		if !onlyFields(rp, data, transferRefused, "action", "target") {
			return
		}
		target, ok := stringField(rp, data, "target", maxTargetLen)
		if !ok {
			return
		}
		c, err = a.channels.Transfer(account, uuid, target)
	case "pivot":
		if !onlyFields(rp, data, nil, append([]string{"action"}, pivotFields...)...) {
			return
		}
		flow, ok := pivotNode(rp, data)
		if !ok {
			return
		}
		c, err = a.channels.Redirect(account, uuid, flow)
	default:
		if reason, known := refusedActions[action]; known {
			rp.badParam(&paramError{"data.action", strconv.Quote(action) + " is not supported: " + reason})
			return
		}
		rp.badEnum("data.action", action, channelActions)
		return
	}
	if err != nil {
		a.channelFailed(rp, account, err)
		return
	}
	a.log.Info("channels API: action", "account_id", account, "action", action, "uuid", c.UUID, "call_sid", c.CallSid)
	rp.ok(http.StatusOK, channelOf(c))
}

// originate serves PUT .../channels: {"data":{"to":..., "from" or "caller_id_number":..., "timeout":
// seconds, and "flow": a callflow, or voice_url and the pivot module's fields}}.
func (a *API) originate(rp *reply, r *http.Request, account string) {
	data, ok := readChannelData(rp, rp.w, r)
	if !ok {
		return
	}
	allowed := append([]string{"to", "from", "caller_id_number", "timeout", "flow"}, pivotFields...)
	if !onlyFields(rp, data, nil, allowed...) {
		return
	}
	var o Origination
	if o.To, ok = stringField(rp, data, "to", maxTargetLen); !ok {
		return
	}
	_, hasFrom := data["from"]
	_, hasCID := data["caller_id_number"]
	switch {
	case hasFrom && hasCID:
		rp.badParam(&paramError{"data.from", "give from or caller_id_number, not both"})
		return
	case hasCID:
		o.From, ok = stringField(rp, data, "caller_id_number", 128)
	default:
		o.From, ok = stringField(rp, data, "from", 128)
	}
	if !ok {
		return
	}
	if raw, given := data["timeout"]; given {
		var secs int
		if json.Unmarshal(raw, &secs) != nil || secs < 1 || secs > maxRingSecs {
			rp.badParam(&paramError{"data.timeout", fmt.Sprintf("must be a whole number of seconds between 1 and %d", maxRingSecs)})
			return
		}
		o.Timeout = time.Duration(secs) * time.Second
	}
	flow, hasFlow := data["flow"]
	_, hasURL := data["voice_url"]
	switch {
	case hasFlow && hasPivotField(data):
		rp.badParam(&paramError{"data.flow", "give a flow or a voice_url (with the pivot fields), not both"})
		return
	case hasFlow:
		if t := bytes.TrimSpace(flow); len(t) == 0 || t[0] != '{' {
			rp.badParam(&paramError{"data.flow", `must be a callflow object: {"module":"pivot","data":{...},"children":{...}}`})
			return
		}
		o.Flow = Callflow{JSON: flow, Path: "data.flow"}
	case hasURL:
		if o.Flow, ok = pivotNode(rp, data); !ok {
			return
		}
	default:
		rp.badParam(&paramError{"data.voice_url", "required: the pivot fetched once the call is answered (or give a flow)"})
		return
	}
	c, err := a.channels.Originate(account, o)
	if err != nil {
		a.channelFailed(rp, account, err)
		return
	}
	a.log.Info("channels API: call placed", "account_id", account, "call_sid", c.CallSid, "to", o.To)
	rp.ok(http.StatusCreated, channelOf(c))
}

func hasPivotField(data map[string]json.RawMessage) bool {
	for _, k := range pivotFields {
		if _, ok := data[k]; ok {
			return true
		}
	}
	return false
}

// pivotNode is a pivot callflow node of the request's pivot fields; voice_url is required.
func pivotNode(rp *reply, data map[string]json.RawMessage) (Callflow, bool) {
	if _, ok := data["voice_url"]; !ok {
		rp.badParam(&paramError{"data.voice_url", "required"})
		return Callflow{}, false
	}
	fields := make(map[string]json.RawMessage, len(pivotFields))
	for _, k := range pivotFields {
		if v, ok := data[k]; ok {
			fields[k] = v
		}
	}
	raw, err := json.Marshal(map[string]any{"module": "pivot", "data": fields})
	if err != nil { // the values were decoded from JSON: this cannot fail
		rp.fail(http.StatusInternalServerError, "internal error")
		return Callflow{}, false
	}
	return Callflow{JSON: raw, Path: ""}, true
}

// channelsReady answers 503 while no ChannelControl is wired.
func (a *API) channelsReady(rp *reply) bool {
	if a.channels == nil {
		rp.fail(http.StatusServiceUnavailable, "the channels API is not available on this node")
		return false
	}
	return true
}

// channelFailed answers a ChannelControl error.
func (a *API) channelFailed(rp *reply, account string, err error) {
	var fe *FieldError
	switch {
	case errors.As(err, &fe):
		rp.badParam(&paramError{fe.Field, fe.Message})
	case errors.Is(err, ErrChannelNotFound):
		rp.fail(http.StatusNotFound, err.Error())
	case errors.Is(err, ErrChannelLimit):
		rp.fail(http.StatusTooManyRequests, err.Error())
	case errors.Is(err, ErrChannelUnavailable):
		rp.fail(http.StatusServiceUnavailable, err.Error())
	case errors.Is(err, ErrChannelOwnerTimeout):
		rp.fail(http.StatusGatewayTimeout, err.Error())
	default:
		a.log.Error("channels API: action failed", "account_id", account, "error", err)
		rp.fail(http.StatusInternalServerError, "the action failed; try again")
	}
}

// readChannelData reads a body {"data":{...}} within its bound; it answers the request itself and
// returns false when the body is not that. The Content-Type is not checked, as PUT /v2/api_auth does
// not check it: curl -d sends a form type, and what counts is that the body parses as JSON.
func readChannelData(rp *reply, w http.ResponseWriter, r *http.Request) (map[string]json.RawMessage, bool) {
	var body struct {
		Data map[string]json.RawMessage `json:"data"`
	}
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxChannelBody))
	err := dec.Decode(&body)
	if err == nil && dec.Decode(&struct{}{}) != io.EOF {
		err = errors.New("data after the JSON object")
	}
	if err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			rp.fail(http.StatusRequestEntityTooLarge, fmt.Sprintf("the body is over %d KiB", maxChannelBody>>10))
			return nil, false
		}
		rp.badParam(&paramError{"data", `the body must be one JSON object: {"data":{"action":"..."}}`})
		return nil, false
	}
	if body.Data == nil {
		rp.badParam(&paramError{"data", "required: an object"})
		return nil, false
	}
	return body.Data, true
}

// stringField reads data[name], a non-empty string of at most most bytes without control characters.
func stringField(rp *reply, data map[string]json.RawMessage, name string, most int) (string, bool) {
	raw, ok := data[name]
	if !ok {
		rp.badParam(&paramError{"data." + name, "required"})
		return "", false
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		rp.badParam(&paramError{"data." + name, "must be a string"})
		return "", false
	}
	s = strings.TrimSpace(s)
	switch {
	case s == "":
		rp.badParam(&paramError{"data." + name, "must not be empty"})
		return "", false
	case len(s) > most:
		rp.badParam(&paramError{"data." + name, fmt.Sprintf("is %d bytes: at most %d", len(s), most)})
		return "", false
	case strings.ContainsFunc(s, func(r rune) bool { return r < ' ' || r == 0x7f }):
		rp.badParam(&paramError{"data." + name, "must not hold control characters"})
		return "", false
	}
	return s, true
}

// onlyFields refuses the first field of data not in allowed (refused ones with their reason), in
// sorted order for a stable answer.
func onlyFields(rp *reply, data map[string]json.RawMessage, refused map[string]string, allowed ...string) bool {
	keys := make([]string, 0, len(data))
	for k := range data {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		if reason, ok := refused[k]; ok {
			rp.badParam(&paramError{"data." + k, "is not supported by pivotua: " + reason})
			return false
		}
		if !slices.Contains(allowed, k) {
			rp.badParam(&paramError{"data." + limitText(k), "is not a field pivotua knows here"})
			return false
		}
	}
	return true
}

// badEnum answers 400 for a value not among allowed, in Kazoo's validation layout for an enum.
func (rp *reply) badEnum(param, value string, allowed []string) {
	msg := fmt.Sprintf("invalid %s: %s is not one of %s", param, strconv.Quote(limitText(value)), strings.Join(allowed, ", "))
	rp.send(http.StatusBadRequest, envelope{Status: "error", Error: "400", Message: msg},
		map[string]map[string]map[string]any{param: {"enum": {
			"message": "Value not found in enumerated list of values", "target": allowed, "value": limitText(value),
		}}})
}

// limitText cuts a client's text short for a message.
func limitText(s string) string {
	if len(s) > 64 {
		return s[:64] + "..."
	}
	return s
}
