package main

import (
	"context"
	"fmt"
	"log/slog"
	"net/netip"

	"github.com/pivotua/pivotua/debugapi"
	"github.com/pivotua/pivotua/flow"
	"github.com/pivotua/pivotua/sip"
)

// shareRooms makes the node's conference rooms part of the directory every node sharing the
// PostgreSQL store sees (flow/conference_cluster.go, debugapi/store_rooms.go): a room lives on the
// node that claimed it and the other nodes' callers reach it by a signed SIP leg to the address
// written here. With SQLite (calls nil: one node) it does nothing.
func shareRooms(ctx context.Context, s *Settings, store *debugapi.SQLStore, calls *debugapi.CallStore, confs *flow.Conferences, log *slog.Logger) error {
	if calls == nil {
		return nil
	}
	addr, ok := roomAddress(s.SIP.Listen, s.SIP.ExternalIP)
	if !ok {
		log.Warn("conference rooms are not shared with the other nodes: no udp:// or tcp:// listener on an address they can reach (set sip.external_ip)")
		return nil
	}
	rooms, err := calls.OpenRooms(ctx, store, addr)
	if err != nil {
		return fmt.Errorf("shared directory of rooms: %w", err)
	}
	confs.Share(rooms)
	log.Info("conference rooms shared with the other nodes", "sip_address", addr)
	return nil
}

// roomAddress is where the other nodes send a room leg: the first UDP listener (else TCP, with its
// transport parameter), at sip.external_ip when set, else at the listener's own address, which must
// then not be unspecified.
func roomAddress(listen []string, externalIP string) (string, bool) {
	for _, want := range []string{"udp", "tcp"} {
		for _, l := range listen {
			transport, ap, err := sip.ParseListen(l)
			if err != nil || transport != want {
				continue
			}
			ip := ap.Addr()
			if externalIP != "" {
				if ext, err := netip.ParseAddr(externalIP); err == nil {
					ip = ext
				}
			}
			if ip.IsUnspecified() {
				continue
			}
			addr := netip.AddrPortFrom(ip, ap.Port()).String()
			if want == "tcp" {
				addr += ";transport=tcp"
			}
			return addr, true
		}
	}
	return "", false
}
