package httpfetch

import (
	"slices"
	"strings"
	"sync"
)

// CallParams is what the pivot request tells the developer's server about the
// call. Empty strings and empty maps are not sent.
type CallParams struct {
	AccountID string
	CallID    string
	// Direction is "" for the inbound call (sent as inbound); "outbound-dial" for a Dial callee
	// running its noun's url document, whose ParentCallID is the caller's Call-ID.
	Direction, ParentCallID string
	// Caller ID from P-Asserted-Identity, else From (the flow decides).
	CallerIDName, CallerIDNumber string
	// User parts and hosts of the From, To and Request-URI.
	From, FromRealm, To, ToRealm, Request, RequestRealm string
	Language                                            string // kazoo only, e.g. "en-us"
	CallStatus                                          string // "ringing" / "in-progress"; kazoo sends Call-Status only when set

	CustomSIPHeaders      map[string]string // the INVITE's X- headers: kazoo's Custom-SIP-Headers, twiml's SipHeader_<name>
	CustomApplicationVars map[string]string // kazoo only
	// Digits is keyed by collection name: kazoo sends the whole object,
	// twiml sends Digits["default"].
	Digits map[string]string

	RecordingURL, RecordingDuration               string
	DialCallStatus, DialCallSid, DialCallDuration string
	ReferCallStatus, ReferSipResponseCode         string // the last TwiML <Refer>'s outcome
	// Variables are TwiML <Set> variables, sent under their own names.
	Variables map[string]string
}

// Request formats (PivotRequest.Format).
const (
	FormatKazoo = "kazoo"
	FormatTwiML = "twiml"
)

// Request body formats (PivotRequest.BodyFormat, POST only).
const (
	BodyForm = "form"
	BodyJSON = "json"
)

const (
	kazooAPIVersion = "4.x"
	twimlAPIVersion = "2010-04-01"
	// Kazoo always reports inbound: pivot only runs on the inbound leg (pivotua also runs a Dial
	// noun's url document on the callee, CallParams.Direction).
	directionInbound = "inbound"
	defaultDigits    = "default"
	sipHeaderPrefix  = "SipHeader_" // Twilio's parameter for an X- header of the INVITE
)

// paramField is one top-level parameter: a string, or an object when object
// is non-nil.
type paramField struct {
	name   string
	value  string
	object []paramPair // sorted by key
}

// paramPair is a name and a value, used for object members and for the
// flattened (PHP-style) form of a parameter set.
type paramPair struct{ key, value string }

// paramSet collects fields; the first field added under a name wins, which is
// how base parameters beat Kazoo's user vars on a clash.
type paramSet struct{ fields []paramField }

func (s *paramSet) has(name string) bool {
	for i := range s.fields {
		if s.fields[i].name == name {
			return true
		}
	}
	return false
}

func (s *paramSet) add(name, value string) {
	if name == "" || value == "" || s.has(name) {
		return
	}
	s.fields = append(s.fields, paramField{name: name, value: value})
}

func (s *paramSet) addObject(name string, m map[string]string) {
	if name == "" || s.has(name) {
		return
	}
	var members []paramPair
	for k, v := range m {
		if k != "" && v != "" {
			members = append(members, paramPair{k, v})
		}
	}
	if len(members) == 0 {
		return
	}
	slices.SortFunc(members, func(a, b paramPair) int { return strings.Compare(a.key, b.key) })
	s.fields = append(s.fields, paramField{name: name, object: members})
}

// addVariables adds TwiML <Set> variables in key order so that the result
// does not depend on map iteration.
func (s *paramSet) addVariables(vars map[string]string) { s.addPrefixed("", vars) }

// addPrefixed adds each of m's entries under prefix+key, in key order.
func (s *paramSet) addPrefixed(prefix string, m map[string]string) {
	if len(m) == 0 {
		return
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		s.add(prefix+k, m[k])
	}
}

// sorted returns the fields in name order, which makes encodings stable.
func (s *paramSet) sorted() []paramField {
	slices.SortFunc(s.fields, func(a, b paramField) int { return strings.Compare(a.name, b.name) })
	return s.fields
}

// paramSets are the field lists of the pivot requests being built: a list
// is read only while its request is encoded and signed, and would otherwise
// be 1.3 KB allocated per request.
var paramSets = sync.Pool{New: func() any { return &paramSet{fields: make([]paramField, 0, 32)} }}

