package sip

import (
	"crypto/md5"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"hash"
	"strconv"
	"strings"
)

// HTTP digest as SIP uses it (RFC 3261 §22.4, RFC 2617, RFC 7616, RFC 8760):
// MD5 or SHA-256, qop "auth" or none. Written here rather than taken from
// sipgo's helper (icholy/digest) because a challenge comes from a peer we do
// not trust: sizes are bounded, a challenge with a control character or an
// algorithm we do not speak is refused by name, several WWW-Authenticate
// values are weighed (RFC 8760 §2.4: the first one we support), and the
// server side (inbound INVITEs) needs the same parser.

// Digest size bounds: no legitimate challenge comes near them.
const (
	maxDigestHeader = 4096 // one WWW-Authenticate or Authorization value
	maxDigestParam  = 1024 // one parameter value (nonce, realm, opaque)
)

// digestChallenge is one parsed WWW-Authenticate or Proxy-Authenticate value.
type digestChallenge struct {
	realm, nonce, opaque string
	algorithm            string // "MD5" or "SHA-256" (as we write it back)
	qopAuth              bool   // qop="auth" offered: answer with qop=auth, cnonce and nc
	stale                bool   // RFC 2617 §3.2.1: the nonce expired, the credentials were right
}

// parseDigestParams reads the comma-separated auth-params after "Digest "
// (RFC 7616 §3.3): token=token or token="quoted string". Keys are lower-cased;
// a key given twice, a control character, or a value over maxDigestParam is an error.
func parseDigestParams(v string) (map[string]string, error) {
	if len(v) > maxDigestHeader {
		return nil, fmt.Errorf("%d bytes, over the %d-byte cap", len(v), maxDigestHeader)
	}
	scheme, rest, _ := strings.Cut(strings.TrimLeft(v, " \t"), " ")
	if !strings.EqualFold(scheme, "Digest") {
		return nil, fmt.Errorf("scheme %q is not Digest", truncate(scheme, 32))
	}
	params := map[string]string{}
	for i := 0; ; {
		for i < len(rest) && (rest[i] == ' ' || rest[i] == '\t' || rest[i] == ',') {
			i++
		}
		if i == len(rest) {
			return params, nil
		}
		eq := strings.IndexByte(rest[i:], '=')
		if eq <= 0 {
			return nil, fmt.Errorf("parameter %q has no value", truncate(rest[i:], 32))
		}
		key := strings.ToLower(strings.TrimSpace(rest[i : i+eq]))
		if !isToken(key) {
			return nil, fmt.Errorf("bad parameter name %q", truncate(key, 32))
		}
		i += eq + 1
		for i < len(rest) && (rest[i] == ' ' || rest[i] == '\t') {
			i++
		}
		var val string
		if i < len(rest) && rest[i] == '"' {
			var b strings.Builder
			i++
			for ; i < len(rest) && rest[i] != '"'; i++ {
				if rest[i] == '\\' && i+1 < len(rest) {
					i++
				}
				b.WriteByte(rest[i])
			}
			if i == len(rest) {
				return nil, fmt.Errorf("parameter %s: unterminated quoted string", key)
			}
			i++ // the closing quote
			val = b.String()
		} else {
			end := strings.IndexByte(rest[i:], ',')
			if end < 0 {
				end = len(rest) - i
			}
			val = strings.TrimSpace(rest[i : i+end])
			i += end
		}
		if len(val) > maxDigestParam {
			return nil, fmt.Errorf("parameter %s: %d bytes, over the %d-byte cap", key, len(val), maxDigestParam)
		}
		if strings.IndexFunc(val, func(r rune) bool { return r < 0x20 || r == 0x7f }) >= 0 {
			return nil, fmt.Errorf("parameter %s: %w", key, ErrControlCharacter)
		}
		if _, dup := params[key]; dup {
			return nil, fmt.Errorf("parameter %s given twice", key)
		}
		params[key] = val
	}
}

