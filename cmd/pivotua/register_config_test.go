package main

import (
	"strings"
	"testing"
)

const trunkAccounts = `
accounts:
  - {id: 4b31dd1d32ce6d249897c06332375d65, name: a, api_key: k}
`

func TestTrunkRegistrationAndInboundDigestKeys(t *testing.T) {
	s, errs := loadConfig([]byte(trunkAccounts+`
trunks:
  - {name: reg, uri: "sip:carrier.example;transport=tcp", register: true, username: u, password: p, expires: 10m, contact_user: "3004"}
  - {name: ip, uri: "sip:192.0.2.1", inbound_username: carrier-in, inbound_password: s}
`), "")
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	if len(s.Registrations) != 1 || s.Registrations[0].Trunk != "reg" || s.Registrations[0].ContactUser != "3004" {
		t.Errorf("registrations %+v", s.Registrations)
	}
	if len(s.SIP.InboundAuth) != 1 || s.SIP.InboundAuth[0].Username != "carrier-in" || s.SIP.InboundAuth[0].Trunk != "ip" {
		t.Errorf("inbound credentials %+v", s.SIP.InboundAuth)
	}

	_, errs = loadConfig([]byte(trunkAccounts+`
trunks:
  - {name: a, uri: "sip:x", register: true}
  - {name: b, uri: "sip:x", inbound_username: only-user}
  - {name: c, uri: "sip:x", inbound_username: dup, inbound_password: p}
  - {name: d, uri: "sip:x", inbound_username: dup, inbound_password: q}
  - {name: e, uri: "sip:x", register: true, username: u}
  - {name: e, uri: "sip:y", register: true, username: u}
`), "")
	var got []string
	for _, err := range errs {
		got = append(got, err.Error())
	}
	want := []string{
		"trunks[0].username: required to register",
		"trunks[1].inbound_username: inbound_username and inbound_password go together",
		`trunks[3].inbound_username: "dup" is also trunks[2]'s`,
		`trunks[5].name: "e" is the name of another registering trunk`,
	}
	if len(got) != len(want) {
		t.Fatalf("problems %q, want %d", got, len(want))
	}
	for i := range want {
		if !strings.HasPrefix(got[i], want[i]) {
			t.Errorf("problem %d: %q, want %q", i, got[i], want[i])
		}
	}
}
