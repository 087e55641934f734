package debugapi

import (
	"context"
	"fmt"
	"time"
)

// Heartbeats and the fate of a dead node's calls. Every boot updates its row of pivot_nodes each
// heartbeat, on the database's clock (now()), so the nodes' own clocks never decide who is dead.
// A live call whose boot has no beat within dead_after cannot be live any more (the process that held
// its media is gone); the first live node that looks (its heartbeat, or a fetch, list or update of
// any account) ends it in one UPDATE whose WHERE holds only while the call is still live, so under
// PostgreSQL's row locks exactly one node rewrites each such call, once.

// purgeEvery is how often a node deletes ended calls past keep, old forwarded updates and the rows of
// boots long gone.
const purgeEvery = time.Minute

// forwardedKeep is how long a forwarded update's row is kept (for a look at what happened).
const forwardedKeep = 10 * time.Minute

// heartbeatLoop beats every Heartbeat until ctx ends, ending the calls of dead boots, handling the
// forwarded updates whose NOTIFY was missed, and purging now and then.
func (c *CallStore) heartbeatLoop(ctx context.Context) {
	t := time.NewTicker(c.cfg.Heartbeat)
	defer t.Stop()
	lastPurge := time.Now()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if err := c.beat(ctx); err != nil {
			if ctx.Err() == nil {
				c.log.Warn("shared table of calls: heartbeat failed", "err", err)
			}
			continue
		}
		if _, err := c.reapDead(ctx); err != nil && ctx.Err() == nil {
			c.log.Warn("shared table of calls: ending dead nodes' calls failed", "err", err)
		}
		c.handlePending(ctx)
		if time.Since(lastPurge) >= purgeEvery {
			lastPurge = time.Now()
			c.purge(ctx)
		}
	}
}

// beat moves this boot's heartbeat to now; a row someone deleted (this boot was taken for dead) is
// written again.
func (c *CallStore) beat(ctx context.Context) error {
	res, err := c.db.ExecContext(ctx, `UPDATE pivot_nodes SET beat_at = now() WHERE boot = $1`, c.boot)
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		_, err = c.db.ExecContext(ctx, `INSERT INTO pivot_nodes (boot, node) VALUES ($1, $2) ON CONFLICT (boot) DO UPDATE SET beat_at = now()`,
			c.boot, cut(StoredText(c.cfg.Node), maxCallNodeLen))
		if err == nil {
			err = c.writeHTTPAddr(ctx) // the new row must lead the other nodes' forwards here again
		}
	}
	return err
}

// reapDeadSQL ends the live calls of every boot without a heartbeat within $1 seconds: failed, or
// completed once answered, ended at the boot's last heartbeat (or now when it has no row at all), with
// the reason. Only a row in a live status is touched: a row a node never wrote (junk) is not turned
// into a well-formed call. The WHERE is evaluated again on a row another transaction just changed, so a call two
// nodes reap at once is rewritten by one of them only.
const reapDeadSQL = `UPDATE pivot_calls AS c SET
	status = CASE WHEN c.answered_us > 0 THEN 'completed' ELSE 'failed' END,
	ended_us = GREATEST(c.updated_us, c.answered_us, COALESCE(
		(SELECT (EXTRACT(EPOCH FROM n.beat_at) * 1000000)::BIGINT FROM pivot_nodes n WHERE n.boot = c.boot), $2)),
	updated_us = $2,
	end_reason = LEFT('node ' || c.node || ' stopped: no heartbeat for ' || $3 || '; ended by ' || $4, 512)
	WHERE c.ended_us = 0 AND c.status IN ('queued', 'ringing', 'in-progress') AND NOT EXISTS (
		SELECT 1 FROM pivot_nodes n WHERE n.boot = c.boot AND n.beat_at > now() - make_interval(secs => $1))
	RETURNING c.sid, c.node`

// reapDead ends the live calls of dead boots (see reapDeadSQL), logs each and says how many it ended.
func (c *CallStore) reapDead(ctx context.Context) (int, error) {
	rows, err := c.db.QueryContext(ctx, reapDeadSQL, c.cfg.DeadAfter.Seconds(), time.Now().UnixMicro(),
		c.cfg.DeadAfter.String(), cut(StoredText(c.cfg.Node), maxCallNodeLen))
	if err != nil {
		return 0, fmt.Errorf("%w: %v", ErrCallsUnavailable, err)
	}
	defer rows.Close()
	n := 0
	for rows.Next() {
		var sid, node string
		if err := rows.Scan(&sid, &node); err != nil {
			return n, fmt.Errorf("%w: %v", ErrCallsUnavailable, err)
		}
		n++
		c.log.Warn("shared table of calls: a dead node's call ended", "call_sid", cut(sid, 40), "node", cut(node, 64))
	}
	if err := rows.Err(); err != nil {
		return n, fmt.Errorf("%w: %v", ErrCallsUnavailable, err)
	}
	return n, nil
}

// purge deletes ended calls past KeepEnded (in bounded batches), forwarded updates past forwardedKeep
// and the rows of boots silent for longer than KeepEnded with no call left.
func (c *CallStore) purge(ctx context.Context) {
	before := time.Now().Add(-c.cfg.KeepEnded).UnixMicro()
	for range 20 {
		res, err := c.db.ExecContext(ctx, `DELETE FROM pivot_calls WHERE sid IN (
			SELECT sid FROM pivot_calls WHERE ended_us > 0 AND ended_us < $1 LIMIT 5000)`, before)
		if err != nil {
			c.log.Warn("shared table of calls: purge failed", "err", err)
			return
		}
		if n, _ := res.RowsAffected(); n < 5000 {
			break
		}
	}
	if _, err := c.db.ExecContext(ctx, `DELETE FROM pivot_call_updates WHERE created_at < now() - make_interval(secs => $1)`,
		forwardedKeep.Seconds()); err != nil {
		c.log.Warn("shared table of calls: purge of forwarded updates failed", "err", err)
	}
	if _, err := c.db.ExecContext(ctx, `DELETE FROM pivot_nodes n WHERE n.beat_at < now() - make_interval(secs => $1)
		AND NOT EXISTS (SELECT 1 FROM pivot_calls c WHERE c.boot = n.boot AND c.ended_us = 0)`,
		max(c.cfg.KeepEnded, c.cfg.DeadAfter).Seconds()); err != nil {
		c.log.Warn("shared table of calls: purge of old nodes failed", "err", err)
	}
}
