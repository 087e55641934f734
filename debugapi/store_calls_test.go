package debugapi

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pivotua/pivotua/internal/testkit/pgtest"
)

// callsNode is one node's part of the shared table in a test: its own connection pool on the shared
// schema, and the updates its handler was given.
type callsNode struct {
	*CallStore
	store *SQLStore
	mu    sync.Mutex
	got   []CallUpdateRequest
}

func (n *callsNode) updates() []CallUpdateRequest {
	n.mu.Lock()
	defer n.mu.Unlock()
	return append([]CallUpdateRequest(nil), n.got...)
}

func openCallsNode(t *testing.T, dsn, name string, rows map[string]CallRow) *callsNode {
	t.Helper()
	store, err := OpenPostgres(context.Background(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	n := &callsNode{store: store}
	cs, err := store.OpenCalls(context.Background(), CallsConfig{Node: name, Heartbeat: 100 * time.Millisecond, DeadAfter: time.Second, KeepEnded: time.Hour},
		func(u CallUpdateRequest) (CallRow, string, string) {
			n.mu.Lock()
			n.got = append(n.got, u)
			n.mu.Unlock()
			row, ok := rows[u.Sid]
			if !ok {
				return CallRow{}, ForwardNotFound, "not here"
			}
			row.Status = "completed"
			return row, ForwardApplied, ""
		})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cs.Close(context.Background()) })
	n.CallStore = cs
	return n
}

func liveRow(sid, node string) CallRow {
	now := time.Now().Truncate(time.Microsecond)
	return CallRow{Sid: sid, AccountID: "acct1", SIPCallID: "call-" + sid[2:10] + "@host", Node: node, Direction: "inbound",
		Status: "in-progress", From: "alice", To: "3004", Created: now, Answered: now, Updated: now}
}

const (
	sidA = "CA0123456789abcdef0123456789abcdef"
	sidB = "CAfedcba9876543210fedcba9876543210"
)

// findEventually polls n until it finds key (the owner's writer is asynchronous).
func findEventually(t *testing.T, n *callsNode, key string, want func(CallRow) bool) CallRow {
	t.Helper()
	var row CallRow
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		r, ok, err := n.Find(context.Background(), "acct1", key)
		if err != nil {
			t.Fatal(err)
		}
		if row = r; ok && want(r) {
			return r
		}
	}
	t.Fatalf("never found %s as wanted; last %+v", key, row)
	return row
}

