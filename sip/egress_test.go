package sip

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"
)

// newEgressServer is a caller whose Dial legs obey policy.
func newEgressServer(t *testing.T, policy EgressPolicy) *Server {
	t.Helper()
	return startTestServer(t, Config{Logger: slog.New(slog.DiscardHandler), Egress: policy}, func(*InboundCall) {})
}

// TestDialToADeniedDestinationSendsNothing: sip.egress is checked on the
// resolved address before the INVITE leaves; a refused target fails the Dial
// (ErrDeclined and ErrEgressDenied, naming address and rule) and the callee
// receives nothing (issue 18 item 7).
func TestDialToADeniedDestinationSendsNothing(t *testing.T) {
	for _, tc := range []struct {
		name   string
		policy EgressPolicy
		host   string // "" means the callee's address
		rule   string
	}{
		{"deny", EgressPolicy{Deny: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}}, "", "deny_cidrs 127.0.0.0/8"},
		{"deny after DNS", EgressPolicy{Deny: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128")}}, "localhost", "deny_cidrs"},
		{"allow list", EgressPolicy{Allow: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}}, "", "no allow_cidrs entry"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			caller := newEgressServer(t, tc.policy)
			callee := newUDPPeer(t, caller.Listeners()[0].Addr)
			target := "sip:bob@" + callee.local().String()
			if tc.host != "" {
				target = "sip:bob@" + tc.host + ":" + strings.Split(callee.local().String(), ":")[1]
			}
			_, err := caller.Dial(t.Context(), OutboundRequest{Target: target, FromUser: "alice", LocalRTP: testRTP})
			if !errors.Is(err, ErrEgressDenied) || !errors.Is(err, ErrDeclined) {
				t.Fatalf("err = %v, want ErrEgressDenied and ErrDeclined", err)
			}
			if !strings.Contains(err.Error(), tc.rule) {
				t.Errorf("error %q does not name the rule %q", err, tc.rule)
			}
			if msg := callee.anything(300 * time.Millisecond); msg != nil {
				t.Fatalf("the denied callee got %q", firstLine(msg))
			}
		})
	}
	// Allowed: the INVITE goes out, to the IPv4 address of a name (our listener is IPv4).
	caller := newEgressServer(t, EgressPolicy{Deny: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}})
	callee := newUDPPeer(t, caller.Listeners()[0].Addr)
	go func() {
		_, _ = caller.Dial(t.Context(), OutboundRequest{Target: fmt.Sprintf("sip:bob@localhost:%d", callee.local().Port()), LocalRTP: testRTP, RingTimeout: time.Second})
	}()
	if msg := callee.anything(2 * time.Second); !strings.HasPrefix(string(msg), "INVITE ") {
		t.Fatalf("an allowed callee got %q, want the INVITE", firstLine(msg))
	}
}

// TestDialRefusesA2xxWhoseNextHopIsDenied: a callee that answers with a
// Contact in a denied range gets no ACK there (nor anywhere), and the Dial
// fails with ErrEgressDenied.
func TestDialRefusesA2xxWhoseNextHopIsDenied(t *testing.T) {
	caller := newEgressServer(t, EgressPolicy{Deny: []netip.Prefix{netip.MustParsePrefix("127.0.0.2/32")}})
	callee := &calleePeer{udpPeer: newUDPPeer(t, caller.Listeners()[0].Addr)}
	inner := newUDPPeerFrom(t, "127.0.0.2", caller.Listeners()[0].Addr)
	done := make(chan error, 1)
	go func() {
		_, err := caller.Dial(t.Context(), OutboundRequest{Target: "sip:bob@" + callee.local().String(), LocalRTP: testRTP})
		done <- err
	}()
	callee.answerWithContact(inner.local().String())
	select {
	case err := <-done:
		if !errors.Is(err, ErrEgressDenied) || !strings.Contains(err.Error(), "127.0.0.2") {
			t.Fatalf("err = %v, want ErrEgressDenied naming 127.0.0.2", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Dial did not return")
	}
	if msg := inner.anything(300 * time.Millisecond); msg != nil {
		t.Fatalf("the denied next hop got %q", firstLine(msg))
	}
}

// fakeDNS answers A/AAAA and SRV lookups from maps.
type fakeDNS struct {
	hosts map[string][]netip.Addr
	srv   map[string][]*net.SRV // by "_service._proto.name"
}

func (f fakeDNS) LookupNetIP(_ context.Context, _, host string) ([]netip.Addr, error) {
	if a, ok := f.hosts[host]; ok {
		return a, nil
	}
	return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
}

func (f fakeDNS) LookupSRV(_ context.Context, service, proto, name string) (string, []*net.SRV, error) {
	key := "_" + service + "._" + proto + "." + name
	if s, ok := f.srv[key]; ok {
		return key, s, nil
	}
	return "", nil, &net.DNSError{Err: "no such host", Name: key, IsNotFound: true}
}

// TestDialFollowsSRVAndChecksItsTarget: a trunk name with no port and no
// address is looked up as SIP SRV (RFC 3263 §4.2, as sipgo did before Dial
// resolved targets itself); the SRV target is checked by sip.egress too.
func TestDialFollowsSRVAndChecksItsTarget(t *testing.T) {
	for _, deny := range []bool{false, true} {
		var policy EgressPolicy
		if deny {
			policy.Deny = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}
		}
		caller := newEgressServer(t, policy)
		callee := newUDPPeer(t, caller.Listeners()[0].Addr)
		caller.dns = fakeDNS{
			hosts: map[string][]netip.Addr{"gw1.trunk.test": {netip.MustParseAddr("127.0.0.1")}},
			srv:   map[string][]*net.SRV{"_sip._udp.trunk.test": {{Target: "gw1.trunk.test.", Port: callee.local().Port()}}},
		}
		errs := make(chan error, 1)
		go func() {
			_, err := caller.Dial(t.Context(), OutboundRequest{Target: "sip:bob@trunk.test", LocalRTP: testRTP, RingTimeout: time.Second})
			errs <- err
		}()
		msg := callee.anything(2 * time.Second)
		switch {
		case deny && msg != nil:
			t.Fatalf("a denied SRV target got %q", firstLine(msg))
		case deny:
			if err := <-errs; !errors.Is(err, ErrEgressDenied) || !strings.Contains(err.Error(), "gw1.trunk.test") {
				t.Fatalf("err = %v, want ErrEgressDenied naming gw1.trunk.test", err)
			}
		case !strings.HasPrefix(string(msg), "INVITE sip:bob@trunk.test "):
			t.Fatalf("the SRV target got %q, want the INVITE", firstLine(msg))
		}
	}
}

// TestDialRefusesA2xxWhoseContactPortIsOutOfRange: sipgo reads a 2xx's
// Contact port without a range check; Dial sends no ACK to port 99999 but
// fails the leg, naming the port.
func TestDialRefusesA2xxWhoseContactPortIsOutOfRange(t *testing.T) {
	caller := newEgressServer(t, EgressPolicy{})
	callee := &calleePeer{udpPeer: newUDPPeer(t, caller.Listeners()[0].Addr)}
	done := make(chan error, 1)
	go func() {
		_, err := caller.Dial(t.Context(), OutboundRequest{Target: "sip:bob@" + callee.local().String(), LocalRTP: testRTP})
		done <- err
	}()
	callee.answerWithContact("127.0.0.1:99999")
	select {
	case err := <-done:
		if !errors.Is(err, ErrDeclined) || !strings.Contains(err.Error(), "port 99999") {
			t.Fatalf("err = %v, want ErrDeclined naming port 99999", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Dial did not return")
	}
}
