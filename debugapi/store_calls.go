package debugapi

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"
)

// The shared table of calls: when several nodes share one PostgreSQL store, each writes the state of
// its calls to pivot_calls (Save: coalesced per call, written by one goroutine, never waited for), so
// the Calls API of any node can fetch and list every node's calls, and an update of a call reaches the
// node that holds it through PostgreSQL itself (store_calls_forward.go: a row in pivot_call_updates and
// a NOTIFY on the owner's channel). Each running process is a "boot" with its own random id and a
// heartbeat row in pivot_nodes (store_calls_nodes.go); a live call whose boot stopped heartbeating for
// dead_after is rewritten once, by whichever live node notices first, to failed (completed when it was
// answered) with an end_reason. SQLite (one node) has none of this.
//
// Rows and notifications come from other pivotua nodes, but every value read back is bounded and
// checked (validCallRow, forwarded requests in store_calls_forward.go) before it is used: a row that
// fails is skipped and logged, never served.

// Status and direction names of the Calls API (Twilio's), the only ones a row may hold.
var (
	callStatuses   = map[string]bool{"queued": true, "ringing": true, "in-progress": true, "completed": true, "busy": true, "failed": true, "no-answer": true, "canceled": true}
	callDirections = map[string]bool{"inbound": true, "outbound-api": true}
)

// Bounds on what a row of pivot_calls holds.
const (
	maxCallAccountLen = 64
	maxCallNodeLen    = 256
	maxCallPartyLen   = 2048 // From and To: a To may be a sip: URI of up to the API's 2048 bytes
	maxCallReasonLen  = 512
	// maxCallMicros is the year 9999: a time beyond is not one a node wrote.
	maxCallMicros = 253402300799 * 1e6
	// saveQueueCalls bounds the calls whose state waits to be written (the database is slow or down):
	// past it a new call's state is dropped, but for its end, which may fill twice as many, so a call
	// does not read live for as long as this node lives. An update of a call already waiting replaces
	// its state and is never dropped.
	saveQueueCalls = 20000
	// saveBatch bounds the rows one transaction writes.
	saveBatch = 200
)

// CallRow is one call of the shared table: what the Calls API shows of it. Times are zero when unset.
type CallRow struct {
	Sid, AccountID, SIPCallID string
	Node                      string // the node holding the call
	Direction, Status         string
	From, To                  string
	Created, Answered, Ended  time.Time
	Updated                   time.Time
	SIPResponseCode           int
	EndReason                 string // why another node ended the call (its own died); "" otherwise
}

// CallsConfig is how a node takes part in the shared table.
type CallsConfig struct {
	Node      string        // this node's name, written on its calls
	Heartbeat time.Duration // how often this node says it is alive (and looks for dead nodes)
	DeadAfter time.Duration // a node silent this long is dead: its live calls are ended
	KeepEnded time.Duration // ended calls older than this are deleted from the table
	Logger    *slog.Logger
}

// CallStore is the shared table of calls of one node (one boot). Safe for concurrent use.
type CallStore struct {
	db   *sql.DB
	cfg  CallsConfig
	boot string // 32 hex: this process's run
	log  *slog.Logger

	mu      sync.Mutex
	pending map[string]CallRow // sid -> latest state not yet written
	dropped uint64
	wake    chan struct{} // capacity 1: the writer has work

	// forwarding (store_calls_forward.go)
	handler  CallUpdateHandler
	waitMu   sync.Mutex
	waiters  map[int64]chan struct{} // update id -> closed when its answer is in
	handling chan struct{}           // bounds the forwarded updates handled at once

	lastReap atomic.Int64 // Unix nanoseconds of the last reapDead from a read (readReap)

	httpAddr atomic.Pointer[string] // this boot's HTTP API address in pivot_nodes; nil none (store_peers.go)

	stop    context.CancelFunc
	stopped sync.WaitGroup
}

