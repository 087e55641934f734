package debugapi

import (
	"crypto/sha256"
	"encoding/hex"
	"strings"
	"unicode/utf8"
)

// The store keeps every text that comes from the wire or a webhook (Call-ID, URIs, header names and
// values, bodies, error snippets, event data) in one escaped form, the same on SQLite and PostgreSQL:
// valid UTF-8 without NUL, which a PostgreSQL TEXT column accepts and JSON carries unchanged.
//
//   - a NUL byte becomes the four characters \x00;
//   - each byte that is not part of valid UTF-8 (a stray continuation byte, a cut sequence, an
//     overlong form, a surrogate encoded as bytes) becomes \xHH, lower-case hex;
//   - everything else, backslashes and other control characters included, is kept as it came.
//
// So distinct byte strings stay distinct (only text that already spells \xHH can meet an escape), the
// escaped form of escaped text is itself, and a Call-ID gives the same key however often it is stored
// or looked up: as the caller sent it, or as the API shows it.

// maxStoredCallIDLen bounds a stored call_id: it is part of two indexes (a PostgreSQL B-tree entry may
// not exceed about 2.7 KB) and of the API's path.
const maxStoredCallIDLen = 1024

// callIDHashLen is the hex digits of SHA-256 that end a shortened call_id.
const callIDHashLen = 32

// StoredText is s in the store's escaped form (see above). Text that needs no escape is returned as is.
func StoredText(s string) string {
	if strings.IndexByte(s, 0) < 0 && utf8.ValidString(s) {
		return s
	}
	var b strings.Builder
	b.Grow(len(s) + 16)
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == 0 || (r == utf8.RuneError && size == 1) {
			b.WriteString(`\x`)
			b.WriteByte(hexDigits[s[i]>>4])
			b.WriteByte(hexDigits[s[i]&0xf])
			i++
			continue
		}
		b.WriteString(s[i : i+size])
		i += size
	}
	return b.String()
}

// StoredCallID is the key the store keeps a call under and finds it by: StoredText(callID), and when
// that is over 1024 bytes, its first bytes (cut at a character) then "~" and 32 hex digits of the
// SHA-256 of the whole escaped text, so a long Call-ID still has one key of its own.
func StoredCallID(callID string) string {
	s := StoredText(callID)
	if len(s) <= maxStoredCallIDLen {
		return s
	}
	sum := sha256.Sum256([]byte(s))
	keep := maxStoredCallIDLen - 1 - callIDHashLen
	for keep > 0 && !utf8.RuneStart(s[keep]) {
		keep--
	}
	return s[:keep] + "~" + hex.EncodeToString(sum[:])[:callIDHashLen]
}

// storedHeaders is h with every name and value in the escaped form; h itself when none needs it.
func storedHeaders(h map[string]string) map[string]string {
	clean := true
	for k, v := range h {
		if StoredText(k) != k || StoredText(v) != v {
			clean = false
			break
		}
	}
	if clean {
		return h
	}
	out := make(map[string]string, len(h))
	for k, v := range h {
		out[StoredText(k)] = StoredText(v)
	}
	return out
}

// storedValue is v (event data, a schema error's target: JSON-like values) with every string and
// map key in the escaped form.
func storedValue(v any) any {
	switch v := v.(type) {
	case string:
		return StoredText(v)
	case map[string]any:
		if v == nil {
			return v
		}
		out := make(map[string]any, len(v))
		for k, x := range v {
			out[StoredText(k)] = storedValue(x)
		}
		return out
	case []any:
		if v == nil {
			return v
		}
		out := make([]any, len(v))
		for i, x := range v {
			out[i] = storedValue(x)
		}
		return out
	case map[string]string:
		return storedHeaders(v)
	case []string:
		out := make([]string, len(v))
		for i, x := range v {
			out[i] = StoredText(x)
		}
		return out
	}
	return v
}

// storedRecord is r with every text in the store's escaped form, and its call id the call's key.
func storedRecord(r Record) Record {
	r.CallID = StoredCallID(r.CallID)
	r.Node, r.Method, r.URI = StoredText(r.Node), StoredText(r.Method), StoredText(r.URI)
	r.ReqHeaders, r.ReqBody, r.FetchError = storedHeaders(r.ReqHeaders), StoredText(r.ReqBody), StoredText(r.FetchError)
	r.RespHeaders, r.RespBody = storedHeaders(r.RespHeaders), StoredText(r.RespBody)
	r.Event = StoredText(r.Event)
	if r.EventData != nil {
		r.EventData = storedValue(r.EventData).(map[string]any)
	}
	if je := r.JSONErrors; je != nil {
		r.JSONErrors = &JSONErrors{
			Message: StoredText(je.Message), Before: StoredText(je.Before),
			After: StoredText(je.After), Detail: StoredText(je.Detail),
		}
	}
	if r.SchemaErrors != nil {
		se := make(SchemaErrors, len(r.SchemaErrors))
		for path, rules := range r.SchemaErrors {
			out := make(map[string]SchemaError, len(rules))
			for rule, e := range rules {
				out[StoredText(rule)] = SchemaError{Message: StoredText(e.Message), Target: storedValue(e.Target)}
			}
			se[StoredText(path)] = out
		}
		r.SchemaErrors = se
	}
	return r
}
