package debugapi

import (
	"encoding/base64"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Page sizes of GET /v2/accounts/{ACCOUNT_ID}/pivot/debug.
const (
	DefaultPageSize = 50
	MaxPageSize     = 1000
)

// maxGregorian is 9999-12-31T23:59:59Z in Gregorian seconds: the last created value a filter may name.
const maxGregorian = 253402300799 + GregorianOffset

// maxStartKeyLen bounds a start_key before any decoding is attempted.
const maxStartKeyLen = 4096

// paramError is a query parameter the API cannot use: a 400 that names it.
type paramError struct {
	Param   string
	Message string
}

func (e *paramError) Error() string { return e.Param + ": " + e.Message }

// ParseListQuery reads the list parameters: page_size (1..MaxPageSize, default DefaultPageSize),
// start_key (a next_start_key this API handed out), created_from / created_to (Gregorian seconds,
// inclusive), ascending=true or descending=false (oldest first). Parameters it does not know
// (auth_token, ...) are ignored; a repeated one counts by its first value.
func ParseListQuery(v url.Values) (ListQuery, error) {
	q := ListQuery{Limit: DefaultPageSize}
	if s, ok := first(v, "page_size"); ok {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > MaxPageSize {
			return q, &paramError{"page_size", fmt.Sprintf("must be an integer from 1 to %d", MaxPageSize)}
		}
		q.Limit = n
	}
	if s, ok := first(v, "start_key"); ok {
		c, err := DecodeStartKey(s)
		if err != nil {
			return q, &paramError{"start_key", "is not a next_start_key from this API"}
		}
		q.Start = &c
	}
	var from, to int64 = -1, -1
	for _, p := range []struct {
		name string
		dst  *int64
	}{{"created_from", &from}, {"created_to", &to}} {
		s, ok := first(v, p.name)
		if !ok {
			continue
		}
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil || n < 0 || n > maxGregorian {
			return q, &paramError{p.name, "must be a time in Gregorian seconds, e.g. 63896025600"}
		}
		*p.dst = n
	}
	if from >= 0 && to >= 0 && to < from {
		return q, &paramError{"created_to", "must not be before created_from"}
	}
	if from >= 0 {
		q.From = FromGregorian(from)
	}
	if to >= 0 {
		q.To = FromGregorian(to).Add(time.Second - time.Microsecond)
	}
	if s, ok := first(v, "ascending"); ok {
		b, err := strconv.ParseBool(s)
		if err != nil {
			return q, &paramError{"ascending", "must be true or false"}
		}
		q.Ascending = b
	} else if s, ok := first(v, "descending"); ok {
		b, err := strconv.ParseBool(s)
		if err != nil {
			return q, &paramError{"descending", "must be true or false"}
		}
		q.Ascending = !b
	}
	return q, nil
}

func first(v url.Values, key string) (string, bool) {
	vs, ok := v[key]
	if !ok || len(vs) == 0 {
		return "", false
	}
	return vs[0], true
}

// startKeyVersion prefixes every start key, so the layout can change without misreading old keys.
const startKeyVersion = "1"

// EncodeStartKey turns a list position into the opaque start_key / next_start_key of the API:
// URL-safe base64 of "1|<created unix µs>|<call_id>".
func EncodeStartKey(c Cursor) string {
	raw := startKeyVersion + "|" + strconv.FormatInt(c.Created.UnixMicro(), 10) + "|" + c.CallID
	return base64.RawURLEncoding.EncodeToString([]byte(raw))
}

// DecodeStartKey reads a key EncodeStartKey wrote; anything else is ErrBadStartKey.
func DecodeStartKey(s string) (Cursor, error) {
	if s == "" || len(s) > maxStartKeyLen {
		return Cursor{}, ErrBadStartKey
	}
	raw, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return Cursor{}, ErrBadStartKey
	}
	version, rest, ok := strings.Cut(string(raw), "|")
	if !ok || version != startKeyVersion {
		return Cursor{}, ErrBadStartKey
	}
	created, callID, ok := strings.Cut(rest, "|")
	if !ok || callID == "" {
		return Cursor{}, ErrBadStartKey
	}
	us, err := strconv.ParseInt(created, 10, 64)
	if err != nil || us < 0 || created != strconv.FormatInt(us, 10) {
		return Cursor{}, ErrBadStartKey
	}
	return Cursor{Created: time.UnixMicro(us).UTC(), CallID: callID}, nil
}