// callsMigrations create the shared table of calls. They are numbered from 1001, apart from the
// debug records' own steps, and run only on PostgreSQL, when a node opens the calls store.
var callsMigrations = []migration{{
	version: 1001,
	name:    "shared table of calls, node heartbeats, forwarded updates",
	statements: []string{
		`CREATE TABLE pivot_nodes (
			boot TEXT PRIMARY KEY,
			node TEXT NOT NULL,
			started_at TIMESTAMPTZ NOT NULL DEFAULT now(),
			beat_at TIMESTAMPTZ NOT NULL DEFAULT now())`,
		`CREATE TABLE pivot_calls (
			sid TEXT COLLATE "C" PRIMARY KEY,
			account_id TEXT NOT NULL,
			call_id TEXT COLLATE "C" NOT NULL,
			node TEXT NOT NULL,
			boot TEXT NOT NULL,
			direction TEXT NOT NULL,
			status TEXT NOT NULL,
			from_party TEXT NOT NULL,
			to_party TEXT NOT NULL,
			created_us BIGINT NOT NULL,
			answered_us BIGINT NOT NULL,
			ended_us BIGINT NOT NULL,
			updated_us BIGINT NOT NULL,
			sip_code INTEGER NOT NULL,
			end_reason TEXT NOT NULL DEFAULT '')`,
		`CREATE INDEX pivot_calls_list ON pivot_calls (account_id, created_us)`,
		`CREATE INDEX pivot_calls_call_id ON pivot_calls (account_id, call_id)`,
		`CREATE INDEX pivot_calls_live ON pivot_calls (boot) WHERE ended_us = 0`,
		`CREATE INDEX pivot_calls_live_account ON pivot_calls (account_id, direction) WHERE ended_us = 0`,
		`CREATE INDEX pivot_calls_ended ON pivot_calls (ended_us) WHERE ended_us > 0`,
		`CREATE TABLE pivot_call_updates (
			id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
			boot TEXT NOT NULL,
			reply_to TEXT NOT NULL,
			account_id TEXT NOT NULL,
			sid TEXT NOT NULL,
			url TEXT NOT NULL,
			method TEXT NOT NULL,
			twiml TEXT NOT NULL,
			flow TEXT NOT NULL DEFAULT '',
			status TEXT NOT NULL,
			action TEXT NOT NULL DEFAULT '',
			state TEXT NOT NULL DEFAULT 'pending',
			outcome TEXT NOT NULL DEFAULT '',
			detail TEXT NOT NULL DEFAULT '',
			reply TEXT NOT NULL DEFAULT '',
			created_at TIMESTAMPTZ NOT NULL DEFAULT now())`,
		`CREATE INDEX pivot_call_updates_pending ON pivot_call_updates (boot) WHERE state = 'pending'`,
		`CREATE INDEX pivot_call_updates_created ON pivot_call_updates (created_at)`,
	},
}}

