package debugapi

import (
	"context"
	"testing"

	"github.com/pivotua/pivotua/internal/testkit/pgtest"
)

// TestPeersAreTheOtherLiveNodesHTTPAddresses: a node lists the others that advertised an HTTP
// address, never itself, never a node without a heartbeat within dead_after, never a row whose
// address is not host:port (the table is shared, not trusted); a node whose row was deleted writes
// its address again with its next heartbeat.
func TestPeersAreTheOtherLiveNodesHTTPAddresses(t *testing.T) {
	dsn := pgtest.DSN(t)
	ctx := context.Background()
	a, b, c := openCallsNode(t, dsn, "a", nil), openCallsNode(t, dsn, "b", nil), openCallsNode(t, dsn, "c", nil)
	for n, addr := range map[*callsNode]string{a: "127.0.0.11:8080", b: "127.0.0.12:8080"} {
		if err := n.AdvertiseHTTP(ctx, n.store, addr); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.AdvertiseHTTP(ctx, c.store, "http://evil.example/x"); err == nil {
		t.Fatal("an address that is not host:port was advertised")
	}
	peers := func(n *callsNode) []Peer {
		t.Helper()
		p, err := n.Peers(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	if p := peers(a); len(p) != 1 || p[0] != (Peer{Node: "b", BaseURL: "http://127.0.0.12:8080"}) {
		t.Fatalf("a's peers: %v, want b", p)
	}
	if p := peers(c); len(p) != 2 {
		t.Fatalf("c's peers: %v, want a and b", p)
	}
	// Junk written straight into the shared table is skipped.
	if _, err := a.db.ExecContext(ctx, `UPDATE pivot_nodes SET http_addr = 'evil.example/x:80@y' WHERE boot = $1`, b.boot); err != nil {
		t.Fatal(err)
	}
	if p := peers(a); len(p) != 0 {
		t.Fatalf("a's peers with b's address junk: %v", p)
	}
	if err := b.writeHTTPAddr(ctx); err != nil {
		t.Fatal(err)
	}
	// b silent past dead_after: not a peer any more.
	b.stop()
	b.stopped.Wait()
	if _, err := a.db.ExecContext(ctx, `UPDATE pivot_nodes SET beat_at = now() - interval '1 minute' WHERE boot = $1`, b.boot); err != nil {
		t.Fatal(err)
	}
	if p := peers(c); len(p) != 1 || p[0].Node != "a" {
		t.Fatalf("c's peers with b silent: %v, want a", p)
	}
	// a's row deleted (taken for dead): its next heartbeat writes it with its address again.
	if _, err := c.db.ExecContext(ctx, `DELETE FROM pivot_nodes WHERE boot = $1`, a.boot); err != nil {
		t.Fatal(err)
	}
	if err := a.beat(ctx); err != nil {
		t.Fatal(err)
	}
	if p := peers(c); len(p) != 1 || p[0].BaseURL != "http://127.0.0.11:8080" {
		t.Fatalf("c's peers once a beat again: %v", p)
	}
}

// TestRoomHostIsTheLiveNodeThatClaimedTheRoom: a room b claimed is found at b's HTTP address by a,
// by name; b itself, another name and another account find none.
func TestRoomHostIsTheLiveNodeThatClaimedTheRoom(t *testing.T) {
	dsn := pgtest.DSN(t)
	ctx := context.Background()
	a, b := openCallsNode(t, dsn, "a", nil), openCallsNode(t, dsn, "b", nil)
	if err := b.AdvertiseHTTP(ctx, b.store, "127.0.0.12:8080"); err != nil {
		t.Fatal(err)
	}
	rb, err := b.OpenRooms(ctx, b.store, "127.0.0.12:5060")
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := rb.Claim(ctx, "acct1", "room"); err != nil {
		t.Fatal(err)
	}
	if p, found, err := a.RoomHost(ctx, "acct1", "room"); err != nil || !found || p != (Peer{Node: "b", BaseURL: "http://127.0.0.12:8080"}) {
		t.Fatalf("a looking the room up: %v %v %v", p, found, err)
	}
	for _, tc := range []struct {
		n             *callsNode
		account, name string
	}{{b, "acct1", "room"}, {a, "acct1", "other"}, {a, "acct2", "room"}} {
		if p, found, err := tc.n.RoomHost(ctx, tc.account, tc.name); err != nil || found {
			t.Errorf("%s looking up %s/%s: %v %v %v, want none", tc.n.cfg.Node, tc.account, tc.name, p, found, err)
		}
	}
}
