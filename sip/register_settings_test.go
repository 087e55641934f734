package sip

import (
	"strings"
	"testing"
	"time"
)

func TestRegistrationSettingsNameEachProblem(t *testing.T) {
	for _, c := range []struct {
		name string
		s    RegistrationSettings
		want []string // paths of the problems, in order
	}{
		{"fine", RegistrationSettings{Register: true, URI: "sip:carrier.example:5061;transport=tls", Username: "u", Expires: "10m", Keepalive: "0s"}, nil},
		{"not registering but registration keys", RegistrationSettings{URI: "sip:c", Expires: "1h", ContactUser: "x"}, []string{"trunks[0].expires", "trunks[0].contact_user"}},
		{"no username", RegistrationSettings{Register: true, URI: "sip:c"}, []string{"trunks[0].username"}},
		{"bad transport", RegistrationSettings{Register: true, URI: "sip:c;transport=sctp", Username: "u"}, []string{"trunks[0].uri"}},
		{"expires too short", RegistrationSettings{Register: true, URI: "sip:c", Username: "u", Expires: "5s"}, []string{"trunks[0].expires"}},
		{"expires not whole seconds", RegistrationSettings{Register: true, URI: "sip:c", Username: "u", Expires: "10500ms"}, []string{"trunks[0].expires"}},
		{"keepalive below a second", RegistrationSettings{Register: true, URI: "sip:c", Username: "u", Keepalive: "10ms"}, []string{"trunks[0].keepalive"}},
		{"proxy not a SIP URI", RegistrationSettings{Register: true, URI: "sip:c", Username: "u", OutboundProxy: "http://x"}, []string{"trunks[0].outbound_proxy"}},
		{"line break in the password", RegistrationSettings{Register: true, URI: "sip:c", Username: "u", Password: "a\r\nb"}, []string{"trunks[0].password"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, _, errs := c.s.Config("trunks[0]")
			var got []string
			for _, err := range errs {
				p, _, _ := strings.Cut(err.Error(), ": ")
				got = append(got, p)
			}
			if strings.Join(got, ",") != strings.Join(c.want, ",") {
				t.Errorf("problems %v, want at %v", errs, c.want)
			}
		})
	}
}

func TestRegistrationSettingsDefaults(t *testing.T) {
	cfg, ok, errs := RegistrationSettings{Register: true, URI: "sip:c", Username: "u"}.Config("trunks[0]")
	if !ok || errs != nil || cfg.Expires != DefaultRegisterExpires || cfg.Keepalive != DefaultKeepalive {
		t.Errorf("defaults: %+v %v %v", cfg, ok, errs)
	}
	if _, ok, _ := (RegistrationSettings{URI: "sip:c"}).Config("trunks[0]"); ok {
		t.Error("a trunk without register: true registers")
	}
	if s := (RegistrationConfig{Trunk: "t", Password: "hunter2", Expires: time.Hour}).String(); strings.Contains(s, "hunter2") {
		t.Errorf("String shows the password: %s", s)
	}
}