// OpenCalls starts this node's part of the shared table of calls on s, which must be PostgreSQL
// (ErrCallsNotShared otherwise: one SQLite node has nobody to share with): it migrates the tables,
// registers this boot's heartbeat, and starts the writer, the heartbeat and the listener. handler
// applies the updates other nodes forward to this node's calls. Close stops it.
func (s *SQLStore) OpenCalls(ctx context.Context, cfg CallsConfig, handler CallUpdateHandler) (*CallStore, error) {
	if s.dialect != postgresDialect {
		return nil, fmt.Errorf("%w: driver %s", ErrCallsNotShared, s.dialect.name)
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	// Unset times take store:'s defaults (a zero heartbeat would stop the ticker's constructor).
	if cfg.Heartbeat <= 0 {
		cfg.Heartbeat = 2 * time.Second
	}
	if cfg.DeadAfter <= 0 {
		cfg.DeadAfter = 5 * cfg.Heartbeat
	}
	if cfg.KeepEnded <= 0 {
		cfg.KeepEnded = 24 * time.Hour
	}
	if err := s.migrateSteps(ctx, callsMigrations); err != nil {
		return nil, err
	}
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (Go 1.24)
	cs := &CallStore{
		db: s.db, cfg: cfg, boot: hex.EncodeToString(b[:]),
		pending: map[string]CallRow{}, wake: make(chan struct{}, 1),
		handler: handler, waiters: map[int64]chan struct{}{}, handling: make(chan struct{}, maxHandling),
	}
	cs.log = cfg.Logger.With("boot", cs.boot)
	if _, err := s.db.ExecContext(ctx, `INSERT INTO pivot_nodes (boot, node) VALUES ($1, $2)`, cs.boot, StoredText(cfg.Node)); err != nil {
		return nil, fmt.Errorf("%w: register node: %v", ErrCallsUnavailable, err)
	}
	runCtx, stop := context.WithCancel(context.Background())
	cs.stop = stop
	for _, loop := range []func(context.Context){cs.writeLoop, cs.heartbeatLoop, cs.listenLoop} {
		cs.stopped.Add(1)
		go func() {
			defer cs.stopped.Done()
			loop(runCtx)
		}()
	}
	cs.log.Info("shared table of calls open", "node", cfg.Node, "heartbeat", cfg.Heartbeat, "dead_after", cfg.DeadAfter)
	return cs, nil
}

// Boot is this process's id in pivot_nodes and on its calls.
func (c *CallStore) Boot() string { return c.boot }

// Close stops the loops, writes what is still queued (for up to ctx: after the writer has stopped,
// so no older state of a call is written after a newer one) and removes this boot's heartbeat: a node
// that stops cleanly has ended its calls already, and the others need not wait for dead_after. Call it
// once.
func (c *CallStore) Close(ctx context.Context) error {
	c.stop()
	c.stopped.Wait()
	if !c.flush(ctx) {
		c.log.Warn("shared table of calls: closed with call states unwritten; the other nodes end those calls as a dead node's")
	}
	_, err := c.db.ExecContext(ctx, `DELETE FROM pivot_nodes WHERE boot = $1`, c.boot)
	return err
}

// Save queues row's state for the table and returns at once (the writer goroutine writes it).
func (c *CallStore) Save(row CallRow) {
	c.mu.Lock()
	bound := saveQueueCalls
	if !row.Ended.IsZero() {
		bound *= 2
	}
	if _, waiting := c.pending[row.Sid]; !waiting && len(c.pending) >= bound {
		c.dropped++
		n := c.dropped
		c.mu.Unlock()
		if n&(n-1) == 0 { // 1, 2, 4, 8...: a flood of drops is not a flood of lines
			c.log.Warn("shared table of calls: queue full, a call's state was dropped", "call_sid", row.Sid, "dropped", n)
		}
		return
	}
	c.pending[row.Sid] = row
	c.mu.Unlock()
	c.signal()
}

func (c *CallStore) signal() {
	select {
	case c.wake <- struct{}{}:
	default:
	}
}

// writeLoop writes queued states until ctx ends; a failed batch is retried after a pause, unless a
// newer state of the same call came meanwhile.
func (c *CallStore) writeLoop(ctx context.Context) {
	pause := 100 * time.Millisecond
	for {
		select {
		case <-ctx.Done():
			return
		case <-c.wake:
		}
		if c.flush(ctx) {
			pause = 100 * time.Millisecond
			continue
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(pause):
		}
		pause = min(2*pause, 5*time.Second)
		c.signal()
	}
}

// flush writes everything queued; false when a batch failed (and was queued again).
func (c *CallStore) flush(ctx context.Context) bool {
	c.mu.Lock()
	batch := c.pending
	c.pending = make(map[string]CallRow, len(batch))
	c.mu.Unlock()
	rows := make([]CallRow, 0, len(batch))
	for _, r := range batch {
		rows = append(rows, r)
	}
	for len(rows) > 0 {
		n := min(len(rows), saveBatch)
		if err := c.write(ctx, rows[:n]); err != nil {
			c.log.Warn("shared table of calls: write failed, retrying", "calls", len(rows), "err", err)
			c.mu.Lock()
			for _, r := range rows {
				if _, newer := c.pending[r.Sid]; !newer {
					c.pending[r.Sid] = r
				}
			}
			c.mu.Unlock()
			return false
		}
		rows = rows[n:]
	}
	return true
}

// upsertCallRowSQL writes a call's state. Only the boot that holds the call overwrites its row, and
// never once another node ended it for a dead boot (end_reason set): that end is final.
const upsertCallRowSQL = `INSERT INTO pivot_calls AS c
	(sid, account_id, call_id, node, boot, direction, status, from_party, to_party,
	 created_us, answered_us, ended_us, updated_us, sip_code)
	VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)
	ON CONFLICT (sid) DO UPDATE SET call_id = excluded.call_id, status = excluded.status,
	answered_us = excluded.answered_us, ended_us = excluded.ended_us, updated_us = excluded.updated_us,
	sip_code = excluded.sip_code
	WHERE c.boot = excluded.boot AND c.end_reason = ''`

func (c *CallStore) write(ctx context.Context, rows []CallRow) error {
	tx, err := c.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback() //nolint:errcheck // a no-op after Commit
	stmt, err := tx.PrepareContext(ctx, upsertCallRowSQL)
	if err != nil {
		return err
	}
	defer stmt.Close()
	for _, r := range rows {
		r = storedCallRow(r)
		if msg := validCallRow(r); msg != "" {
			c.log.Warn("shared table of calls: a call's state not written", "call_sid", cut(r.Sid, 40), "why", msg)
			continue
		}
		if _, err := stmt.ExecContext(ctx, r.Sid, r.AccountID, r.SIPCallID, r.Node, c.boot, r.Direction, r.Status,
			r.From, r.To, micros(r.Created), micros(r.Answered), micros(r.Ended), micros(r.Updated), r.SIPResponseCode); err != nil {
			return err
		}
	}
	return tx.Commit()
}

// storedCallRow is r with its texts in the store's escaped form, cut to their bounds: a caller's From
// is the wire's.
func storedCallRow(r CallRow) CallRow {
	r.SIPCallID = StoredCallID(r.SIPCallID)
	r.From, r.To = cut(StoredText(r.From), maxCallPartyLen), cut(StoredText(r.To), maxCallPartyLen)
	r.Node = cut(StoredText(r.Node), maxCallNodeLen)
	return r
}

// cut shortens s to at most n bytes, at a character boundary.
func cut(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

func micros(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMicro()
}

func fromMicros(us int64) time.Time {
	if us == 0 {
		return time.Time{}
	}
	return time.UnixMicro(us)
}

// validCallRow returns why r cannot be a call of the table, or "".
func validCallRow(r CallRow) string {
	switch {
	case !validCallSid(r.Sid):
		return "sid is not CA and 32 hex digits"
	case r.AccountID == "" || len(r.AccountID) > maxCallAccountLen || !printableASCII(r.AccountID):
		return "account_id is not 1-64 printable characters"
	case len(r.SIPCallID) > maxStoredCallIDLen || !utf8.ValidString(r.SIPCallID):
		return "call_id is over its bound or not UTF-8"
	case len(r.Node) > maxCallNodeLen || !utf8.ValidString(r.Node):
		return "node is over its bound or not UTF-8"
	case !callDirections[r.Direction]:
		return fmt.Sprintf("direction %.32q is not inbound or outbound-api", r.Direction)
	case !callStatuses[r.Status]:
		return fmt.Sprintf("status %.32q is not a call status", r.Status)
	case len(r.From) > maxCallPartyLen || len(r.To) > maxCallPartyLen || !utf8.ValidString(r.From) || !utf8.ValidString(r.To):
		return "from or to is over its bound or not UTF-8"
	case len(r.EndReason) > maxCallReasonLen || !utf8.ValidString(r.EndReason):
		return "end_reason is over its bound or not UTF-8"
	case r.SIPResponseCode < 0 || r.SIPResponseCode > 699:
		return "sip_code is not a SIP status"
	case r.Created.IsZero() || r.Updated.IsZero():
		return "created or updated is not set"
	}
	for _, t := range []time.Time{r.Created, r.Answered, r.Ended, r.Updated} {
		if us := micros(t); us < 0 || us > maxCallMicros {
			return "a time is out of range"
		}
	}
	return ""
}

func validCallSid(s string) bool {
	if len(s) != 34 || s[:2] != "CA" {
		return false
	}
	for i := 2; i < len(s); i++ {
		if !strings.ContainsRune("0123456789abcdef", rune(s[i])) {
			return false
		}
	}
	return true
}

func printableASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x21 || s[i] > 0x7e {
			return false
		}
	}
	return true
}

