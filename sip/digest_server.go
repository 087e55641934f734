package sip

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"net/netip"
	"strings"
	"sync"
	"time"

	"github.com/emiago/sipgo/sip"
)

// InboundCredential is a username and password an INVITE from outside
// sip.allow_cidrs may prove with digest (RFC 3261 §22.2): a trunk whose
// provider authenticates its calls to us that way.
type InboundCredential struct {
	Trunk              string // for logs
	Username, Password string
}

// Inbound digest bounds.
const (
	// nonceLifetime is how long a nonce we issued is good for; after that
	// the caller is challenged again with stale=true (RFC 2617 §3.2.1).
	nonceLifetime = 30 * time.Second
	// maxNoncesTracked bounds the replay memory: (nonce, nc) pairs of the
	// last nonceLifetime. When full, new nonces are refused until old ones
	// expire, which costs callers a retry and never the process memory.
	maxNoncesTracked = 65536
	// digestRealm is the realm pivotua challenges in.
	digestRealm = "pivotua"
)

// inboundDigest challenges and checks INVITEs from outside allow_cidrs. Its
// nonces carry their own issue time and are bound to the source address by
// an HMAC under a key of this process, so checking one needs no state (as
// Kamailio's auth module and Asterisk do); only the nonce counts already
// used are remembered, to refuse replays.
type inboundDigest struct {
	creds map[string]InboundCredential // by username
	key   [32]byte
	now   func() time.Time // tests move the clock
	limit int              // maxNoncesTracked; tests lower it

	mu   sync.Mutex
	used map[string]uint32 // nonce -> highest nc accepted (0 for a qop-less use); guarded by mu
}

func newInboundDigest(creds []InboundCredential) *inboundDigest {
	d := &inboundDigest{creds: map[string]InboundCredential{}, now: time.Now, limit: maxNoncesTracked, used: map[string]uint32{}}
	for _, c := range creds {
		d.creds[c.Username] = c
	}
	_, _ = rand.Read(d.key[:])
	return d
}

// nonce issues a nonce for src: base64url(issue time in ns, HMAC(time, src)).
func (d *inboundDigest) nonce(src netip.Addr) string {
	var b [8 + 16]byte
	binary.BigEndian.PutUint64(b[:8], uint64(d.now().UnixNano()))
	copy(b[8:], d.mac(b[:8], src))
	return base64.RawURLEncoding.EncodeToString(b[:])
}

func (d *inboundDigest) mac(ts []byte, src netip.Addr) []byte {
	m := hmac.New(sha256.New, d.key[:])
	m.Write(ts)
	a := src.Unmap().As16()
	m.Write(a[:])
	return m.Sum(nil)[:16]
}

// nonceAge checks that we issued nonce to src and says how old it is.
func (d *inboundDigest) nonceAge(nonce string, src netip.Addr) (time.Duration, bool) {
	b, err := base64.RawURLEncoding.DecodeString(nonce)
	if err != nil || len(b) != 24 || !hmac.Equal(b[8:], d.mac(b[:8], src)) {
		return 0, false
	}
	age := d.now().Sub(time.Unix(0, int64(binary.BigEndian.Uint64(b[:8]))))
	return age, age >= 0
}

// challenges are the WWW-Authenticate values of a 401: SHA-256 and MD5
// with a fresh nonce (RFC 8760 §2.4 lists the preferred first; many UACs
// take the first they can answer, some only the first, so MD5 comes first
// for them: the strength is in the password either way).
func (d *inboundDigest) challenges(src netip.Addr, stale bool) []sip.Header {
	n := d.nonce(src)
	var hs []sip.Header
	for _, alg := range []string{"MD5", "SHA-256"} {
		v := fmt.Sprintf(`Digest realm="%s", nonce="%s", algorithm=%s, qop="auth"`, digestRealm, n, alg)
		if stale {
			v += ", stale=true"
		}
		hs = append(hs, sip.NewHeader("WWW-Authenticate", v))
	}
	return hs
}

// inboundVerdict is what to do with an INVITE from outside allow_cidrs.
type inboundVerdict struct {
	ok        bool
	trunk     string // ok: whose credentials
	challenge bool   // answer 401 with a fresh nonce
	stale     bool   // ... saying stale=true
	reason    string // why not, for the log and the 403's Warning
}

