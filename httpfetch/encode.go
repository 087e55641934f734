package httpfetch

import (
	"bytes"
	"encoding/json"
	"net/url"
	"strings"
)

// flatten returns the fields as form pairs, objects spelled with PHP-style
// keys (Digits[default]). Keys and values are not escaped: these are the
// names and values a server sees after decoding the form.
func flatten(fields []paramField) []paramPair {
	n := 0
	for i := range fields {
		n += max(1, len(fields[i].object))
	}
	pairs := make([]paramPair, 0, n)
	for _, f := range fields {
		if f.object == nil {
			pairs = append(pairs, paramPair{f.name, f.value})
			continue
		}
		for _, m := range f.object {
			pairs = append(pairs, paramPair{f.name + "[" + m.key + "]", m.value})
		}
	}
	return pairs
}

// encodeForm writes fields as application/x-www-form-urlencoded, in the
// order given (buildParams sorts them). Values are escaped as Kazoo does
// (see escapeFormValue); keys are escaped only where they would break the
// form (see escapeFormKey), brackets of PHP-style keys stay literal.
func encodeForm(fields []paramField) string {
	buf := getBuffer()
	defer putBuffer(buf)
	*buf = appendForm(*buf, fields)
	return string(*buf)
}

// appendForm is encodeForm appending to b: the form starts at len(b).
func appendForm(b []byte, fields []paramField) []byte {
	start := len(b)
	for _, f := range fields {
		if f.object == nil {
			b = appendFormPair(b, start, f.name, "", f.value)
			continue
		}
		for _, m := range f.object {
			b = appendFormPair(b, start, f.name, m.key, m.value)
		}
	}
	return b
}

// appendFormPair appends one name=value, after "&" unless it is the first
// pair of the form that starts at start.
func appendFormPair(b []byte, start int, name, member, value string) []byte {
	if len(b) > start {
		b = append(b, '&')
	}
	b = escapeFormKey(b, name)
	if member != "" {
		b = append(b, '[')
		b = escapeFormKey(b, member)
		b = append(b, ']')
	}
	b = append(b, '=')
	return escapeFormValue(b, value)
}

const upperHex = "0123456789ABCDEF"

func appendPercent(b []byte, c byte) []byte {
	return append(b, '%', upperHex[c>>4], upperHex[c&15])
}

// escapeFormValue escapes as Kazoo's form encoder: alphanumerics and
// ". - ~ _" stay, space becomes "+", every other byte is %XX.
func escapeFormValue(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9',
			c == '.', c == '-', c == '~', c == '_':
			b = append(b, c)
		case c == ' ':
			b = append(b, '+')
		default:
			b = appendPercent(b, c)
		}
	}
	return b
}

// escapeFormKey leaves a key as it is where that is safe (Kazoo does not
// escape keys, and its own keys are letters and "-"): RFC 3986 unreserved
// characters and ! $ ' ( ) * , / : ? @ stay, every other byte is %XX. That
// escapes everything that would break the form, the URL or the PHP-style
// nesting: space and controls, non-ASCII, & = + % # ; [ ] and the characters
// RFC 3986 does not allow in a query. (Go's url.ParseQuery rejects a raw ";",
// "+" would read back as a space, "[" and "]" would change the nesting.)
func escapeFormKey(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if keyByteNeedsEscape(c) {
			b = appendPercent(b, c)
		} else {
			b = append(b, c)
		}
	}
	return b
}

func keyByteNeedsEscape(c byte) bool {
	switch {
	case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		return false
	}
	switch c {
	case '-', '.', '_', '~', '!', '$', '\'', '(', ')', '*', ',', '/', ':', '?', '@':
		return false
	}
	return true
}

// encodeJSON writes fields as one JSON object; objects stay objects. HTML
// characters are not escaped: the body is not for a browser.
func encodeJSON(fields []paramField) ([]byte, error) {
	obj := make(map[string]any, len(fields))
	for _, f := range fields {
		if f.object == nil {
			obj[f.name] = f.value
			continue
		}
		m := make(map[string]string, len(f.object))
		for _, p := range f.object {
			m[p.key] = p.value
		}
		obj[f.name] = m
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(obj); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}

// queryURL is u as a GET pivot request sends it: the form of fields joined
// to u's query as joinQuery joins them, and the whole URL as u.String()
// writes it with that query. It is built in one pooled buffer rather than
// through the form, the joined query and the URL as three strings. u has no
// fragment (parseHTTPURL): nothing follows the query.
func queryURL(u *url.URL, fields []paramField) string {
	buf := getBuffer()
	defer putBuffer(buf)
	query, force := u.RawQuery, u.ForceQuery
	u.RawQuery, u.ForceQuery = "", false
	b := append(*buf, u.String()...)
	u.RawQuery, u.ForceQuery = query, force
	noQuery := len(b)
	b = append(b, '?')
	b = append(b, query...)
	joined := len(b)
	if query != "" && !strings.HasSuffix(query, "&") {
		b = append(b, '&')
	}
	form := len(b)
	b = appendForm(b, fields)
	switch {
	case len(b) > form:
	case query != "" || force: // nothing to add: the query as it was
		b = b[:joined]
	default:
		b = b[:noQuery]
	}
	*buf = b
	return string(b)
}

// joinQuery appends an encoded query to a URL's raw query with "&".
func joinQuery(rawQuery, add string) string {
	switch {
	case add == "":
		return rawQuery
	case rawQuery == "", strings.HasSuffix(rawQuery, "&"):
		return rawQuery + add
	default:
		return rawQuery + "&" + add
	}
}

// pairsFromValues converts decoded form values into pairs (used by the
// validators, which see what a server parsed).
func pairsFromValues(form url.Values) []paramPair {
	var pairs []paramPair
	for k, vs := range form {
		for _, v := range vs {
			pairs = append(pairs, paramPair{k, v})
		}
	}
	return pairs
}
