package debugapi

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/stdlib"
)

// Forwarding an update to the node that holds a call, through PostgreSQL alone. The requester writes
// the update as a row of pivot_call_updates naming the owner's boot and its own, and in the same
// transaction NOTIFYs the owner's channel (pivot_calls_<boot>) with "u:<id>". The owner claims the row
// (pending -> taken, so it acts at most once), applies it through its handler, writes the outcome and
// the call's record into the row (taken -> done), and NOTIFYs the requester's channel with "r:<id>".
// The requester wakes on that, or finds the row done when it looks again (every pollEvery, in case a
// notification was lost while a listener reconnected); when its time is out it marks a row still
// pending expired, so an owner that wakes up later never acts on an update its client was told failed.
// The owner also looks for pending rows of its own at every heartbeat (a NOTIFY sent while it was
// reconnecting is lost).
//
// A payload is at most maxPayloadLen bytes of "u:" or "r:" and a positive decimal id; anything else is
// logged and dropped. A claimed row's values are bounded here and checked again by the handler.

// Outcomes of a forwarded update, as the node holding the call reports them.
const (
	ForwardApplied    = "applied"
	ForwardNotFound   = "not_found"
	ForwardNotLive    = "not_live"
	ForwardNotRinging = "not_ringing"
	ForwardRefused    = "refused" // the update failed the owner's checks
)

// CallUpdateRequest is an update forwarded to the node holding the account's call Sid.
type CallUpdateRequest struct {
	AccountID, Sid             string
	URL, Method, TwiML, Status string
	Flow                       string // a Kazoo callflow node as JSON (the channels API's transfer and pivot)
	Action                     string // what the API named the update, for the owner's log and events
}

// CallUpdateHandler applies a forwarded update on the node holding the call: the call's record after
// it, the outcome (one of the Forward constants) and, for a refusal, why.
type CallUpdateHandler func(CallUpdateRequest) (row CallRow, outcome, detail string)

// ForwardError is the owner's answer to a forwarded update that it did not apply.
type ForwardError struct {
	Outcome string // ForwardNotFound, ForwardNotLive, ForwardNotRinging or ForwardRefused
	Detail  string
	Node    string // the node that answered
}

func (e *ForwardError) Error() string {
	return fmt.Sprintf("node %.64q answered %s: %.200s", e.Node, e.Outcome, e.Detail)
}

const (
	// maxPayloadLen bounds a notification's payload: "u:" and an int64.
	maxPayloadLen = 2 + 19
	// maxHandling bounds the forwarded updates one node handles at once; more wait for the heartbeat.
	maxHandling = 32
	// pollEvery is how often a waiting requester looks at its row, in case a NOTIFY was lost.
	pollEvery = 250 * time.Millisecond
	// Bounds on a claimed update's values (the handler checks them again, fully).
	maxForwardedURLLen   = 4096
	maxForwardedTwiMLLen = 64 << 10
	maxForwardedDetail   = 512
	maxReplyLen          = 16 << 10
	// listenRetry is the pause before a lost listening connection is opened again.
	listenRetry = time.Second
)

// notifyChannel is the NOTIFY channel of a boot.
func notifyChannel(boot string) string { return "pivot_calls_" + boot }

func validBoot(s string) bool {
	if len(s) != 32 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !strings.ContainsRune("0123456789abcdef", rune(s[i])) {
			return false
		}
	}
	return true
}

// callRowJSON is a CallRow in a forwarded update's reply.
type callRowJSON struct {
	Sid       string `json:"sid"`
	AccountID string `json:"account_id"`
	SIPCallID string `json:"call_id"`
	Node      string `json:"node"`
	Direction string `json:"direction"`
	Status    string `json:"status"`
	From      string `json:"from"`
	To        string `json:"to"`
	Created   int64  `json:"created_us"`
	Answered  int64  `json:"answered_us"`
	Ended     int64  `json:"ended_us"`
	Updated   int64  `json:"updated_us"`
	SIPCode   int    `json:"sip_code"`
	EndReason string `json:"end_reason"`
}

func encodeReply(r CallRow) string {
	if r.Sid == "" {
		return ""
	}
	r = storedCallRow(r)
	b, err := json.Marshal(callRowJSON{Sid: r.Sid, AccountID: r.AccountID, SIPCallID: r.SIPCallID, Node: r.Node,
		Direction: r.Direction, Status: r.Status, From: r.From, To: r.To, Created: micros(r.Created), Answered: micros(r.Answered),
		Ended: micros(r.Ended), Updated: micros(r.Updated), SIPCode: r.SIPResponseCode, EndReason: r.EndReason})
	if err != nil || len(b) > maxReplyLen {
		return ""
	}
	return string(b)
}

