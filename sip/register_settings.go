package sip

import (
	"fmt"
	"time"
)

// RegistrationSettings is the registration part of one trunks[] entry of the
// config file, as written; cmd/pivotua owns the trunks section and hands these
// keys over, and Config checks them.
type RegistrationSettings struct {
	Trunk, URI, Username, Password string
	// Register: true makes pivotua register with the trunk (register: true).
	Register bool
	// Expires is the binding's lifetime asked for (expires: 1h by default).
	Expires string
	// OutboundProxy is where REGISTER goes instead of the URI's host (outbound_proxy).
	OutboundProxy string
	// ContactUser is our Contact's user, the Request-URI user of calls sent to
	// us (contact_user: the username by default).
	ContactUser string
	// Keepalive is the OPTIONS interval while registered (keepalive: 30s; "0s" for none).
	Keepalive string
}

// Config checks s (a trunk with register: true) and returns its
// RegistrationConfig, or its problems named by their paths under path
// ("trunks[0]"). ok is false when the trunk does not register.
func (s RegistrationSettings) Config(path string) (cfg RegistrationConfig, ok bool, errs []error) {
	if !s.Register {
		for _, kv := range [][2]string{{"expires", s.Expires}, {"outbound_proxy", s.OutboundProxy}, {"contact_user", s.ContactUser}, {"keepalive", s.Keepalive}} {
			if kv[1] != "" {
				errs = append(errs, settingError(path+"."+kv[0], "is set but register is not true"))
			}
		}
		return cfg, false, errs
	}
	bad := func(p, format string, args ...any) { errs = append(errs, settingError(path+"."+p, format, args...)) }
	cfg = RegistrationConfig{Trunk: s.Trunk, URI: s.URI, Username: s.Username, Password: s.Password,
		OutboundProxy: s.OutboundProxy, ContactUser: s.ContactUser, Expires: DefaultRegisterExpires, Keepalive: DefaultKeepalive}
	if _, _, err := parseTrunkURI(s.URI); err != nil {
		bad("uri", "%v", err)
	}
	if s.Username == "" {
		bad("username", "required to register: the address of record is username@host")
	}
	if s.Expires != "" {
		d, err := time.ParseDuration(s.Expires)
		switch {
		case err != nil || d < 10*time.Second || d > maxRegisterExpires:
			bad("expires", "%q is not a duration from 10s to 24h", s.Expires)
		case d%time.Second != 0:
			bad("expires", "%q: whole seconds only (SIP counts in seconds)", s.Expires)
		}
		cfg.Expires = d
	}
	if s.Keepalive != "" {
		d, err := time.ParseDuration(s.Keepalive)
		if err != nil || d < 0 || (d > 0 && d < time.Second) {
			bad("keepalive", "%q is not 0s (none) or a duration of 1s or more", s.Keepalive)
		}
		cfg.Keepalive = d
	}
	if s.OutboundProxy != "" {
		if _, _, err := parseTrunkURI(s.OutboundProxy); err != nil {
			bad("outbound_proxy", "%v", err)
		}
	}
	for _, kv := range [][2]string{{"username", s.Username}, {"password", s.Password}, {"contact_user", s.ContactUser}, {"outbound_proxy", s.OutboundProxy}} {
		if err := checkValue(kv[0], kv[1]); err != nil {
			bad(kv[0], "%v", err)
		}
	}
	return cfg, true, errs
}

// String names the trunk for logs; it never shows the password.
func (c RegistrationConfig) String() string {
	return fmt.Sprintf("%s (%s as %s)", c.Trunk, c.URI, c.Username)
}