// check judges req's Authorization (RFC 3261 §22.4, RFC 7616 §3.4).
func (d *inboundDigest) check(req *sip.Request, src netip.Addr) inboundVerdict {
	h := req.GetHeader("Authorization")
	if h == nil {
		return inboundVerdict{challenge: true, reason: "no credentials"}
	}
	p, err := parseDigestParams(h.Value())
	if err != nil {
		return inboundVerdict{reason: "unreadable Authorization: " + err.Error()}
	}
	cred, known := d.creds[p["username"]]
	if !known {
		return inboundVerdict{reason: fmt.Sprintf("unknown username %q", truncate(p["username"], 64))}
	}
	if p["realm"] != digestRealm {
		return inboundVerdict{challenge: true, reason: fmt.Sprintf("realm %q is not ours", truncate(p["realm"], 64))}
	}
	age, ours := d.nonceAge(p["nonce"], src)
	if !ours {
		// Another node's, an earlier run's, or made up: a fresh challenge costs nothing.
		return inboundVerdict{challenge: true, reason: "nonce not issued to this source"}
	}
	algorithm := strings.ToUpper(cmpOr(p["algorithm"], "MD5"))
	if algorithm != "MD5" && algorithm != "SHA-256" {
		return inboundVerdict{reason: fmt.Sprintf("algorithm %q", truncate(algorithm, 32))}
	}
	// The digest-uri must name this request's target (RFC 7616 §3.4.6): its
	// host, and its user when it has one (SIPp, like some UACs, leaves it out).
	var uri sip.Uri
	if err := sip.ParseUri(p["uri"], &uri); err != nil || (uri.User != "" && uri.User != req.Recipient.User) || !strings.EqualFold(uri.Host, req.Recipient.Host) {
		return inboundVerdict{reason: fmt.Sprintf("digest uri %q is not the Request-URI", truncate(p["uri"], 64))}
	}
	var nc uint32
	switch p["qop"] {
	case "auth":
		var ok bool
		if nc, ok = parseNC(p["nc"]); !ok || nc == 0 || p["cnonce"] == "" {
			return inboundVerdict{reason: "qop=auth without a valid nc and cnonce"}
		}
	case "":
		if p["nc"] != "" || p["cnonce"] != "" {
			return inboundVerdict{reason: "nc or cnonce without qop"}
		}
	default:
		return inboundVerdict{reason: fmt.Sprintf("qop %q", truncate(p["qop"], 32))}
	}
	want := digestResponse(algorithm, p["username"], digestRealm, cred.Password, string(req.Method), p["uri"], p["nonce"], p["nc"], p["cnonce"], p["qop"])
	if subtle.ConstantTimeCompare([]byte(want), []byte(strings.ToLower(p["response"]))) != 1 {
		return inboundVerdict{reason: "wrong password for " + truncate(p["username"], 64)}
	}
	if age > nonceLifetime {
		// RFC 7616 §3.3: the password was right, only the nonce is old: the UAC may retry at once.
		return inboundVerdict{challenge: true, stale: true, reason: "stale nonce"}
	}
	// Only now, with a proven response, is the nonce count remembered: a forger cannot fill it.
	if !d.firstUse(p["nonce"], nc) {
		return inboundVerdict{reason: "replayed nonce and nc"}
	}
	return inboundVerdict{ok: true, trunk: cred.Trunk}
}

// firstUse records (nonce, nc) and reports whether it is new: nc must grow
// for each use of a nonce (RFC 7616 §3.4), and a qop-less nonce (nc 0) is
// good once.
func (d *inboundDigest) firstUse(nonce string, nc uint32) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	if last, seen := d.used[nonce]; seen {
		if nc == 0 || nc <= last {
			return false
		}
		d.used[nonce] = nc
		return true
	}
	if len(d.used) >= d.limit {
		for n := range d.used {
			if b, err := base64.RawURLEncoding.DecodeString(n); err == nil && len(b) == 24 &&
				d.now().Sub(time.Unix(0, int64(binary.BigEndian.Uint64(b[:8])))) > nonceLifetime {
				delete(d.used, n) // expired: its nonce is refused as stale anyway
			}
		}
		if len(d.used) >= d.limit {
			return false
		}
	}
	d.used[nonce] = nc
	return true
}

// authorizeInbound admits an INVITE from outside allow_cidrs that proves one
// of the inbound credentials; otherwise it answers 401 (a fresh challenge)
// or 403 (credentials refused) and returns false.
func (s *Server) authorizeInbound(req *sip.Request, tx sip.ServerTransaction) bool {
	src, ok := sourceAddr(req)
	if !ok {
		s.respond(req, tx, 403, "Forbidden")
		return false
	}
	v := s.inbound.check(req, src)
	if v.ok {
		s.log.Debug("INVITE authenticated by digest", "call_id", callID(req), "source", req.Source(), "trunk", v.trunk)
		return true
	}
	// Anyone can send these at will: a line each at debug, a summary at warning.
	s.log.Debug("INVITE refused by digest", "call_id", callID(req), "source", req.Source(), "reason", v.reason)
	if v.challenge { // part of every digest trunk's call: not counted as refused input
		s.respond(req, tx, 401, "Unauthorized", s.inbound.challenges(src, v.stale)...)
		return false
	}
	s.guard.summary.tally("refused-403-digest", req.Source())
	s.respond(req, tx, 403, "Forbidden", sip.NewHeader("Warning", warningValue(v.reason)))
	return false
}
