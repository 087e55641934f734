package softphone

import "testing"

func TestSoftphoneTargetAndLocalParsing(t *testing.T) {
	for _, tc := range []struct{ uri, transport, want, host string }{
		{"3004@127.0.0.1:5060", "udp", "sip:3004@127.0.0.1:5060", "127.0.0.1"},
		{"sip:3004@10.0.0.1", "tcp", "sip:3004@10.0.0.1;transport=tcp", "10.0.0.1"},
		{"sip:3004@[::1]:5070;transport=tcp", "tcp", "sip:3004@[::1]:5070;transport=tcp", "::1"},
	} {
		got, _ := softphoneTarget(tc.uri, tc.transport)
		if got != tc.want {
			t.Errorf("softphoneTarget(%q, %s) = %q, want %q", tc.uri, tc.transport, got, tc.want)
		}
		if h := targetHost(got); h != tc.host {
			t.Errorf("targetHost(%q) = %q, want %q", got, h, tc.host)
		}
	}
	for in, want := range map[string]string{"127.0.0.1": "127.0.0.1:0", "0.0.0.0:5070": "0.0.0.0:5070", "::1": "[::1]:0"} {
		got, err := parseLocal(in)
		if err != nil || got.String() != want {
			t.Errorf("parseLocal(%q) = %v, %v; want %s", in, got, err, want)
		}
	}
}