// parseChallenge reads one challenge and refuses what we cannot answer.
func parseChallenge(v string) (digestChallenge, error) {
	p, err := parseDigestParams(v)
	if err != nil {
		return digestChallenge{}, err
	}
	ch := digestChallenge{realm: p["realm"], nonce: p["nonce"], opaque: p["opaque"], stale: strings.EqualFold(p["stale"], "true")}
	if ch.nonce == "" {
		return ch, fmt.Errorf("no nonce")
	}
	if _, ok := p["realm"]; !ok {
		return ch, fmt.Errorf("no realm")
	}
	switch a := strings.ToUpper(p["algorithm"]); a {
	case "", "MD5":
		ch.algorithm = "MD5"
	case "SHA-256":
		ch.algorithm = "SHA-256"
	default:
		return ch, fmt.Errorf("algorithm %q is not MD5 or SHA-256", truncate(p["algorithm"], 32))
	}
	if q, ok := p["qop"]; ok {
		for _, o := range strings.Split(q, ",") {
			if strings.EqualFold(strings.TrimSpace(o), "auth") {
				ch.qopAuth = true
			}
		}
		if !ch.qopAuth {
			return ch, fmt.Errorf("qop %q does not offer auth", truncate(q, 32))
		}
	}
	return ch, nil
}

// pickChallenge returns the first challenge among values we can answer
// (RFC 8760 §2.4: the server lists them by preference), or why none fits.
func pickChallenge(values []string) (digestChallenge, error) {
	if len(values) == 0 {
		return digestChallenge{}, fmt.Errorf("no challenge")
	}
	var first error
	for _, v := range values {
		ch, err := parseChallenge(v)
		if err == nil {
			return ch, nil
		}
		if first == nil {
			first = err
		}
	}
	return digestChallenge{}, first
}

func digestHash(algorithm string) hash.Hash {
	if algorithm == "SHA-256" {
		return sha256.New()
	}
	return md5.New()
}

// hashJoin is H(a:b:...) in lower-case hex (RFC 7616 §3.4.1).
func hashJoin(h hash.Hash, parts ...string) string {
	h.Reset()
	for i, p := range parts {
		if i > 0 {
			h.Write([]byte{':'})
		}
		h.Write([]byte(p))
	}
	return hex.EncodeToString(h.Sum(nil))
}

// digestResponse is the request-digest of RFC 7616 §3.4.1 (RFC 2617 §3.2.2.1
// when qop is empty).
func digestResponse(algorithm, username, realm, password, method, uri, nonce, nc, cnonce, qop string) string {
	h := digestHash(algorithm)
	ha1 := hashJoin(h, username, realm, password)
	ha2 := hashJoin(h, method, uri)
	if qop == "" {
		return hashJoin(h, ha1, nonce, ha2)
	}
	return hashJoin(h, ha1, nonce, nc, cnonce, qop, ha2)
}

// authorization answers ch for one request: the value of an Authorization
// (401) or Proxy-Authorization (407) header. nc counts this nonce's uses.
func (ch digestChallenge) authorization(method, uri, username, password string, nc uint32) string {
	var b strings.Builder
	fmt.Fprintf(&b, `Digest username=%s, realm=%s, nonce=%s, uri=%s`, quote(username), quote(ch.realm), quote(ch.nonce), quote(uri))
	if ch.qopAuth {
		var c [8]byte
		_, _ = rand.Read(c[:])
		cnonce := hex.EncodeToString(c[:])
		ncs := fmt.Sprintf("%08x", nc)
		resp := digestResponse(ch.algorithm, username, ch.realm, password, method, uri, ch.nonce, ncs, cnonce, "auth")
		fmt.Fprintf(&b, `, response="%s", algorithm=%s, cnonce="%s", qop=auth, nc=%s`, resp, ch.algorithm, cnonce, ncs)
	} else {
		resp := digestResponse(ch.algorithm, username, ch.realm, password, method, uri, ch.nonce, "", "", "")
		fmt.Fprintf(&b, `, response="%s", algorithm=%s`, resp, ch.algorithm)
	}
	if ch.opaque != "" {
		b.WriteString(", opaque=" + quote(ch.opaque))
	}
	return b.String()
}

// quote writes s as a quoted-string (RFC 3261 §25.1): backslash and double
// quote escaped. Values reach here free of control characters.
func quote(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for _, c := range []byte(s) {
		if c == '"' || c == '\\' {
			b.WriteByte('\\')
		}
		b.WriteByte(c)
	}
	b.WriteByte('"')
	return b.String()
}

// truncate shortens a hostile value for an error message.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}

// parseNC reads a digest nonce-count: exactly 8 hex digits (RFC 7616 §3.4).
func parseNC(s string) (uint32, bool) {
	if len(s) != 8 {
		return 0, false
	}
	n, err := strconv.ParseUint(s, 16, 32)
	return uint32(n), err == nil
}
