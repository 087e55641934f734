package flow

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"net/url"
	"strconv"
	"strings"
	"unicode/utf8"
)

// dataReader reads one module's "data" object field by field, recording a *ValidationError for each
// field of the wrong type or out of range. Unknown fields are ignored: Kazoo schemas allow extra
// properties. A null field counts as absent.
type dataReader struct {
	fields []jsonMember
	path   string // of the data object, e.g. "flow.children._.data"
	errs   []error
	// asked is every field the module asked for, present or not, when UnknownDataFields wants to
	// know (it makes the map); nil: not kept, as when a call compiles a node.
	asked map[string]bool
}

func newDataReader(raw json.RawMessage, path string) *dataReader {
	d := &dataReader{path: path}
	if len(raw) == 0 || isJSONNull(raw) {
		return d
	}
	members, ok := jsonMembers(raw)
	if !ok {
		d.errs = append(d.errs, &ValidationError{Path: path, Message: "must be an object"})
		return d
	}
	d.fields = members
	return d
}

func (d *dataReader) fail(field, msg string) {
	d.errs = append(d.errs, &ValidationError{Path: joinPath(d.path, field), Message: msg})
}

// raw returns a field's JSON, or false when it is absent or null.
func (d *dataReader) raw(field string) (json.RawMessage, bool) {
	if d.asked != nil {
		d.asked[field] = true
	}
	v, ok := lookup(d.fields, field)
	if !ok || isJSONNull(v) {
		return nil, false
	}
	return v, true
}

func (d *dataReader) required(field string) bool {
	if _, ok := d.raw(field); !ok {
		d.fail(field, "required")
		return false
	}
	return true
}

func (d *dataReader) str(field, def string) string {
	v, ok := d.raw(field)
	if !ok {
		return def
	}
	s, ok := jsonString(v)
	if !ok {
		d.fail(field, "must be a string")
		return def
	}
	return s
}

// enum reads a string that must be one of allowed, compared case-insensitively; it returns the
// allowed spelling.
func (d *dataReader) enum(field, def string, allowed ...string) string {
	v, ok := d.raw(field)
	if !ok {
		return def
	}
	s, ok := jsonString(v)
	if ok {
		for _, a := range allowed {
			if strings.EqualFold(s, a) {
				return a
			}
		}
	}
	d.fail(field, "must be one of "+strings.Join(allowed, ", "))
	return def
}

// integer reads a JSON number without a fraction within [lo, hi], or a string holding one: Kazoo's
// own examples write "code":"486" and "timeout":"20", and Kazoo takes them.
func (d *dataReader) integer(field string, def, lo, hi int64) int64 {
	v, ok := d.raw(field)
	if !ok {
		return def
	}
	n, ok := jsonInteger(v)
	if s, isString := jsonString(v); !ok && isString {
		n, ok = numericString(s)
	}
	switch {
	case !ok:
		d.fail(field, "must be an integer")
		return def
	case n < lo || n > hi:
		if hi == math.MaxInt64 {
			d.fail(field, fmt.Sprintf("must be at least %d", lo))
		} else {
			d.fail(field, fmt.Sprintf("must be between %d and %d", lo, hi))
		}
		return def
	}
	return n
}

func (d *dataReader) boolean(field string, def bool) bool {
	v, ok := d.raw(field)
	if !ok {
		return def
	}
	switch string(bytes.TrimSpace(v)) {
	case "true":
		return true
	case "false":
		return false
	}
	d.fail(field, "must be a boolean")
	return def
}

// httpURL reads a string that must be an absolute http or https URL.
func (d *dataReader) httpURL(field string) string {
	s := d.str(field, "")
	if s == "" {
		if _, present := d.raw(field); present {
			d.fail(field, "must be an http or https URL")
		}
		return ""
	}
	if !isHTTPURL(s) {
		d.fail(field, "must be an http or https URL")
		return ""
	}
	return s
}

// dtmfKeys reads a list of DTMF keys ("1", "#", ...) and returns them as one string; def when the field
// is absent (an empty list means no keys).
func (d *dataReader) dtmfKeys(field, def string) string {
	v, ok := d.raw(field)
	if !ok {
		return def
	}
	var list []json.RawMessage
	if err := json.Unmarshal(v, &list); err != nil {
		d.fail(field, "must be a list of DTMF keys")
		return ""
	}
	var keys strings.Builder
	for i, item := range list {
		s, ok := jsonString(item)
		if !ok || len(s) != 1 || !isDTMFKey(s[0]) {
			d.fail(fmt.Sprintf("%s[%d]", field, i), "must be one of 0-9, *, #")
			continue
		}
		keys.WriteString(s)
	}
	return keys.String()
}

// maxText reads a string of at most max characters.
func (d *dataReader) maxText(field string, max int) string {
	s := d.str(field, "")
	if utf8.RuneCountInString(s) > max {
		d.fail(field, fmt.Sprintf("must be at most %d characters", max))
		return ""
	}
	return s
}

func isDTMFKey(c byte) bool {
	return c >= '0' && c <= '9' || c == '*' || c == '#'
}

func isHTTPURL(s string) bool {
	u, err := url.Parse(s)
	if err != nil || u.Host == "" {
		return false
	}
	return strings.EqualFold(u.Scheme, "http") || strings.EqualFold(u.Scheme, "https")
}

func isJSONNull(raw json.RawMessage) bool {
	return string(bytes.TrimSpace(raw)) == "null"
}