const selectCallRowSQL = `SELECT sid, account_id, call_id, node, direction, status, from_party, to_party,
	created_us, answered_us, ended_us, updated_us, sip_code, end_reason FROM pivot_calls `

// scanCallRow reads one row of selectCallRowSQL; ok false (and a log line) when it fails the checks.
func (c *CallStore) scanCallRow(rows interface{ Scan(...any) error }) (CallRow, bool, error) {
	var r CallRow
	var created, answered, ended, updated int64
	if err := rows.Scan(&r.Sid, &r.AccountID, &r.SIPCallID, &r.Node, &r.Direction, &r.Status, &r.From, &r.To,
		&created, &answered, &ended, &updated, &r.SIPResponseCode, &r.EndReason); err != nil {
		return r, false, err
	}
	for _, us := range []int64{created, answered, ended, updated} {
		if us < 0 || us > maxCallMicros {
			c.log.Warn("shared table of calls: a row skipped", "call_sid", cut(r.Sid, 40), "why", "a time is out of range")
			return r, false, nil
		}
	}
	r.Created, r.Answered, r.Ended, r.Updated = fromMicros(created), fromMicros(answered), fromMicros(ended), fromMicros(updated)
	if msg := validCallRow(r); msg != "" {
		c.log.Warn("shared table of calls: a row skipped", "call_sid", cut(r.Sid, 40), "why", msg)
		return r, false, nil
	}
	return r, true, nil
}

