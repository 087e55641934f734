package debugapi

import (
	"context"
	"testing"

	"github.com/pivotua/pivotua/internal/testkit/pgtest"
)

// TestRoomsClaimedOnceReleasedAndTakenFromADeadNode: of two nodes the first to claim a room hosts
// it and the other is told where; a release lets the other claim it; a node that stops heartbeating
// loses its rooms to the next claim.
func TestRoomsClaimedOnceReleasedAndTakenFromADeadNode(t *testing.T) {
	dsn := pgtest.DSN(t)
	ctx := context.Background()
	a, b := openCallsNode(t, dsn, "a", nil), openCallsNode(t, dsn, "b", nil)
	ra, err := a.OpenRooms(ctx, a.store, "127.0.0.11:5060")
	if err != nil {
		t.Fatal(err)
	}
	rb, err := b.OpenRooms(ctx, b.store, "127.0.0.12:5060")
	if err != nil {
		t.Fatal(err)
	}
	claim := func(r *RoomStore, name, wantHost string, wantLocal bool) {
		t.Helper()
		host, local, err := r.Claim(ctx, "acct1", name)
		if err != nil || host != wantHost || local != wantLocal {
			t.Fatalf("claim %q at %s: %q local=%v err=%v, want %q local=%v", name, r.addr, host, local, err, wantHost, wantLocal)
		}
	}
	claim(ra, "room", "127.0.0.11:5060", true)
	claim(rb, "room", "127.0.0.11:5060", false)
	claim(ra, "room", "127.0.0.11:5060", true) // again: still its own
	claim(rb, "other", "127.0.0.12:5060", true)
	if _, _, found, err := rb.Lookup(ctx, "acct2", "room"); err != nil || found {
		t.Fatalf("another account's room of the same name: found=%v err=%v", found, err)
	}
	if err := rb.Release(ctx, "acct1", "room"); err != nil { // not b's: left alone
		t.Fatal(err)
	}
	claim(rb, "room", "127.0.0.11:5060", false)
	if err := ra.Release(ctx, "acct1", "room"); err != nil {
		t.Fatal(err)
	}
	claim(rb, "room", "127.0.0.12:5060", true)

	// b dies (its heartbeat row gone, as after dead_after): a takes its rooms over at the next claim.
	b.stop()
	b.stopped.Wait()
	if _, err := a.db.ExecContext(ctx, `UPDATE pivot_nodes SET beat_at = now() - interval '1 minute' WHERE boot = $1`, b.boot); err != nil {
		t.Fatal(err)
	}
	if _, _, found, err := ra.Lookup(ctx, "acct1", "other"); err != nil || found {
		t.Fatalf("a dead node's room still looked up: found=%v err=%v", found, err)
	}
	claim(ra, "other", "127.0.0.11:5060", true)
}
