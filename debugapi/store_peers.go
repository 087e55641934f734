package debugapi

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net"
	"strconv"
)

// The nodes' HTTP APIs: each boot writes, beside its heartbeat in pivot_nodes, the host:port of its
// HTTP listener, so a request for a conference another node hosts can be passed to that node's API
// (forward.go). A forward only ever goes to an address read here, of a boot with a heartbeat within
// dead_after: never to one a request names.

// maxHTTPAddrLen bounds a row's http_addr.
const maxHTTPAddrLen = 300

var peersMigrations = []migration{{
	version: 1102,
	name:    "each node's HTTP API address",
	statements: []string{
		`ALTER TABLE pivot_nodes ADD COLUMN http_addr TEXT NOT NULL DEFAULT ''`,
	},
}}

// Peer is another live node's HTTP API.
type Peer struct {
	Node    string // its node: setting
	BaseURL string // http://host:port
}

// AdvertiseHTTP migrates pivot_nodes and writes addr (host:port) as this boot's HTTP API address, so
// the other nodes' Peers find it.
func (c *CallStore) AdvertiseHTTP(ctx context.Context, s *SQLStore, addr string) error {
	if _, _, err := splitHostPort(addr); err != nil {
		return fmt.Errorf("http address %q: %v", addr, err)
	}
	if err := s.migrateSteps(ctx, peersMigrations); err != nil {
		return err
	}
	c.httpAddr.Store(&addr)
	return c.writeHTTPAddr(ctx)
}

// writeHTTPAddr writes this boot's HTTP address to its row (again after beat wrote the row anew).
func (c *CallStore) writeHTTPAddr(ctx context.Context) error {
	addr := c.httpAddr.Load()
	if addr == nil {
		return nil
	}
	if _, err := c.db.ExecContext(ctx, `UPDATE pivot_nodes SET http_addr = $1 WHERE boot = $2`, cut(StoredText(*addr), maxHTTPAddrLen), c.boot); err != nil {
		return fmt.Errorf("%w: write http address: %v", ErrCallsUnavailable, err)
	}
	return nil
}

// Peers returns the HTTP APIs of the other boots with a heartbeat within dead_after, by node name. A
// row whose address is not a host:port is skipped: the table is shared, not trusted to be well formed.
func (c *CallStore) Peers(ctx context.Context) ([]Peer, error) {
	rows, err := c.db.QueryContext(ctx, `SELECT node, http_addr FROM pivot_nodes WHERE boot <> $1 AND http_addr <> ''
		AND beat_at > now() - make_interval(secs => $2) ORDER BY node, boot`, c.boot, c.cfg.DeadAfter.Seconds())
	if err != nil {
		return nil, fmt.Errorf("%w: list nodes: %v", ErrCallsUnavailable, err)
	}
	defer rows.Close()
	var out []Peer
	for rows.Next() {
		var node, addr string
		if err := rows.Scan(&node, &addr); err != nil {
			return nil, fmt.Errorf("%w: list nodes: %v", ErrCallsUnavailable, err)
		}
		host, port, err := splitHostPort(addr)
		if err != nil {
			c.log.Warn("shared table of calls: a node's http address is not host:port; not forwarded to", "node", cut(node, 64), "http_addr", cut(addr, 64))
			continue
		}
		out = append(out, Peer{Node: cut(node, maxCallNodeLen), BaseURL: "http://" + net.JoinHostPort(host, port)})
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("%w: list nodes: %v", ErrCallsUnavailable, err)
	}
	return out, nil
}

// splitHostPort reads a host:port whose port is a number and whose host has no path or user part.
func splitHostPort(addr string) (string, string, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "", "", err
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		return "", "", fmt.Errorf("port %q", port)
	}
	for _, r := range host {
		if !(r == '.' || r == ':' || r == '-' || r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z') {
			return "", "", fmt.Errorf("host %q", host)
		}
	}
	if host == "" {
		return "", "", fmt.Errorf("no host")
	}
	return host, port, nil
}

// RoomHost returns the HTTP API of the live node hosting the account's room name (pivot_rooms),
// when another node hosts it and wrote its address; found is false otherwise (none, or this node).
func (c *CallStore) RoomHost(ctx context.Context, accountID, name string) (Peer, bool, error) {
	account, room := cut(StoredText(accountID), maxCallAccountLen), cut(StoredText(name), maxRoomNameLen)
	var node, addr string
	err := c.db.QueryRowContext(ctx, `SELECT n.node, n.http_addr FROM pivot_rooms r JOIN pivot_nodes n ON n.boot = r.boot
		WHERE r.account_id = $1 AND r.name = $2 AND r.boot <> $3 AND n.http_addr <> ''
		AND n.beat_at > now() - make_interval(secs => $4)`, account, room, c.boot, c.cfg.DeadAfter.Seconds()).Scan(&node, &addr)
	if errors.Is(err, sql.ErrNoRows) {
		return Peer{}, false, nil
	}
	if err != nil {
		return Peer{}, false, fmt.Errorf("%w: look up room host: %v", ErrCallsUnavailable, err)
	}
	host, port, err := splitHostPort(addr)
	if err != nil {
		return Peer{}, false, nil // junk in the shared table: not forwarded to
	}
	return Peer{Node: cut(node, maxCallNodeLen), BaseURL: "http://" + net.JoinHostPort(host, port)}, true, nil
}