// maxCallKeyLen bounds a key looked up: a sid, or a Call-ID in its stored form.
const maxCallKeyLen = maxStoredCallIDLen + 64

// Find returns the account's call whose sid or SIP Call-ID is key, on any node. A live call of a boot
// that stopped heartbeating is ended first (reapDead), so it never reads live.
func (c *CallStore) Find(ctx context.Context, accountID, key string) (CallRow, bool, error) {
	if key == "" || len(key) > maxCallKeyLen || accountID == "" || len(accountID) > maxCallAccountLen {
		return CallRow{}, false, nil
	}
	if err := c.readReap(ctx); err != nil {
		return CallRow{}, false, err
	}
	// A key is a sid, or a Call-ID as the caller sent it, which may hold what a TEXT parameter cannot
	// (a NUL, bytes that are not UTF-8): only its stored form is ever sent. A Call-ID may look like a
	// sid, so a sid that finds nothing is tried as a Call-ID too.
	lookups := []struct{ where, arg string }{{`call_id = $2 ORDER BY created_us DESC LIMIT 1`, StoredCallID(key)}}
	if validCallSid(key) {
		lookups = append([]struct{ where, arg string }{{`sid = $2`, key}}, lookups...)
	}
	for _, l := range lookups {
		r, ok, err := c.scanCallRow(c.db.QueryRowContext(ctx, selectCallRowSQL+`WHERE account_id = $1 AND `+l.where, accountID, l.arg))
		switch {
		case errors.Is(err, sql.ErrNoRows):
			continue
		case err != nil:
			return CallRow{}, false, fmt.Errorf("%w: %v", ErrCallsUnavailable, err)
		}
		return r, ok, nil
	}
	return CallRow{}, false, nil
}

// readReapEvery spaces the reaps a read runs: a client polling a call (the API waits for a hangup by
// reading every 20 ms) costs one UPDATE per this, not one per read.
const readReapEvery = 250 * time.Millisecond

// readReap runs reapDead before a read unless one ran within readReapEvery: besides the heartbeat's,
// so a dead node's call reads over as soon as dead_after has passed, not a heartbeat later.
func (c *CallStore) readReap(ctx context.Context) error {
	now := time.Now().UnixNano()
	last := c.lastReap.Load()
	if now-last < int64(readReapEvery) || !c.lastReap.CompareAndSwap(last, now) {
		return nil
	}
	_, err := c.reapDead(ctx)
	return err
}

// maxCallList bounds the rows one List reads.
const maxCallList = 100000

// List returns the account's calls on every node, newest first, at most limit.
func (c *CallStore) List(ctx context.Context, accountID string, limit int) ([]CallRow, error) {
	if accountID == "" || len(accountID) > maxCallAccountLen {
		return nil, nil
	}
	limit = min(max(limit, 1), maxCallList)
	if err := c.readReap(ctx); err != nil {
		return nil, err
	}
	rows, err := c.db.QueryContext(ctx, selectCallRowSQL+
		`WHERE account_id = $1 ORDER BY created_us DESC, sid LIMIT $2`, accountID, limit)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrCallsUnavailable, err)
	}
	defer rows.Close()
	var out []CallRow
	for rows.Next() {
		r, ok, err := c.scanCallRow(rows)
		if err != nil {
			return nil, fmt.Errorf("%w: %v", ErrCallsUnavailable, err)
		}
		if ok {
			out = append(out, r)
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrCallsUnavailable, err)
	}
	return out, nil
}

// CountLive counts the account's live calls of direction held by other boots than this one (this
// node counts its own in memory).
func (c *CallStore) CountLive(ctx context.Context, accountID, direction string) (int, error) {
	if err := c.readReap(ctx); err != nil {
		return 0, err
	}
	var n int
	if err := c.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM pivot_calls
		WHERE account_id = $1 AND direction = $2 AND ended_us = 0 AND boot <> $3`, accountID, direction, c.boot).Scan(&n); err != nil {
		return 0, fmt.Errorf("%w: %v", ErrCallsUnavailable, err)
	}
	return n, nil
}
