package sip

import (
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"log/slog"
	"strconv"
	"strings"

	"github.com/pion/sdp/v3"
)

// SRTPPolicy is whether a call's media is SRTP keyed by SDES (RFC 4568): rtp.srtp, or a trunk's
// trunks[].srtp for the legs dialled through it.
type SRTPPolicy string

// The three policies. The zero value means SRTPOff.
const (
	// SRTPOff offers and answers plain RTP/AVP only; an RTP/SAVP offer gets 488.
	SRTPOff SRTPPolicy = "off"
	// SRTPOptional answers what is offered: SRTP for an offer with a usable a=crypto, plain RTP
	// otherwise. Our own offers are RTP/AVP with a=crypto lines (the callee may take either).
	SRTPOptional SRTPPolicy = "optional"
	// SRTPMandatory refuses plain RTP: an offer without a usable a=crypto gets 488, and our own
	// offers are RTP/SAVP.
	SRTPMandatory SRTPPolicy = "mandatory"
)

// Valid reports whether p is one of the policies; the empty policy is valid and means off
// (or, on a trunk, the server's own policy).
func (p SRTPPolicy) Valid() bool {
	switch p {
	case "", SRTPOff, SRTPOptional, SRTPMandatory:
		return true
	}
	return false
}

func (p SRTPPolicy) on() bool { return p == SRTPOptional || p == SRTPMandatory }

// The SDES crypto suites pivotua speaks (RFC 4568 §6.2). Both take a 128-bit key and a 112-bit salt.
const (
	SuiteAES128SHA1_80 = "AES_CM_128_HMAC_SHA1_80"
	SuiteAES128SHA1_32 = "AES_CM_128_HMAC_SHA1_32"
)

// SRTPKeyLen is the length of an AES_CM_128 master key and salt together (RFC 4568 §6.2.1).
const SRTPKeyLen = 30

// maxCryptoLines bounds the a=crypto lines of one media description that are read; an offer with
// more is refused (no honest offer needs more than a few).
const maxCryptoLines = 16

// minKeyLifetime is the shortest key lifetime (RFC 4568 §6.1: in packets) accepted: pivotua never
// rekeys a call, so a shorter lifetime is one it could not honour. 2^31 packets last 497 days at 50
// packets a second.
const minKeyLifetime = 1 << 31

// SRTPKey is an SRTP master key and salt. It is secret: String and LogValue hide it, so a log line
// or a printed MediaDesc never carries it.
type SRTPKey [SRTPKeyLen]byte

func (SRTPKey) String() string { return "[redacted]" }

// LogValue keeps the key out of slog output.
func (SRTPKey) LogValue() slog.Value { return slog.StringValue("[redacted]") }

// GoString keeps the key out of %#v.
func (SRTPKey) GoString() string { return "[redacted]" }

// SRTPParams are a stream's negotiated SDES keys; Suite is empty for plain RTP.
type SRTPParams struct {
	// Suite is SuiteAES128SHA1_80 or SuiteAES128SHA1_32.
	Suite string
	// Local protects what we send; Remote authenticates and decrypts what we receive.
	Local, Remote SRTPKey
	tag           int // the a=crypto tag the answer repeats (RFC 4568 §5.1)
}

// Enabled reports whether the stream is SRTP.
func (p SRTPParams) Enabled() bool { return p.Suite != "" }

// sdesCrypto is one usable a=crypto line of a remote description.
type sdesCrypto struct {
	tag   int
	suite string
	key   SRTPKey
}

// readCryptos reads a media description's a=crypto lines (RFC 4568 §9.1): the usable ones, and why
// the first unusable one was left out (nil when none was). A line is unusable with an unknown
// suite, a key that is not base64 or not 30 bytes, several keys, an MKI, a lifetime shorter than
// minKeyLifetime, or session parameters (none of which pivotua implements).
func readCryptos(attrs []sdp.Attribute) (usable []sdesCrypto, bad error) {
	n := 0
	for _, a := range attrs {
		if a.Key != "crypto" {
			continue
		}
		if n++; n > maxCryptoLines {
			return nil, fmt.Errorf("%w: more than %d a=crypto lines", ErrBadCrypto, maxCryptoLines)
		}
		c, err := parseCrypto(a.Value)
		if err != nil {
			if bad == nil {
				bad = err
			}
			continue
		}
		usable = append(usable, c)
	}
	return usable, bad
}