func jsonObject(raw json.RawMessage) (map[string]json.RawMessage, bool) {
	t := bytes.TrimSpace(raw)
	if len(t) == 0 || t[0] != '{' {
		return nil, false
	}
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(t, &obj); err != nil {
		return nil, false
	}
	return obj, true
}

// jsonMember is one member of a JSON object: its key decoded, its value as it is written.
type jsonMember struct {
	key   string
	value json.RawMessage // a slice of the object's bytes, not a copy
}

// jsonMembers returns the members of the JSON object raw in order, as jsonObject's map holds them
// (a key repeated: the last one counts) but without decoding into a map through reflection or
// copying each value: a call setup reads a few objects (the node, its data) once each. false when
// raw is not a valid JSON object.
func jsonMembers(raw json.RawMessage) ([]jsonMember, bool) {
	t := bytes.TrimSpace(raw)
	if len(t) == 0 || t[0] != '{' || !json.Valid(t) {
		return nil, false
	}
	var members []jsonMember
	i := skipJSONSpace(t, 1)
	for t[i] != '}' { // valid JSON: a member, then "," or "}"
		end := skipJSONValue(t, i)
		key, ok := jsonString(t[i:end])
		if !ok {
			return nil, false
		}
		i = skipJSONSpace(t, skipJSONSpace(t, end)+1) // past ":"
		end = skipJSONValue(t, i)
		members = append(members, jsonMember{key: key, value: t[i:end:end]})
		if i = skipJSONSpace(t, end); t[i] == ',' {
			i = skipJSONSpace(t, i+1)
		}
	}
	return members, true
}

// lookup is the value of the last member named key.
func lookup(members []jsonMember, key string) (json.RawMessage, bool) {
	for i := len(members) - 1; i >= 0; i-- {
		if members[i].key == key {
			return members[i].value, true
		}
	}
	return nil, false
}

// skipJSONSpace is the index of the first byte at or after i that is not JSON whitespace (RFC 8259
// §2).
func skipJSONSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

// skipJSONValue is the index just past the value that starts at b[i], in valid JSON.
func skipJSONValue(b []byte, i int) int {
	switch b[i] {
	case '"':
		return skipJSONString(b, i)
	case '{', '[':
		depth := 0
		for ; i < len(b); i++ {
			switch b[i] {
			case '"':
				i = skipJSONString(b, i) - 1
			case '{', '[':
				depth++
			case '}', ']':
				if depth--; depth == 0 {
					return i + 1
				}
			}
		}
		return i
	}
	for i < len(b) && !strings.ContainsRune(",}] \t\n\r", rune(b[i])) { // a number, true, false or null
		i++
	}
	return i
}

// skipJSONString is the index just past the string that starts at b[i] (its opening quote).
func skipJSONString(b []byte, i int) int {
	for i++; i < len(b); i++ {
		switch b[i] {
		case '\\':
			i++
		case '"':
			return i + 1
		}
	}
	return i
}

func jsonString(raw json.RawMessage) (string, bool) {
	t := bytes.TrimSpace(raw)
	if len(t) == 0 || t[0] != '"' {
		return "", false
	}
	if inner := t[1:]; len(inner) > 0 && inner[len(inner)-1] == '"' && plainJSONString(inner[:len(inner)-1]) {
		return string(inner[:len(inner)-1]), true
	}
	var s string
	if err := json.Unmarshal(t, &s); err != nil {
		return "", false
	}
	return s, true
}

// plainJSONString reports whether b, the bytes between a JSON string's quotes, is the string itself,
// as json.Unmarshal would decode it: no escape, quote or control character (RFC 8259 §7), valid
// UTF-8 (which Unmarshal would otherwise replace). Most strings are, and need no decoder.
func plainJSONString(b []byte) bool {
	for _, c := range b {
		if c < 0x20 || c == '"' || c == '\\' {
			return false
		}
	}
	return utf8.Valid(b)
}

func jsonInteger(raw json.RawMessage) (int64, bool) {
	t := string(bytes.TrimSpace(raw))
	if t == "" || (t[0] != '-' && (t[0] < '0' || t[0] > '9')) {
		return 0, false
	}
	if n, err := strconv.ParseInt(t, 10, 64); err == nil {
		return n, true
	}
	f, err := strconv.ParseFloat(t, 64)
	if err != nil || f != math.Trunc(f) || math.Abs(f) > 1<<53 {
		return 0, false
	}
	return int64(f), true
}

// numericString reads an integer written as a string ("486", " 20 "); no sign but "-", no fraction,
// no exponent, at most 18 digits, so it cannot overflow.
func numericString(s string) (int64, bool) {
	s = strings.TrimSpace(s)
	digits := strings.TrimPrefix(s, "-")
	if digits == "" || len(digits) > 18 || strings.Trim(digits, "0123456789") != "" {
		return 0, false
	}
	n, err := strconv.ParseInt(s, 10, 64)
	return n, err == nil
}

// jsonScalarString renders a JSON string, number or boolean as a string.
func jsonScalarString(raw json.RawMessage) (string, bool) {
	if s, ok := jsonString(raw); ok {
		return s, true
	}
	t := string(bytes.TrimSpace(raw))
	switch {
	case t == "true" || t == "false":
		return t, true
	case t != "" && (t[0] == '-' || t[0] >= '0' && t[0] <= '9'):
		if _, err := strconv.ParseFloat(t, 64); err == nil {
			return t, true
		}
	}
	return "", false
}
