package debugapi

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
)

// The shared directory of conference rooms: when several nodes share one PostgreSQL store, a room
// (an account's conference name) lives on one node, the one whose boot holds its row of pivot_rooms
// with the SIP address other nodes reach it at. A node claims a room atomically (INSERT ... ON
// CONFLICT): the row is written when there is none, kept when this boot holds it, and taken over
// when its boot has no heartbeat within dead_after (pivot_nodes, store_calls_nodes.go), so a dead
// node's rooms are reclaimed by the first caller that names them. The hosting node deletes its row
// when the room's last party leaves.

// Bounds on what a row of pivot_rooms holds.
const (
	maxRoomNameLen = 256
	maxRoomAddrLen = 300
)

var roomsMigrations = []migration{{
	version: 1101,
	name:    "shared directory of conference rooms",
	statements: []string{
		`CREATE TABLE pivot_rooms (
			account_id TEXT COLLATE "C" NOT NULL,
			name TEXT COLLATE "C" NOT NULL,
			boot TEXT NOT NULL,
			sip_addr TEXT NOT NULL,
			claimed_at TIMESTAMPTZ NOT NULL DEFAULT now(),
			PRIMARY KEY (account_id, name))`,
		`CREATE INDEX pivot_rooms_boot ON pivot_rooms (boot)`,
	},
}}

// RoomStore is one boot's view of the shared directory of rooms. Safe for concurrent use.
type RoomStore struct {
	calls *CallStore
	addr  string // this node's SIP address, host:port
}

// OpenRooms migrates the rooms table and returns the directory of this boot, reached at sipAddr
// (host:port) by the other nodes.
func (c *CallStore) OpenRooms(ctx context.Context, s *SQLStore, sipAddr string) (*RoomStore, error) {
	if err := s.migrateSteps(ctx, roomsMigrations); err != nil {
		return nil, err
	}
	return &RoomStore{calls: c, addr: cut(StoredText(sipAddr), maxRoomAddrLen)}, nil
}

// claimRoomSQL writes this boot's row for a room, keeps it when this boot holds it already and takes
// it over from a boot without a heartbeat within $5 seconds; the WHERE is evaluated again on a row
// another transaction just changed, so of two nodes claiming a dead node's room one wins.
const claimRoomSQL = `INSERT INTO pivot_rooms AS r (account_id, name, boot, sip_addr) VALUES ($1, $2, $3, $4)
	ON CONFLICT (account_id, name) DO UPDATE SET boot = excluded.boot, sip_addr = excluded.sip_addr, claimed_at = now()
	WHERE r.boot = excluded.boot OR NOT EXISTS (
		SELECT 1 FROM pivot_nodes n WHERE n.boot = r.boot AND n.beat_at > now() - make_interval(secs => $5))
	RETURNING r.boot, r.sip_addr`

// Claim makes this boot the host of the account's room name unless a live boot holds it, and returns
// the host's SIP address and whether it is this boot.
func (r *RoomStore) Claim(ctx context.Context, accountID, name string) (string, bool, error) {
	account, room := cut(StoredText(accountID), maxCallAccountLen), cut(StoredText(name), maxRoomNameLen)
	c := r.calls
	// A row deleted between the INSERT that found it and the SELECT that reads it is claimed again.
	for range 3 {
		var boot, addr string
		err := c.db.QueryRowContext(ctx, claimRoomSQL, account, room, c.boot, r.addr, c.cfg.DeadAfter.Seconds()).Scan(&boot, &addr)
		if err == nil {
			return addr, boot == c.boot, nil
		}
		if !errors.Is(err, sql.ErrNoRows) {
			return "", false, fmt.Errorf("%w: claim room: %v", ErrCallsUnavailable, err)
		}
		addr, local, found, err := r.Lookup(ctx, accountID, name)
		if err != nil {
			return "", false, err
		}
		if found {
			return addr, local, nil
		}
	}
	return "", false, fmt.Errorf("%w: claim room: the row kept changing", ErrCallsUnavailable)
}

// Lookup returns the live host of the account's room name: found is false when no row is there or
// its boot is dead.
func (r *RoomStore) Lookup(ctx context.Context, accountID, name string) (string, bool, bool, error) {
	account, room := cut(StoredText(accountID), maxCallAccountLen), cut(StoredText(name), maxRoomNameLen)
	c := r.calls
	var boot, addr string
	err := c.db.QueryRowContext(ctx, `SELECT r.boot, r.sip_addr FROM pivot_rooms r WHERE r.account_id = $1 AND r.name = $2
		AND EXISTS (SELECT 1 FROM pivot_nodes n WHERE n.boot = r.boot AND n.beat_at > now() - make_interval(secs => $3))`,
		account, room, c.cfg.DeadAfter.Seconds()).Scan(&boot, &addr)
	if errors.Is(err, sql.ErrNoRows) {
		return "", false, false, nil
	}
	if err != nil {
		return "", false, false, fmt.Errorf("%w: look up room: %v", ErrCallsUnavailable, err)
	}
	return addr, boot == c.boot, true, nil
}

// Release deletes this boot's row of the account's room name; another boot's row is left alone.
func (r *RoomStore) Release(ctx context.Context, accountID, name string) error {
	account, room := cut(StoredText(accountID), maxCallAccountLen), cut(StoredText(name), maxRoomNameLen)
	if _, err := r.calls.db.ExecContext(ctx, `DELETE FROM pivot_rooms WHERE account_id = $1 AND name = $2 AND boot = $3`,
		account, room, r.calls.boot); err != nil {
		return fmt.Errorf("%w: release room: %v", ErrCallsUnavailable, err)
	}
	return nil
}