// decodeReply reads a reply written by the owner; ok false when it is empty or fails the checks.
func decodeReply(s string) (CallRow, bool) {
	if s == "" || len(s) > maxReplyLen {
		return CallRow{}, false
	}
	var j callRowJSON
	dec := json.NewDecoder(strings.NewReader(s))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&j); err != nil {
		return CallRow{}, false
	}
	for _, us := range []int64{j.Created, j.Answered, j.Ended, j.Updated} {
		if us < 0 || us > maxCallMicros {
			return CallRow{}, false
		}
	}
	r := CallRow{Sid: j.Sid, AccountID: j.AccountID, SIPCallID: j.SIPCallID, Node: j.Node, Direction: j.Direction, Status: j.Status,
		From: j.From, To: j.To, Created: fromMicros(j.Created), Answered: fromMicros(j.Answered), Ended: fromMicros(j.Ended),
		Updated: fromMicros(j.Updated), SIPResponseCode: j.SIPCode, EndReason: j.EndReason}
	return r, validCallRow(r) == ""
}

// Forward hands u to the node holding the account's call sid and waits, until ctx ends, for its
// answer: the call's record, or a *ForwardError with the owner's outcome, ErrOwnerTimeout when it did
// not answer in time, ErrCallsUnavailable when the store failed.
func (c *CallStore) Forward(ctx context.Context, u CallUpdateRequest) (CallRow, error) {
	var owner, node string
	var ended int64
	err := c.db.QueryRowContext(ctx, `SELECT boot, node, ended_us FROM pivot_calls WHERE account_id = $1 AND sid = $2`,
		u.AccountID, u.Sid).Scan(&owner, &node, &ended)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return CallRow{}, &ForwardError{Outcome: ForwardNotFound, Detail: "no such call", Node: c.cfg.Node}
	case err != nil:
		return CallRow{}, fmt.Errorf("%w: %v", ErrCallsUnavailable, err)
	case ended != 0:
		return CallRow{}, &ForwardError{Outcome: ForwardNotLive, Detail: "the call is over", Node: c.cfg.Node}
	case owner == c.boot:
		// Ours by the table, yet not in this node's registry (which the caller asked first): it ended
		// here and its last state is still queued.
		return CallRow{}, &ForwardError{Outcome: ForwardNotLive, Detail: "the call is over", Node: c.cfg.Node}
	case !validBoot(owner):
		return CallRow{}, fmt.Errorf("%w: the call's row names boot %.40q", ErrCallsUnavailable, owner)
	}
	id, wake, err := c.post(ctx, owner, u)
	if err != nil {
		return CallRow{}, err
	}
	defer func() {
		c.waitMu.Lock()
		delete(c.waiters, id)
		c.waitMu.Unlock()
	}()
	tick := time.NewTicker(pollEvery)
	defer tick.Stop()
	for {
		select {
		case <-wake:
		case <-tick.C:
		case <-ctx.Done():
			return c.giveUp(id, node)
		}
		row, done, err := c.answer(ctx, id)
		if done || (err != nil && ctx.Err() == nil) {
			return row, err
		}
	}
}

// post writes the update for owner and NOTIFYs it, in one transaction; wake is closed when the
// owner's reply notification arrives.
func (c *CallStore) post(ctx context.Context, owner string, u CallUpdateRequest) (int64, chan struct{}, error) {
	tx, err := c.db.BeginTx(ctx, nil)
	if err != nil {
		return 0, nil, fmt.Errorf("%w: %v", ErrCallsUnavailable, err)
	}
	defer tx.Rollback() //nolint:errcheck // a no-op after Commit
	var id int64
	if err := tx.QueryRowContext(ctx, `INSERT INTO pivot_call_updates (boot, reply_to, account_id, sid, url, method, twiml, flow, status, action)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) RETURNING id`,
		owner, c.boot, StoredText(u.AccountID), u.Sid, StoredText(u.URL), StoredText(u.Method), StoredText(u.TwiML), StoredText(u.Flow),
		StoredText(u.Status), StoredText(u.Action)).Scan(&id); err != nil {
		return 0, nil, fmt.Errorf("%w: %v", ErrCallsUnavailable, err)
	}
	if _, err := tx.ExecContext(ctx, `SELECT pg_notify($1, $2)`, notifyChannel(owner), "u:"+strconv.FormatInt(id, 10)); err != nil {
		return 0, nil, fmt.Errorf("%w: %v", ErrCallsUnavailable, err)
	}
	// Registered before the commit, which is when the owner can first see the row.
	wake := make(chan struct{})
	c.waitMu.Lock()
	c.waiters[id] = wake
	c.waitMu.Unlock()
	if err := tx.Commit(); err != nil {
		c.waitMu.Lock()
		delete(c.waiters, id)
		c.waitMu.Unlock()
		return 0, nil, fmt.Errorf("%w: %v", ErrCallsUnavailable, err)
	}
	return id, wake, nil
}