// buffers are the scratch space a pivot request is encoded and signed in:
// what is built there is copied out at its exact size, or only hashed.
var buffers = sync.Pool{New: func() any { b := make([]byte, 0, 2048); return &b }}

// maxPooledBuffer bounds the buffer a request gives back to the pool.
const maxPooledBuffer = 64 << 10

func getBuffer() *[]byte { return buffers.Get().(*[]byte) }

// putBuffer pools b emptied; what it held is never read again, only
// written over.
func putBuffer(b *[]byte) {
	if cap(*b) > maxPooledBuffer {
		return
	}
	*b = (*b)[:0]
	buffers.Put(b)
}

// maxPooledFields bounds the list a paramSet goes back to the pool with:
// one request with many <Set> variables does not keep its size for good.
const maxPooledFields = 64

// release empties s (no call's values stay referenced) and pools it.
func (s *paramSet) release() {
	if cap(s.fields) > maxPooledFields {
		return
	}
	clear(s.fields)
	s.fields = s.fields[:0]
	paramSets.Put(s)
}

// buildParams returns the parameter set for format (FormatKazoo or
// FormatTwiML), sorted by name.
func buildParams(format string, p *CallParams) []paramField {
	s := paramSet{fields: make([]paramField, 0, 24+len(p.Variables))}
	return s.build(format, p)
}

// build adds the parameters for format to the empty s and returns them
// sorted by name.
func (s *paramSet) build(format string, p *CallParams) []paramField {
	if format == FormatTwiML {
		s.add("AccountSid", p.AccountID)
		s.add("ApiVersion", twimlAPIVersion)
		s.add("CallSid", p.CallID)
		s.add("CallStatus", p.CallStatus)
		s.add("CallerName", p.CallerIDName)
		s.add("CallerNumber", p.CallerIDNumber)
		s.add("Direction", p.Direction) // the first value added under a name wins: inbound is the default
		s.add("Direction", directionInbound)
		s.add("From", p.From)
		s.add("FromRealm", p.FromRealm)
		s.add("ParentCallSid", p.ParentCallID)
		s.add("To", p.To)
		s.add("ToRealm", p.ToRealm)
		// Twilio passes each X- header of the INVITE as SipHeader_<name>, the name as sent.
		s.addPrefixed(sipHeaderPrefix, p.CustomSIPHeaders)
	} else {
		s.add("Account-ID", p.AccountID)
		s.add("Api-Version", kazooAPIVersion)
		s.add("Call-ID", p.CallID)
		s.add("Call-Status", p.CallStatus)
		s.add("Caller-ID-Name", p.CallerIDName)
		s.add("Caller-ID-Number", p.CallerIDNumber)
		s.addObject("Custom-Application-Vars", p.CustomApplicationVars)
		s.addObject("Custom-SIP-Headers", p.CustomSIPHeaders)
		// Kazoo JSON flows keep digits per collection_name, so the base
		// Digits is an object; the string user var below never replaces it.
		s.addObject("Digits", p.Digits)
		s.add("Direction", p.Direction)
		s.add("Direction", directionInbound)
		s.add("From", p.From)
		s.add("From-Realm", p.FromRealm)
		s.add("Language", p.Language)
		s.add("Recording-Duration", p.RecordingDuration)
		s.add("Recording-Url", p.RecordingURL)
		s.add("Request", p.Request)
		s.add("Parent-Call-ID", p.ParentCallID)
		s.add("Request-Realm", p.RequestRealm)
		s.add("To", p.To)
		s.add("To-Realm", p.ToRealm)
	}
	// Kazoo's user vars: merged whatever the format, TwiML names, base wins.
	s.add("Digits", p.Digits[defaultDigits])
	s.add("RecordingUrl", p.RecordingURL)
	s.add("RecordingDuration", p.RecordingDuration)
	s.add("DialCallStatus", p.DialCallStatus)
	s.add("DialCallSid", p.DialCallSid)
	s.add("DialCallDuration", p.DialCallDuration)
	s.add("ReferCallStatus", p.ReferCallStatus)
	s.add("ReferSipResponseCode", p.ReferSipResponseCode)
	s.addVariables(p.Variables)
	return s.sorted()
}
