package main

import (
	"net"
	"testing"
)

// The HTTP address a node writes for the others: its listener's, at sip.external_ip when it listens
// on every address, and none when it listens on every address without one.
func TestAPIAddressIsWhereTheOtherNodesReachTheListener(t *testing.T) {
	for _, tc := range []struct {
		listen, external, want string
		ok                     bool
	}{
		{"10.0.0.11:8080", "", "10.0.0.11:8080", true},
		{"10.0.0.11:8080", "203.0.113.7", "10.0.0.11:8080", true},
		{"0.0.0.0:8080", "10.0.0.11", "10.0.0.11:8080", true},
		{"[::]:8080", "", "", false},
		{"0.0.0.0:8080", "", "", false},
		{"[2001:db8::1]:8080", "", "[2001:db8::1]:8080", true},
	} {
		ap, err := net.ResolveTCPAddr("tcp", tc.listen)
		if err != nil {
			t.Fatal(err)
		}
		got, ok := apiAddress(ap, tc.external)
		if got != tc.want || ok != tc.ok {
			t.Errorf("apiAddress(%s, %q) = %q %v, want %q %v", tc.listen, tc.external, got, ok, tc.want, tc.ok)
		}
	}
}
