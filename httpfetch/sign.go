package httpfetch

import (
	"crypto/hmac"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"net"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Signature headers and the JSON body hash parameter.
const (
	// HeaderTwilioSignature carries base64(HMAC-SHA1(key, URL + sorted
	// params)), computed exactly as Twilio does.
	HeaderTwilioSignature = "X-Twilio-Signature"
	// HeaderPivotSignature carries "t=<unix seconds>,v1=<hex HMAC-SHA256>".
	HeaderPivotSignature = "X-Pivot-Signature"
	// BodySHA256Param is the query parameter a signed JSON POST carries:
	// the hex SHA-256 of the body, so the Twilio signature (over the URL
	// alone) covers the body too.
	BodySHA256Param = "bodySHA256"
)

// twilioSignature computes Twilio's request signature: HMAC-SHA1 keyed by
// key over the full URL followed, for form POSTs, by every parameter sorted
// by name as name+value with no separators (repeated names: each value,
// values sorted), base64-encoded.
func twilioSignature(key, rawURL string, pairs []paramPair) string {
	return base64.StdEncoding.EncodeToString(twilioMAC(key, rawURL, pairs))
}

func twilioMAC(key, rawURL string, pairs []paramPair) []byte {
	sorted := slices.Clone(pairs)
	slices.SortFunc(sorted, func(a, b paramPair) int {
		if c := strings.Compare(a.key, b.key); c != 0 {
			return c
		}
		return strings.Compare(a.value, b.value)
	})
	// One pooled buffer, one Write: converting each string for Write would
	// allocate per parameter, and a buffer per request the URL's size.
	buf := getBuffer()
	defer putBuffer(buf)
	msg := append(*buf, rawURL...)
	for _, p := range sorted {
		msg = append(msg, p.key...)
		msg = append(msg, p.value...)
	}
	*buf = msg
	mac := hmac.New(sha1.New, []byte(key))
	mac.Write(msg)
	return mac.Sum(nil)
}

// ValidateTwilioSignature reports whether sig (the X-Twilio-Signature header)
// is Twilio's signature of a request to rawURL with the decoded form body
// form (nil for GET and JSON requests). As Twilio's own validators do, it
// also accepts the URL with its default port (":443", ":80") added or
// removed. The comparison is constant-time; an empty key never validates.
func ValidateTwilioSignature(key, rawURL string, form url.Values, sig string) bool {
	if key == "" || sig == "" {
		return false
	}
	got, err := base64.StdEncoding.DecodeString(sig)
	if err != nil {
		return false
	}
	pairs := pairsFromValues(form)
	ok := false
	for _, u := range defaultPortVariants(rawURL) {
		// No early exit: every variant costs the same.
		if hmac.Equal(twilioMAC(key, u, pairs), got) {
			ok = true
		}
	}
	return ok
}

// ValidateTwilioBodySHA256 reports whether rawURL carries a bodySHA256 query
// parameter equal to the hex SHA-256 of body, the check Twilio's validators
// make for JSON bodies alongside ValidateTwilioSignature(key, rawURL, nil, sig).
func ValidateTwilioBodySHA256(rawURL string, body []byte) bool {
	u, err := url.Parse(rawURL)
	if err != nil {
		return false
	}
	want := sha256.Sum256(body)
	got, err := hex.DecodeString(u.Query().Get(BodySHA256Param))
	if err != nil {
		return false
	}
	return hmac.Equal(want[:], got)
}

// defaultPortVariants returns rawURL plus the same URL with the scheme's
// default port added, or removed when present.
func defaultPortVariants(rawURL string) []string {
	variants := []string{rawURL}
	u, err := url.Parse(rawURL)
	if err != nil || u.Host == "" {
		return variants
	}
	port := map[string]string{"http": "80", "https": "443"}[u.Scheme]
	if port == "" {
		return variants
	}
	v := *u
	if u.Port() == "" {
		v.Host = net.JoinHostPort(u.Hostname(), port)
	} else if u.Port() == port {
		v.Host = u.Hostname()
		if strings.Contains(v.Host, ":") {
			v.Host = "[" + v.Host + "]"
		}
	} else {
		return variants
	}
	return append(variants, v.String())
}

// pivotSignature returns the v1 value of X-Pivot-Signature: hex
// HMAC-SHA256(key, "<t>" + "." + URL + "." + body).
func pivotSignature(key string, t int64, rawURL string, body []byte) string {
	return hex.EncodeToString(pivotMAC(key, t, rawURL, body))
}

func pivotMAC(key string, t int64, rawURL string, body []byte) []byte {
	buf := getBuffer() // the URL's size per request otherwise
	defer putBuffer(buf)
	msg := strconv.AppendInt(*buf, t, 10)
	msg = append(msg, '.')
	msg = append(msg, rawURL...)
	msg = append(msg, '.')
	*buf = msg
	mac := hmac.New(sha256.New, []byte(key))
	mac.Write(msg)
	mac.Write(body)
	return mac.Sum(nil)
}

// pivotSignatureHeader formats the X-Pivot-Signature header value.
func pivotSignatureHeader(key string, t int64, rawURL string, body []byte) string {
	return "t=" + strconv.FormatInt(t, 10) + ",v1=" + pivotSignature(key, t, rawURL, body)
}

// ValidatePivotSignature reports whether header (an X-Pivot-Signature value,
// "t=<unix seconds>,v1=<hex>[,v1=<hex>...]") signs a request to rawURL (the
// full URL as requested, query included) with the raw body body (empty for
// GET), and whether its timestamp is within maxSkew of now (maxSkew <= 0
// skips that check). Any v1 may match, so keys can be rotated. The
// comparison is constant-time; an empty key never validates.
func ValidatePivotSignature(key, rawURL string, body []byte, header string, now time.Time, maxSkew time.Duration) bool {
	if key == "" {
		return false
	}
	var (
		t     int64
		haveT bool
		sigs  [][]byte
	)
	for part := range strings.SplitSeq(header, ",") {
		name, value, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok {
			continue
		}
		switch name {
		case "t":
			n, err := strconv.ParseInt(value, 10, 64)
			if err != nil || haveT {
				return false
			}
			t, haveT = n, true
		case "v1":
			if b, err := hex.DecodeString(value); err == nil {
				sigs = append(sigs, b)
			}
		}
	}
	if !haveT || len(sigs) == 0 {
		return false
	}
	if maxSkew > 0 {
		skew := now.Sub(time.Unix(t, 0))
		if skew > maxSkew || skew < -maxSkew {
			return false
		}
	}
	want := pivotMAC(key, t, rawURL, body)
	ok := false
	for _, s := range sigs {
		if hmac.Equal(want, s) {
			ok = true
		}
	}
	return ok
}