// A call one node saves is found and listed by another (by sid and by SIP Call-ID), and an update
// the other forwards reaches the owner's handler, whose answer comes back; an unknown sid is not found.
func TestCallsSharedAndForwardedToTheNodeHoldingThem(t *testing.T) {
	dsn := pgtest.DSN(t)
	row := liveRow(sidA, "node-a")
	a := openCallsNode(t, dsn, "node-a", map[string]CallRow{sidA: row})
	b := openCallsNode(t, dsn, "node-b", nil)
	a.Save(row)
	got := findEventually(t, b, row.SIPCallID, func(r CallRow) bool { return r.Sid == sidA })
	if got.Node != "node-a" || got.Status != "in-progress" || !got.Created.Equal(row.Created) || got.From != "alice" {
		t.Errorf("found %+v, want %+v", got, row)
	}
	list, err := b.List(context.Background(), "acct1", 10)
	if err != nil || len(list) != 1 || list[0].Sid != sidA {
		t.Fatalf("list %+v %v", list, err)
	}

	placed := liveRow(sidB, "node-a")
	placed.Direction = "outbound-api"
	a.Save(placed)
	findEventually(t, b, sidB, func(CallRow) bool { return true })
	if n, err := b.CountLive(context.Background(), "acct1", "outbound-api"); n != 1 || err != nil {
		t.Errorf("node B counts %d live placed calls on other nodes (%v), want A's one", n, err)
	}
	if n, _ := a.CountLive(context.Background(), "acct1", "outbound-api"); n != 0 {
		t.Errorf("node A counts %d of its own calls from the table, want 0 (it counts them in memory)", n)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	start := time.Now()
	reply, err := b.Forward(ctx, CallUpdateRequest{AccountID: "acct1", Sid: sidA, TwiML: "<Response><Hangup/></Response>"})
	if err != nil || reply.Sid != sidA || reply.Status != "completed" {
		t.Fatalf("forward: %+v %v", reply, err)
	}
	if ups := a.updates(); len(ups) != 1 || ups[0].TwiML != "<Response><Hangup/></Response>" || ups[0].AccountID != "acct1" {
		t.Errorf("the owner's handler got %+v", ups)
	}
	t.Logf("forwarded update answered in %v", time.Since(start).Round(time.Millisecond))

	var fe *ForwardError
	const unknown = "CA11111111111111111111111111111111"
	if _, err := b.Forward(ctx, CallUpdateRequest{AccountID: "acct1", Sid: unknown, Status: "completed"}); !errors.As(err, &fe) || fe.Outcome != ForwardNotFound {
		t.Errorf("forward of an unknown sid: %v", err)
	}
	if _, ok, err := b.Find(ctx, "acct1", unknown); ok || err != nil {
		t.Errorf("find of an unknown sid: %v %v", ok, err)
	}
	if _, ok, _ := b.Find(ctx, "other-account", sidA); ok {
		t.Errorf("another account found the call")
	}
}

// ghostCall writes a live call held by a boot that no process runs, with its heartbeat beatAge ago.
func ghostCall(t *testing.T, n *callsNode, boot string, beatAge time.Duration, row CallRow) {
	t.Helper()
	ctx := context.Background()
	if _, err := n.db.ExecContext(ctx, `INSERT INTO pivot_nodes (boot, node, beat_at) VALUES ($1, 'ghost', now() - make_interval(secs => $2))
		ON CONFLICT (boot) DO NOTHING`, boot, beatAge.Seconds()); err != nil {
		t.Fatal(err)
	}
	if _, err := n.db.ExecContext(ctx, upsertCallRowSQL, row.Sid, row.AccountID, row.SIPCallID, "ghost", boot, row.Direction, row.Status,
		row.From, row.To, micros(row.Created), micros(row.Answered), micros(row.Ended), micros(row.Updated), 0); err != nil {
		t.Fatal(err)
	}
}

// An owner that heartbeats but never answers (stopped, cut off) gives ErrOwnerTimeout when the
// requester's time is out, not a hang, and the update is withdrawn so it is never applied later.
func TestCallsForwardToAnOwnerThatDoesNotAnswerTimesOut(t *testing.T) {
	dsn := pgtest.DSN(t)
	b := openCallsNode(t, dsn, "node-b", nil)
	const boot = "0000000000000000000000000000beef"
	ghostCall(t, b, boot, 0, liveRow(sidA, "ghost"))
	ctx, cancel := context.WithTimeout(context.Background(), 700*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := b.Forward(ctx, CallUpdateRequest{AccountID: "acct1", Sid: sidA, Status: "completed"})
	if !errors.Is(err, ErrOwnerTimeout) || !strings.Contains(err.Error(), "withdrawn") {
		t.Fatalf("forward to a silent owner: %v", err)
	}
	if took := time.Since(start); took > 3*time.Second {
		t.Errorf("the timeout took %v", took)
	}
	var state string
	if err := b.db.QueryRow(`SELECT state FROM pivot_call_updates WHERE sid = $1`, sidA).Scan(&state); err != nil || state != "expired" {
		t.Errorf("the update's row is %q (%v), want expired", state, err)
	}
}

// A live call of a boot silent for dead_after is ended by the live nodes exactly once, even when two
// look at the same time: completed once answered, failed otherwise, with the reason; the dead boot's
// later writes (a node that comes back) never make it live again.
func TestCallsOfADeadNodeEndOnceWithAReason(t *testing.T) {
	dsn := pgtest.DSN(t)
	b := openCallsNode(t, dsn, "node-b", nil)
	c := openCallsNode(t, dsn, "node-c", nil)
	b.stop() // no heartbeat loop: the reaps below are the test's own
	c.stop()
	const boot = "00000000000000000000000000000dea"
	answered := liveRow(sidA, "ghost")
	ringing := liveRow(sidB, "ghost")
	ringing.Answered, ringing.Status = time.Time{}, "ringing"
	ghostCall(t, b, boot, time.Hour, answered)
	ghostCall(t, b, boot, time.Hour, ringing)
	junk := liveRow("CA22222222222222222222222222222222", "ghost")
	junk.Status = "hacked" // a row no node wrote: never made into a well-formed call
	ghostCall(t, b, boot, time.Hour, junk)

	var wg sync.WaitGroup
	counts := make([]int, 2)
	for i, n := range []*callsNode{b, c} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var err error
			if counts[i], err = n.reapDead(context.Background()); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if counts[0]+counts[1] != 2 {
		t.Errorf("the two nodes ended %v calls, want 2 in all", counts)
	}
	for sid, want := range map[string]string{sidA: "completed", sidB: "failed"} {
		r, ok, err := b.Find(context.Background(), "acct1", sid)
		if !ok || err != nil || r.Status != want || r.Ended.IsZero() || !strings.Contains(r.EndReason, "node ghost stopped: no heartbeat for 1s") {
			t.Errorf("%s: %+v %v %v, want %s with the reason", sid, r, ok, err, want)
		}
	}
	if _, ok, _ := b.Find(context.Background(), "acct1", junk.Sid); ok {
		t.Errorf("the reaper made a junk row a call")
	}
	// The dead boot writes again (its process was only cut off): the end stands.
	ghostCall(t, b, boot, time.Hour, answered)
	if r, _, _ := b.Find(context.Background(), "acct1", sidA); r.Status != "completed" {
		t.Errorf("a late write of the dead boot made the call %s", r.Status)
	}
}

// What the table and the notifications hold is checked before use: rows with a bad sid, status, or
// oversized text are skipped (and an unknown key still finds nothing), junk payloads on a node's
// channel are dropped, and a hostile update row is refused without reaching the handler.
func TestCallsHostileRowsAndNotificationsAreRefused(t *testing.T) {
	dsn := pgtest.DSN(t)
	a := openCallsNode(t, dsn, "node-a", map[string]CallRow{sidA: liveRow(sidA, "node-a")})
	b := openCallsNode(t, dsn, "node-b", nil)
	ctx := context.Background()
	for _, bad := range []CallRow{
		{Sid: "CA-not-hex", Status: "in-progress"},
		{Sid: "CA11111111111111111111111111111111", Status: "hacked"},
		{Sid: "CA22222222222222222222222222222222", Status: "in-progress", From: strings.Repeat("x", 100000)},
		{Sid: "CA33333333333333333333333333333333", Status: "in-progress", Direction: "sideways"},
	} {
		dir := bad.Direction
		if dir == "" {
			dir = "inbound"
		}
		if _, err := a.db.ExecContext(ctx, upsertCallRowSQL, bad.Sid, "acct1", "", "evil", a.boot, dir, bad.Status,
			bad.From, "", time.Now().UnixMicro(), 0, 0, 0, 0); err != nil {
			t.Fatal(err)
		}
	}
	list, err := b.List(ctx, "acct1", 100)
	if err != nil || len(list) != 0 {
		t.Errorf("listed %d hostile rows (%v)", len(list), err)
	}
	for _, key := range []string{"CA11111111111111111111111111111111", "CA-not-hex", strings.Repeat("k", 5000)} {
		if _, ok, err := b.Find(ctx, "acct1", key); ok || err != nil {
			t.Errorf("find %.40s: %v %v", key, ok, err)
		}
	}

	for _, payload := range []string{"", "u:", "u:abc", "u:-5", "u:99999999999999999999999", "x:1", "r:1;DROP TABLE", strings.Repeat("u", 7000)} {
		if _, err := b.db.ExecContext(ctx, `SELECT pg_notify($1, $2)`, notifyChannel(a.boot), payload); err != nil {
			t.Fatal(err)
		}
	}
	// A hostile update row for A, and a good one after it: only the good one reaches the handler.
	if _, err := b.db.ExecContext(ctx, `INSERT INTO pivot_call_updates (boot, reply_to, account_id, sid, url, method, twiml, status)
		VALUES ($1, $2, 'acct1', 'CA-evil', '', '', $3, '')`, a.boot, b.boot, strings.Repeat("<", 70000)); err != nil {
		t.Fatal(err)
	}
	a.handlePending(ctx)
	var outcome string
	if err := b.db.QueryRow(`SELECT outcome FROM pivot_call_updates WHERE sid = 'CA-evil'`).Scan(&outcome); err != nil || outcome != ForwardRefused {
		t.Errorf("the hostile update: %q %v, want refused", outcome, err)
	}
	a.Save(liveRow(sidA, "node-a"))
	findEventually(t, b, sidA, func(CallRow) bool { return true })
	fctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if _, err := b.Forward(fctx, CallUpdateRequest{AccountID: "acct1", Sid: sidA, Status: "completed"}); err != nil {
		t.Fatalf("a good update after the junk: %v", err)
	}
	if ups := a.updates(); len(ups) != 1 || ups[0].Sid != sidA {
		t.Errorf("the handler got %+v, want only the good update", ups)
	}
}

// What a caller put on the wire (a From with a NUL and bytes that are not UTF-8, a Call-ID likewise)
// is stored escaped, as every text of the debug store, and the call is found by the Call-ID as sent.
func TestCallsWireTextIsStoredEscaped(t *testing.T) {
	dsn := pgtest.DSN(t)
	a := openCallsNode(t, dsn, "node-a", nil)
	row := liveRow(sidA, "node-a")
	row.From, row.SIPCallID = "ali\x00ce\xff", "id\x00\xfe@host"
	a.Save(row)
	got := findEventually(t, a, row.SIPCallID, func(CallRow) bool { return true })
	if got.From != `ali\x00ce\xff` || got.SIPCallID != `id\x00\xfe@host` {
		t.Errorf("stored From %q Call-ID %q", got.From, got.SIPCallID)
	}
}
