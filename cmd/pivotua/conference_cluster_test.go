package main

import "testing"

// TestRoomAddressIsOneTheOtherNodesCanReach: the address written for a node's rooms is its first UDP
// listener (else TCP, with its transport), at sip.external_ip when set, never an unspecified one.
func TestRoomAddressIsOneTheOtherNodesCanReach(t *testing.T) {
	for _, tc := range []struct {
		listen   []string
		external string
		want     string
		ok       bool
	}{
		{[]string{"tcp://10.0.0.11:5060", "udp://10.0.0.11:5062"}, "", "10.0.0.11:5062", true},
		{[]string{"tcp://10.0.0.11:5060"}, "", "10.0.0.11:5060;transport=tcp", true},
		{[]string{"udp://0.0.0.0:5060"}, "203.0.113.7", "203.0.113.7:5060", true},
		{[]string{"udp://0.0.0.0:5060"}, "", "", false},
		{[]string{"tls://10.0.0.11:5061"}, "", "", false},
	} {
		got, ok := roomAddress(tc.listen, tc.external)
		if got != tc.want || ok != tc.ok {
			t.Errorf("roomAddress(%v, %q) = %q %v, want %q %v", tc.listen, tc.external, got, ok, tc.want, tc.ok)
		}
	}
}