// answer reads the update's row: done once the owner has answered.
func (c *CallStore) answer(ctx context.Context, id int64) (CallRow, bool, error) {
	var state, outcome, detail, reply, node string
	err := c.db.QueryRowContext(ctx, `SELECT u.state, u.outcome, u.detail, u.reply, COALESCE(n.node, '')
		FROM pivot_call_updates u LEFT JOIN pivot_nodes n ON n.boot = u.boot WHERE u.id = $1`, id).
		Scan(&state, &outcome, &detail, &reply, &node)
	if err != nil {
		return CallRow{}, false, fmt.Errorf("%w: %v", ErrCallsUnavailable, err)
	}
	if state != "done" {
		return CallRow{}, false, nil
	}
	row, ok := decodeReply(reply)
	switch outcome {
	case ForwardApplied:
		if !ok {
			return CallRow{}, true, fmt.Errorf("%w: node %.64q applied the update but its reply is not a call", ErrCallsUnavailable, node)
		}
		return row, true, nil
	case ForwardNotFound, ForwardNotLive, ForwardNotRinging, ForwardRefused:
		return row, true, &ForwardError{Outcome: outcome, Detail: cut(detail, maxForwardedDetail), Node: node}
	}
	return CallRow{}, true, fmt.Errorf("%w: node %.64q answered %.32q", ErrCallsUnavailable, node, outcome)
}

// giveUp marks the update expired if the owner has not taken it yet. One it took is past recall: a
// late answer may still come in a moment, else the owner is acting on it and the caller is told so.
func (c *CallStore) giveUp(id int64, node string) (CallRow, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	res, err := c.db.ExecContext(ctx, `UPDATE pivot_call_updates SET state = 'expired' WHERE id = $1 AND state = 'pending'`, id)
	if err != nil {
		return CallRow{}, fmt.Errorf("%w: node %.64q did not answer, and the update could not be withdrawn: %v", ErrOwnerTimeout, node, err)
	}
	if n, _ := res.RowsAffected(); n == 1 {
		return CallRow{}, fmt.Errorf("%w: node %.64q did not take the update; it was withdrawn", ErrOwnerTimeout, node)
	}
	if row, done, err := c.answer(ctx, id); done {
		return row, err
	}
	return CallRow{}, fmt.Errorf("%w: node %.64q took the update but did not confirm it in time", ErrOwnerTimeout, node)
}

// listenLoop keeps a connection LISTENing on this boot's channel until ctx ends.
func (c *CallStore) listenLoop(ctx context.Context) {
	for ctx.Err() == nil {
		err := c.listen(ctx)
		if ctx.Err() != nil {
			return
		}
		c.log.Warn("shared table of calls: listening connection lost, reconnecting", "err", err)
		select {
		case <-ctx.Done():
		case <-time.After(listenRetry):
		}
	}
}

