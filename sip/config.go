package sip

import (
	"crypto/tls"
	"fmt"
	"net/netip"
	"time"
)

// Settings is the sip: section of pivotua's config file, as written: durations and
// addresses stay strings so that Config can name the path of each one that is wrong.
// The YAML tags are the keys users write; the section belongs to this package, so a
// new SIP setting is a field here, its check in Config, and a line in the sample file.
type Settings struct {
	Listen     []string          `yaml:"listen" json:"listen"`
	ExternalIP string            `yaml:"external_ip" json:"external_ip"`
	AllowCIDRs []string          `yaml:"allow_cidrs" json:"allow_cidrs"`
	MaxCalls   int               `yaml:"max_calls" json:"max_calls"`
	RateLimit  RateLimitSettings `yaml:"rate_limit" json:"rate_limit"`
	// MaxMessageBytes caps one SIP message (default 65535; on UDP sipgo reads
	// at most 32 KiB per datagram whatever this says).
	MaxMessageBytes int `yaml:"max_message_bytes" json:"max_message_bytes"`
	// Egress limits where Dial's SIP legs may go (fetch.deny_cidrs' rules).
	Egress EgressSettings `yaml:"egress" json:"egress"`
	// TLS is the certificate of the tls:// listeners, read again on SIGHUP.
	TLS TLSSettings `yaml:"tls" json:"tls"`
	// SessionTimer is sip.session_timer: RFC 4028 session timers.
	SessionTimer SessionTimerSettings `yaml:"session_timer" json:"session_timer"`
	// AcceptRefer is sip.accept_refer: a REFER in a leg bridged by a Dial
	// transfers it; off (the default), every REFER from a peer gets 403.
	AcceptRefer bool `yaml:"accept_refer" json:"accept_refer"`
}

// SessionTimerSettings is sip.session_timer as written.
type SessionTimerSettings struct {
	MinSE          string `yaml:"min_se" json:"min_se"`                   // shortest interval accepted (422 below it); 90s at least
	SessionExpires string `yaml:"session_expires" json:"session_expires"` // longest interval granted
}

// TLSSettings is sip.tls: PEM files of the certificate (chain) and its key.
type TLSSettings struct {
	CertFile string `yaml:"cert_file" json:"cert_file"`
	KeyFile  string `yaml:"key_file" json:"key_file"`
}

// RateLimitSettings is sip.rate_limit: RateLimit as written.
type RateLimitSettings struct {
	Requests    int      `yaml:"requests" json:"requests"`
	Window      string   `yaml:"window" json:"window"`
	Block       string   `yaml:"block" json:"block"`
	ExemptCIDRs []string `yaml:"exempt_cidrs" json:"exempt_cidrs"`
}

// EgressSettings is sip.egress, checked on an outbound leg's resolved target and
// on the next hop its 2xx names, before anything is sent there, and on an inbound
// call's remote target (a denied one is replaced by the INVITE's source).
type EgressSettings struct {
	DenyCIDRs  []string `yaml:"deny_cidrs" json:"deny_cidrs"`
	AllowCIDRs []string `yaml:"allow_cidrs" json:"allow_cidrs"` // empty: any address not denied
}

// DefaultSettings is the sip: section when the file leaves a key out.
func DefaultSettings() Settings {
	return Settings{
		Listen:          []string{"udp://127.0.0.1:5060", "tcp://127.0.0.1:5060"},
		MaxCalls:        5000,
		MaxMessageBytes: DefaultMaxMessageBytes,
		RateLimit:       RateLimitSettings{Requests: 100, Window: "2s", Block: "5m"},
		SessionTimer:    SessionTimerSettings{MinSE: "90s", SessionExpires: "1800s"},
	}
}

