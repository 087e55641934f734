package main

import (
	"bytes"
	"net"
	"net/netip"
	"strings"
	"testing"

	"github.com/pivotua/pivotua/sip"
)

func TestBannerTellsWhatToCallAndWhereToLook(t *testing.T) {
	s, errs := loadConfig(defaultConfigYAML, "")
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	b := banner{
		settings:     s,
		sip:          []sip.Listener{{Transport: "udp", Addr: netip.MustParseAddrPort("127.0.0.1:5060")}},
		httpAddr:     &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 8000},
		missingTools: []string{"lame"},
	}
	var out bytes.Buffer
	b.write(&out)
	for _, want := range []string{
		"config: the embedded demo config",
		"SIP         udp://127.0.0.1:5060",
		"call        sip:3004@127.0.0.1:5060, any other number",
		"http://127.0.0.1:8000/ui/#account=4b31dd1d32ce6d249897c06332375d65&key=demo-api-key-change-me",
		"warning     lame is not installed: MP3",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("banner lacks %q:\n%s", want, out.String())
		}
	}

	// A user's own config: its file named, its api_key never printed, and an
	// empty routing table said plainly.
	s.Source = "/etc/pivotua/pivotua.yaml"
	for id, a := range s.Accounts {
		a.APIKey = "secret-of-the-user"
		s.Accounts[id] = a
	}
	s.Routes = nil
	out.Reset()
	b.write(&out)
	if strings.Contains(out.String(), "secret-of-the-user") || strings.Contains(out.String(), "key=") {
		t.Errorf("banner prints a user's api_key:\n%s", out.String())
	}
	for _, want := range []string{"config: /etc/pivotua/pivotua.yaml", "every call gets 404"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("banner lacks %q:\n%s", want, out.String())
		}
	}
}
