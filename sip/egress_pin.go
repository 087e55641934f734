package sip

import (
	"context"
	"fmt"
	"net/netip"
	"strings"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"
)

// pinningRequester is the transaction requester of our dialog UAs' clients, so
// every request pivotua sends as a UAC passes here once sipgo has built it and
// before the transport layer resolves its destination: Dial's INVITE, CANCEL,
// ACK and BYE, and our BYE (or any other request) on an inbound call. It sets
// the destination to the address sip.egress checked (pinDestination). Without
// it sipgo looks the next hop's host name up again for each request, and a
// hostile DNS answers the check with an allowed address and the send with a
// denied one (rebinding).
type pinningRequester struct {
	srv *Server
	ua  *sipgo.UserAgent
}

var _ sipgo.ClientTransactionRequester = pinningRequester{}

// Request sends req as sipgo's Client would (ACK straight to the transport,
// RFC 3261 §17.1.1.3; the rest through a client transaction), to its pinned
// destination.
func (p pinningRequester) Request(ctx context.Context, req *sip.Request) (sip.ClientTransaction, error) {
	p.srv.pinDestination(ctx, req)
	if req.IsAck() {
		return nil, p.ua.TransportLayer().WriteMsg(req)
	}
	tx, err := p.ua.TransactionLayer().Request(ctx, req)
	if err != nil {
		return nil, err
	}
	return tx, nil
}

// pinDestination sets where req goes when one of our dialogs has an address
// for it: a Dial leg's checked target, then its checked next hop; an inbound
// call's checked remote target, or the INVITE's source (see InboundCall.egressDestination).
func (s *Server) pinDestination(ctx context.Context, req *sip.Request) {
	var fromTag string
	if f := req.From(); f != nil {
		fromTag, _ = f.Params.Get("tag")
	}
	// A Dial to our own listener is two dialogs under one Call-ID: the From tag tells ours.
	if oc := s.lookupOutbound(req); oc != nil && oc.fromTag == fromTag {
		if d := oc.destination(); d.IsValid() {
			req.SetDestination(d.String())
		}
		return
	}
	id, err := sip.DialogIDFromRequestUAC(req)
	if err != nil {
		return
	}
	s.mu.Lock()
	c := s.calls[id]
	s.mu.Unlock()
	if c == nil {
		return
	}
	if d := c.egressDestination(ctx, req); d.IsValid() {
		req.SetDestination(d.String())
	}
}

// egressDestination is where our requests on the inbound call go when
// sip.egress is set, found on the first one and kept for the call: the
// remote target (RFC 3261 §12.1.1: the first Record-Route of the INVITE, else
// its Contact), resolved and checked; or, when the policy denies it or it
// does not resolve, the address the INVITE came from. That is where our
// responses went already (RFC 3581), so a hostile caller gains no new
// destination, and a caller behind NAT needs it anyway; refusing the call
// instead would cost a legitimate call its BYE for a Contact it cannot fix.
// Without a policy it is the zero AddrPort: sipgo's own routing.
func (c *InboundCall) egressDestination(ctx context.Context, req *sip.Request) netip.AddrPort {
	s := c.srv
	if !s.cfg.Egress.active() {
		return netip.AddrPort{}
	}
	c.targetMu.Lock()
	defer c.targetMu.Unlock()
	if c.target.IsValid() {
		return c.target
	}
	hop := req.Recipient
	if r := req.Route(); r != nil {
		hop = r.Address
	}
	transport := strings.ToLower(req.Transport())
	addrs, port, err := s.resolveTarget(ctx, hop.Host, hop.Port, transport)
	if err == nil && (port < 1 || port > 65535) {
		err = fmt.Errorf("port %d is not 1 to 65535", port)
	}
	if err == nil {
		c.target = netip.AddrPortFrom(addrs[0], uint16(port))
		return c.target
	}
	src, perr := netip.ParseAddrPort(c.info.Source)
	if perr != nil {
		return netip.AddrPort{} // a source sipgo read from a socket always parses
	}
	c.target = netip.AddrPortFrom(src.Addr().Unmap(), src.Port())
	// A caller chooses its Contact at will: a line each at debug, a summary at warning.
	s.log.Debug("inbound call's remote target refused by sip.egress or unresolvable: requests in the call go to the INVITE's source instead",
		"call_id", c.info.CallID, "target", hop.Host, "source", c.info.Source, "error", err)
	s.guard.summary.tally("remote-target-refused-by-sip.egress", c.info.Source)
	return c.target
}
