package main

import (
	"context"
	"log/slog"
	"net"
	"net/netip"
	"time"

	"github.com/pivotua/pivotua/debugapi"
)

// Conference control on every node (debugapi/forward.go): with PostgreSQL, the Conferences and
// Participants resources and Kazoo's conferences API answer for rooms any live node hosts, by
// asking the other nodes' HTTP APIs, whose addresses each node writes beside its heartbeat.

// conferencesForwarder is the forwarder the conference APIs ask the other nodes through; nil with
// SQLite (one node).
func conferencesForwarder(s *Settings, calls *debugapi.CallStore) *debugapi.Forwarder {
	if calls == nil {
		return nil
	}
	return debugapi.NewForwarder(calls, s.Node, s.Store.ForwardTimeout)
}

// advertiseAPI writes where the other nodes reach this node's HTTP API (ln's address, at
// sip.external_ip when it listens on every address, as a room's SIP address is): once it listens,
// so no node is sent to it before it can answer. A node whose address the others cannot reach
// still asks them; it is only not asked.
func advertiseAPI(ctx context.Context, s *Settings, store *debugapi.SQLStore, calls *debugapi.CallStore, ln net.Addr, log *slog.Logger) error {
	if calls == nil {
		return nil
	}
	addr, ok := apiAddress(ln, s.SIP.ExternalIP)
	if !ok {
		log.Warn("conference API requests for this node's rooms are not forwarded here by the other nodes: http_listen is on every address and sip.external_ip is not set")
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := calls.AdvertiseHTTP(ctx, store, addr); err != nil {
		return err
	}
	log.Info("conference API shared with the other nodes", "http_address", addr)
	return nil
}

// apiAddress is ln's host:port, at externalIP when ln's address is unspecified (then required).
func apiAddress(ln net.Addr, externalIP string) (string, bool) {
	ap, err := netip.ParseAddrPort(ln.String())
	if err != nil {
		return "", false
	}
	ip := ap.Addr().Unmap()
	if ip.IsUnspecified() {
		ext, err := netip.ParseAddr(externalIP)
		if err != nil {
			return "", false
		}
		ip = ext
	}
	return netip.AddrPortFrom(ip, ap.Port()).String(), true
}