// listen holds one of the pool's connections for LISTEN until it fails or ctx ends. The connection is
// never handed back to the pool (a LISTENing session would go on queueing notifications).
func (c *CallStore) listen(ctx context.Context) error {
	conn, err := c.db.Conn(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	return conn.Raw(func(dc any) error {
		sc, ok := dc.(*stdlib.Conn)
		if !ok {
			return fmt.Errorf("%w: not a pgx connection", driver.ErrBadConn)
		}
		pc := sc.Conn()
		channel := notifyChannel(c.boot)
		if _, err := pc.Exec(ctx, "LISTEN "+pgx.Identifier{channel}.Sanitize()); err != nil {
			return fmt.Errorf("%w: %w", driver.ErrBadConn, err)
		}
		go c.handlePending(ctx) // anything NOTIFYd while no connection listened
		for {
			n, err := pc.WaitForNotification(ctx)
			if err != nil {
				return fmt.Errorf("%w: %w", driver.ErrBadConn, err)
			}
			c.notified(ctx, channel, n)
		}
	})
}

// notified acts on one notification: a reply wakes its waiter, an update is handled (at most
// maxHandling at once; the rest wait for the next heartbeat's look).
func (c *CallStore) notified(ctx context.Context, channel string, n *pgconn.Notification) {
	kind, id, ok := parsePayload(n.Payload)
	if n.Channel != channel || !ok {
		c.log.Warn("shared table of calls: notification dropped", "channel", cut(n.Channel, 64), "payload", cut(n.Payload, 40))
		return
	}
	if kind == 'r' {
		c.waitMu.Lock()
		if w := c.waiters[id]; w != nil {
			close(w)
			delete(c.waiters, id)
		}
		c.waitMu.Unlock()
		return
	}
	select {
	case c.handling <- struct{}{}:
		go func() {
			defer func() { <-c.handling }()
			c.handle(ctx, id)
		}()
	default:
		c.log.Warn("shared table of calls: too many forwarded updates at once; this one waits for the next heartbeat", "id", id)
	}
}

// parsePayload reads "u:<id>" or "r:<id>".
func parsePayload(p string) (kind byte, id int64, ok bool) {
	if len(p) < 3 || len(p) > maxPayloadLen || (p[0] != 'u' && p[0] != 'r') || p[1] != ':' {
		return 0, 0, false
	}
	for i := 2; i < len(p); i++ {
		if p[i] < '0' || p[i] > '9' {
			return 0, 0, false
		}
	}
	id, err := strconv.ParseInt(p[2:], 10, 64)
	if err != nil || id <= 0 {
		return 0, 0, false
	}
	return p[0], id, true
}

// handlePending handles this boot's updates still pending (their NOTIFY was missed or dropped).
func (c *CallStore) handlePending(ctx context.Context) {
	rows, err := c.db.QueryContext(ctx, `SELECT id FROM pivot_call_updates WHERE boot = $1 AND state = 'pending' ORDER BY id LIMIT 100`, c.boot)
	if err != nil {
		return
	}
	var ids []int64
	for rows.Next() {
		var id int64
		if rows.Scan(&id) == nil {
			ids = append(ids, id)
		}
	}
	rows.Close()
	for _, id := range ids {
		c.handle(ctx, id)
	}
}

// handle claims update id for this boot, applies it through the handler and answers the requester.
func (c *CallStore) handle(ctx context.Context, id int64) {
	var u CallUpdateRequest
	var replyTo string
	err := c.db.QueryRowContext(ctx, `UPDATE pivot_call_updates SET state = 'taken' WHERE id = $1 AND boot = $2 AND state = 'pending'
		RETURNING reply_to, account_id, sid, url, method, twiml, flow, status, action`, id, c.boot).
		Scan(&replyTo, &u.AccountID, &u.Sid, &u.URL, &u.Method, &u.TwiML, &u.Flow, &u.Status, &u.Action)
	if errors.Is(err, sql.ErrNoRows) {
		return // another look took it, or the requester withdrew it
	}
	if err != nil {
		c.log.Warn("shared table of calls: a forwarded update could not be claimed", "id", id, "err", err)
		return
	}
	row, outcome, detail := c.apply(u, replyTo)
	tx, err := c.db.BeginTx(ctx, nil)
	if err == nil {
		defer tx.Rollback() //nolint:errcheck // a no-op after Commit
		_, err = tx.ExecContext(ctx, `UPDATE pivot_call_updates SET state = 'done', outcome = $2, detail = $3, reply = $4 WHERE id = $1`,
			id, outcome, cut(StoredText(detail), maxForwardedDetail), encodeReply(row))
	}
	if err == nil && validBoot(replyTo) {
		_, err = tx.ExecContext(ctx, `SELECT pg_notify($1, $2)`, notifyChannel(replyTo), "r:"+strconv.FormatInt(id, 10))
	}
	if err == nil {
		err = tx.Commit()
	}
	if err != nil {
		c.log.Warn("shared table of calls: a forwarded update's answer was not written", "id", id, "outcome", outcome, "err", err)
	}
}

// apply bounds a claimed update's values and hands it to the handler.
func (c *CallStore) apply(u CallUpdateRequest, replyTo string) (CallRow, string, string) {
	switch {
	case !validBoot(replyTo):
		return CallRow{}, ForwardRefused, "reply_to is not a boot id"
	case !validCallSid(u.Sid):
		return CallRow{}, ForwardRefused, "sid is not CA and 32 hex digits"
	case u.AccountID == "" || len(u.AccountID) > maxCallAccountLen || !printableASCII(u.AccountID):
		return CallRow{}, ForwardRefused, "account_id is not 1-64 printable characters"
	case len(u.URL) > maxForwardedURLLen || len(u.TwiML) > maxForwardedTwiMLLen || len(u.Flow) > maxForwardedTwiMLLen ||
		len(u.Method) > 8 || len(u.Status) > 16 || len(u.Action) > 16:
		return CallRow{}, ForwardRefused, "a value is over its bound"
	case !utf8.ValidString(u.URL) || !utf8.ValidString(u.TwiML) || !utf8.ValidString(u.Flow) || !printableASCII(u.Action):
		return CallRow{}, ForwardRefused, "a value is not UTF-8"
	case c.handler == nil:
		return CallRow{}, ForwardNotFound, "this node takes no forwarded updates"
	}
	row, outcome, detail := c.handler(u)
	switch outcome {
	case ForwardApplied, ForwardNotFound, ForwardNotLive, ForwardNotRinging, ForwardRefused:
	default:
		outcome, detail = ForwardRefused, "the handler gave no outcome"
	}
	return row, outcome, detail
}