// parseCrypto reads one a=crypto value: "<tag> <suite> inline:<key||salt>[|lifetime][|MKI:len]
// [session params]". Its errors never quote the key.
func parseCrypto(v string) (sdesCrypto, error) {
	var c sdesCrypto
	fields := strings.Fields(v)
	if len(fields) < 3 {
		return c, fmt.Errorf("%w: want a tag, a suite and key parameters", ErrBadCrypto)
	}
	tag, err := strconv.Atoi(fields[0])
	if err != nil || tag < 0 || len(fields[0]) > 9 { // RFC 4568 §9.1: tag = 1*9DIGIT
		return c, fmt.Errorf("%w: tag %.12q is not 1 to 9 digits", ErrBadCrypto, fields[0])
	}
	c.tag = tag
	switch fields[1] {
	case SuiteAES128SHA1_80, SuiteAES128SHA1_32:
		c.suite = fields[1]
	default:
		return c, fmt.Errorf("%w: tag %d: unsupported suite %.40q", ErrBadCrypto, tag, fields[1])
	}
	if len(fields) > 3 {
		return c, fmt.Errorf("%w: tag %d: session parameters are not supported", ErrBadCrypto, tag)
	}
	if strings.Contains(fields[2], ";") {
		return c, fmt.Errorf("%w: tag %d: several keys are not supported", ErrBadCrypto, tag)
	}
	method, rest, ok := strings.Cut(fields[2], ":")
	if !ok || !strings.EqualFold(method, "inline") {
		return c, fmt.Errorf("%w: tag %d: key method is not inline", ErrBadCrypto, tag)
	}
	parts := strings.Split(rest, "|")
	if len(parts) > 3 {
		return c, fmt.Errorf("%w: tag %d: too many key parameters", ErrBadCrypto, tag)
	}
	key, err := base64.StdEncoding.Strict().DecodeString(parts[0])
	if err != nil {
		return c, fmt.Errorf("%w: tag %d: key is not base64", ErrBadCrypto, tag)
	}
	if len(key) != SRTPKeyLen {
		return c, fmt.Errorf("%w: tag %d: key and salt are %d bytes, not %d", ErrBadCrypto, tag, len(key), SRTPKeyLen)
	}
	copy(c.key[:], key)
	for _, p := range parts[1:] {
		if strings.Contains(p, ":") { // RFC 4568 §6.1: MKI:length
			return c, fmt.Errorf("%w: tag %d: MKI is not supported", ErrBadCrypto, tag)
		}
		if !longLifetime(p) {
			return c, fmt.Errorf("%w: tag %d: key lifetime %.24q is shorter than 2^31 packets", ErrBadCrypto, tag, p)
		}
	}
	return c, nil
}

// longLifetime reports whether a key lifetime ("2^31" or a decimal count) is at least minKeyLifetime.
func longLifetime(s string) bool {
	if exp, ok := strings.CutPrefix(s, "2^"); ok {
		n, err := strconv.Atoi(exp)
		return err == nil && n >= 31 && n <= 64
	}
	n, err := strconv.ParseUint(s, 10, 64)
	return err == nil && n >= minKeyLifetime
}

// Our offer's a=crypto tags, one per suite.
const (
	offerTag80 = 1
	offerTag32 = 2
)

// srtpKey is the dialog's local master key, drawn once from crypto/rand and kept for re-offers and
// re-answers, so a re-INVITE does not restart our stream's rollover counter.
func (l *localSDP) srtpKey() SRTPKey {
	if !l.haveKey {
		_, _ = rand.Read(l.key[:]) // never fails (crypto/rand since Go 1.24)
		l.haveKey = true
	}
	return l.key
}

func cryptoAttr(tag int, suite string, key SRTPKey) sdp.Attribute {
	return sdp.NewAttribute("crypto", strconv.Itoa(tag)+" "+suite+" inline:"+base64.StdEncoding.EncodeToString(key[:]))
}

// accept negotiates a remote offer under l's policy, as the answerer.
func (l *localSDP) accept(off remoteOffer) (MediaDesc, error) {
	md, err := off.negotiate()
	if err != nil {
		return md, err
	}
	if !l.policy.on() {
		if off.savp {
			return MediaDesc{}, ErrSRTPOff
		}
		return md, nil
	}
	if len(off.cryptos) == 0 {
		if off.savp || l.policy == SRTPMandatory {
			return MediaDesc{}, srtpRequired(off.cryptoErr)
		}
		return md, nil // optional: plain RTP for a plain offer
	}
	c := off.cryptos[0] // RFC 4568 §7.1.2: the offerer lists its preferred line first
	md.SRTP = SRTPParams{Suite: c.suite, Remote: c.key, Local: l.srtpKey(), tag: c.tag}
	md.savp = off.savp
	return md, nil
}

// acceptAnswer negotiates the remote's answer to our offer (RFC 4568 §7.1.3): the a=crypto it
// chose must repeat one of our tags with its suite.
func (l *localSDP) acceptAnswer(ans remoteOffer) (MediaDesc, error) {
	md, err := ans.negotiate()
	if err != nil {
		return md, err
	}
	if !l.policy.on() {
		if ans.savp {
			return MediaDesc{}, fmt.Errorf("%w: answered RTP/SAVP to an RTP/AVP offer", ErrSRTPOff)
		}
		return md, nil
	}
	for _, c := range ans.cryptos {
		if c.tag == offerTag80 && c.suite == SuiteAES128SHA1_80 || c.tag == offerTag32 && c.suite == SuiteAES128SHA1_32 {
			md.SRTP = SRTPParams{Suite: c.suite, Remote: c.key, Local: l.srtpKey(), tag: c.tag}
			md.savp = l.policy == SRTPMandatory
			return md, nil
		}
	}
	if l.policy == SRTPMandatory || ans.savp {
		bad := ans.cryptoErr
		if bad == nil && len(ans.cryptos) > 0 {
			bad = fmt.Errorf("%w: no a=crypto repeats an offered tag and suite", ErrBadCrypto)
		}
		return MediaDesc{}, srtpRequired(bad)
	}
	return md, nil
}

func srtpRequired(why error) error {
	if why != nil {
		return fmt.Errorf("%w (%w)", ErrSRTPRequired, why)
	}
	return fmt.Errorf("%w: no a=crypto line", ErrSRTPRequired)
}
