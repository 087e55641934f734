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
	var b strings.Builder
	b.Grow(64 * len(fields))
	for _, f := range fields {
		if f.object == nil {
			writeFormPair(&b, f.name, "", f.value)
			continue
		}
		for _, m := range f.object {
			writeFormPair(&b, f.name, m.key, m.value)
		}
	}
	return b.String()
}

func writeFormPair(b *strings.Builder, name, member, value string) {
	if b.Len() > 0 {
		b.WriteByte('&')
	}
	escapeFormKey(b, name)
	if member != "" {
		b.WriteByte('[')
		escapeFormKey(b, member)
		b.WriteByte(']')
	}
	b.WriteByte('=')
	escapeFormValue(b, value)
}

const upperHex = "0123456789ABCDEF"

func writePercent(b *strings.Builder, c byte) {
	b.WriteByte('%')
	b.WriteByte(upperHex[c>>4])
	b.WriteByte(upperHex[c&15])
}

// escapeFormValue escapes as Kazoo's form encoder: alphanumerics and
// ". - ~ _" stay, space becomes "+", every other byte is %XX.
func escapeFormValue(b *strings.Builder, s string) {
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9',
			c == '.', c == '-', c == '~', c == '_':
			b.WriteByte(c)
		case c == ' ':
			b.WriteByte('+')
		default:
			writePercent(b, c)
		}
	}
}

// escapeFormKey leaves a key as it is where that is safe (Kazoo does not
// escape keys, and its own keys are letters and "-"): RFC 3986 unreserved
// characters and ! $ ' ( ) * , / : ? @ stay, every other byte is %XX. That
// escapes everything that would break the form, the URL or the PHP-style
// nesting: space and controls, non-ASCII, & = + % # ; [ ] and the characters
// RFC 3986 does not allow in a query. (Go's url.ParseQuery rejects a raw ";",
// "+" would read back as a space, "[" and "]" would change the nesting.)
func escapeFormKey(b *strings.Builder, s string) {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if keyByteNeedsEscape(c) {
			writePercent(b, c)
		} else {
			b.WriteByte(c)
		}
	}
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
