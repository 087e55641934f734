package sip

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strings"

	"github.com/emiago/sipgo/sip"
)

// EgressPolicy says where outbound legs may send SIP, with the rules of
// fetch.deny_cidrs: each address is checked after DNS, so a hostname that
// resolves to a denied address is refused like the address itself.
type EgressPolicy struct {
	// Deny lists destinations never sent to.
	Deny []netip.Prefix
	// Allow, when not empty, is the only destinations sent to (minus Deny).
	Allow []netip.Prefix
}

func (p EgressPolicy) active() bool { return len(p.Deny)+len(p.Allow) > 0 }

// check refuses a denied address with ErrEgressDenied naming the rule. With
// any rule set, the unspecified address (0.0.0.0, ::) is refused too: it
// reaches the local host.
func (p EgressPolicy) check(a netip.Addr) error {
	if !p.active() {
		return nil
	}
	a = a.Unmap()
	if a.IsUnspecified() {
		return fmt.Errorf("%w: %s is the unspecified address", ErrEgressDenied, a)
	}
	for _, pr := range p.Deny {
		if pr.Contains(a) {
			return fmt.Errorf("%w: %s is in deny_cidrs %s", ErrEgressDenied, a, pr)
		}
	}
	if len(p.Allow) == 0 {
		return nil
	}
	for _, pr := range p.Allow {
		if pr.Contains(a) {
			return nil
		}
	}
	return fmt.Errorf("%w: %s is in no allow_cidrs entry", ErrEgressDenied, a)
}

// resolveHop resolves a next hop's host (an IP literal is itself) and returns
// its addresses the policy allows, IPv4 first as sipgo would pick them; when
// it allows none, the error names the host and the first refusal.
func (s *Server) resolveHop(ctx context.Context, host string) ([]netip.Addr, error) {
	if len(host) > 1 && host[0] == '[' && host[len(host)-1] == ']' {
		host = host[1 : len(host)-1]
	}
	var addrs []netip.Addr
	if a, err := netip.ParseAddr(host); err == nil {
		addrs = []netip.Addr{a.Unmap()}
	} else {
		found, err := s.resolver().LookupNetIP(ctx, "ip", host)
		if err != nil {
			return nil, fmt.Errorf("resolve %s: %w", host, err)
		}
		addrs = found
		v6 := func(a netip.Addr) int {
			if a.Unmap().Is4() {
				return 0
			}
			return 1
		}
		slices.SortStableFunc(addrs, func(a, b netip.Addr) int { return cmp.Compare(v6(a), v6(b)) })
	}
	var allowed []netip.Addr
	var refusal error
	for _, a := range addrs {
		if err := s.cfg.Egress.check(a); err != nil {
			if refusal == nil {
				refusal = err
			}
			continue
		}
		allowed = append(allowed, a.Unmap())
	}
	if len(allowed) == 0 {
		if refusal == nil {
			return nil, fmt.Errorf("resolve %s: no address", host)
		}
		return nil, fmt.Errorf("destination %s: %w", host, refusal)
	}
	return allowed, nil
}

// checkNextHop checks where the requests after a 2xx go (RFC 3261 §12.1.2):
// the route set's first entry, which is the 2xx's last Record-Route, or its
// Contact. The hop must have a port that fits and, when sip.egress is set,
// resolve to an address it allows: that address is returned, and the leg's
// ACK, BYE and any later request go there and nowhere else
// (pinningRequester), so a name cannot be rebound to a denied address between
// this check and a send. Without a policy it returns the zero AddrPort.
func (s *Server) checkNextHop(ctx context.Context, res *sip.Response, transport string) (netip.AddrPort, error) {
	hop, ok := nextHopURI(res)
	if !ok {
		return netip.AddrPort{}, nil // sipgo refuses a 2xx without Contact itself
	}
	if hop.Port < 0 || hop.Port > 65535 {
		return netip.AddrPort{}, fmt.Errorf("next hop %s: port %d is not 0 to 65535", hop.Host, hop.Port)
	}
	if !s.cfg.Egress.active() {
		return netip.AddrPort{}, nil
	}
	addrs, port, err := s.resolveTarget(ctx, hop.Host, hop.Port, transport)
	if err != nil {
		return netip.AddrPort{}, err
	}
	return netip.AddrPortFrom(addrs[0], uint16(port)), nil
}

// nextHopURI is where the requests after a 2xx go (RFC 3261 §12.1.2): the
// last Record-Route the 2xx carries, else its Contact.
func nextHopURI(res *sip.Response) (sip.Uri, bool) {
	if rrs := res.GetHeaders("Record-Route"); len(rrs) > 0 {
		rr, ok := rrs[len(rrs)-1].(*sip.RecordRouteHeader)
		if !ok {
			return sip.Uri{}, false
		}
		return rr.Address, true
	}
	if c := res.Contact(); c != nil {
		return c.Address, true
	}
	return sip.Uri{}, false
}

// hostResolver is the DNS a Server uses for Dial's destinations; tests replace it.
type hostResolver interface {
	LookupNetIP(ctx context.Context, network, host string) ([]netip.Addr, error)
	LookupSRV(ctx context.Context, service, proto, name string) (string, []*net.SRV, error)
}

func (s *Server) resolver() hostResolver {
	if s.dns != nil {
		return s.dns
	}
	return net.DefaultResolver
}

// resolveTarget finds where a Dial's INVITE goes: the host's addresses, or,
// for a name without a port and without addresses, its SIP SRV records
// (RFC 3263 §4.2, the fallback sipgo used), each hop checked by sip.egress.
func (s *Server) resolveTarget(ctx context.Context, host string, port int, transport string) ([]netip.Addr, int, error) {
	addrs, err := s.resolveHop(ctx, host)
	if err == nil || port != 0 || errors.Is(err, ErrEgressDenied) {
		if port == 0 {
			port = sip.DefaultPort(transport)
		}
		return addrs, port, err
	}
	service, proto := "sip", transport
	if transport == "tls" {
		service, proto = "sips", "tcp" // RFC 3263 §4.2: _sips._tcp
	}
	_, srvs, srvErr := s.resolver().LookupSRV(ctx, service, proto, host)
	if srvErr != nil || len(srvs) == 0 {
		return nil, 0, err
	}
	for _, srv := range srvs { // already in priority and weight order
		addrs, hopErr := s.resolveHop(ctx, strings.TrimSuffix(srv.Target, "."))
		if hopErr == nil {
			return addrs, int(srv.Port), nil
		}
		err = hopErr
	}
	return nil, 0, err
}