// Config checks s and returns the server's Config, or every problem at once, each
// named by its path under path ("sip.listen[1]: ..."). Egress is left out: it is
// EgressSettings.Policy's. UserAgent and Logger are the caller's to set.
func (s Settings) Config(path string) (Config, []error) {
	var errs []error
	bad := func(p, format string, args ...any) {
		errs = append(errs, settingError(p, format, args...))
	}
	if len(s.Listen) == 0 {
		bad(path+".listen", "at least one listener is required, e.g. udp://127.0.0.1:5060")
	}
	tlsListener := false
	for i, l := range s.Listen {
		t, _, err := ParseListen(l)
		if err != nil {
			bad(fmt.Sprintf("%s.listen[%d]", path, i), "%v", err)
		}
		tlsListener = tlsListener || t == "tls"
	}
	switch t := s.TLS; {
	case t.CertFile == "" && t.KeyFile == "":
		if tlsListener {
			bad(path+".tls.cert_file", "a tls:// listener needs cert_file and key_file")
		}
	case t.CertFile == "":
		bad(path+".tls.cert_file", "required with key_file")
	case t.KeyFile == "":
		bad(path+".tls.key_file", "required with cert_file")
	default:
		if _, err := tls.LoadX509KeyPair(t.CertFile, t.KeyFile); err != nil {
			bad(path+".tls", "cert_file %s and key_file %s: %v", t.CertFile, t.KeyFile, err)
		}
	}
	if s.ExternalIP != "" {
		if _, err := netip.ParseAddr(s.ExternalIP); err != nil {
			bad(path+".external_ip", "%q is not an IP address", s.ExternalIP)
		}
	}
	allow := parseCIDRs(path+".allow_cidrs", s.AllowCIDRs, &errs)
	if s.MaxCalls < 0 {
		bad(path+".max_calls", "must be 0 (no cap) or more, not %d", s.MaxCalls)
	}
	rl := s.RateLimit
	if rl.Requests < 0 {
		bad(path+".rate_limit.requests", "must be 0 (off) or more, not %d", rl.Requests)
	}
	rate := RateLimit{
		Requests: rl.Requests,
		Window:   parseDuration(path+".rate_limit.window", rl.Window, &errs),
		Block:    parseDuration(path+".rate_limit.block", rl.Block, &errs),
		Exempt:   parseCIDRs(path+".rate_limit.exempt_cidrs", rl.ExemptCIDRs, &errs),
	}
	if s.MaxMessageBytes < 1024 || s.MaxMessageBytes > 65535 {
		bad(path+".max_message_bytes", "must be between 1024 and 65535, not %d", s.MaxMessageBytes)
	}
	timer := s.SessionTimer.config(path+".session_timer", &errs)
	return Config{
		SessionTimer: timer, AcceptRefer: s.AcceptRefer,
		Listen: s.Listen, ExternalIP: s.ExternalIP, AllowCIDRs: allow, MaxCalls: s.MaxCalls,
		Guard: GuardConfig{MaxMessageBytes: s.MaxMessageBytes, RateLimit: rate},
		TLS:   TLSConfig{CertFile: s.TLS.CertFile, KeyFile: s.TLS.KeyFile},
	}, errs
}

// config checks sip.session_timer: whole seconds, min_se at least RFC 4028's
// 90 s (§4) and session_expires between min_se and a day.
func (t SessionTimerSettings) config(path string, errs *[]error) SessionTimerConfig {
	minSE := parseDuration(path+".min_se", t.MinSE, errs)
	expires := parseDuration(path+".session_expires", t.SessionExpires, errs)
	for _, d := range []struct {
		key string
		v   time.Duration
	}{{"min_se", minSE}, {"session_expires", expires}} {
		if d.v%time.Second != 0 {
			*errs = append(*errs, settingError(path+"."+d.key, "%v is not whole seconds", d.v))
		}
	}
	switch {
	case minSE > 0 && minSE < minSessionExpires:
		*errs = append(*errs, settingError(path+".min_se", "%v is below RFC 4028's 90s", minSE))
	case expires > 0 && expires < minSE:
		*errs = append(*errs, settingError(path+".session_expires", "%v is below min_se %v", expires, minSE))
	case expires > 24*time.Hour:
		*errs = append(*errs, settingError(path+".session_expires", "%v is above 24h", expires))
	}
	return SessionTimerConfig{MinSE: minSE, Expires: expires}
}

// Policy checks e and returns the EgressPolicy it describes, or its problems named by
// their paths under path ("sip.egress").
func (e EgressSettings) Policy(path string) (EgressPolicy, []error) {
	var errs []error
	p := EgressPolicy{
		Deny:  parseCIDRs(path+".deny_cidrs", e.DenyCIDRs, &errs),
		Allow: parseCIDRs(path+".allow_cidrs", e.AllowCIDRs, &errs),
	}
	return p, errs
}

// settingError is one wrong setting, named by its path in the config file.
func settingError(path, format string, args ...any) error {
	return fmt.Errorf("%s: %s", path, fmt.Sprintf(format, args...))
}

// parseDuration reads a positive duration such as 15s.
func parseDuration(path, v string, errs *[]error) time.Duration {
	d, err := time.ParseDuration(v)
	if err != nil || d <= 0 {
		*errs = append(*errs, settingError(path, "%q is not a positive duration such as 15s or 5m", v))
	}
	return d
}

// parseCIDRs reads a list of CIDRs; a bare address is a one-address prefix.
func parseCIDRs(path string, list []string, errs *[]error) []netip.Prefix {
	var out []netip.Prefix
	for i, s := range list {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			a, aerr := netip.ParseAddr(s)
			if aerr != nil {
				*errs = append(*errs, settingError(fmt.Sprintf("%s[%d]", path, i), "%q is not a CIDR such as 203.0.113.0/24", s))
				continue
			}
			p = netip.PrefixFrom(a, a.BitLen())
		}
		out = append(out, p.Masked())
	}
	return out
}
