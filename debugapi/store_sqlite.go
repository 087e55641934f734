package debugapi

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"modernc.org/sqlite" // also registers the "sqlite" database/sql driver (pure Go)
	sqlite3 "modernc.org/sqlite/lib"
)

// sqliteDialect is the embedded store's schema. created_us is Unix microseconds: the API shows
// seconds, but the order of one call's records and the list's keyset need the finer clock.
var sqliteDialect = &dialect{
	name: "sqlite",
	migrations: []migration{{
		version: 1,
		name:    "pivot debug records and call summaries",
		statements: []string{
			`CREATE TABLE pivot_debug_records (
				seq INTEGER PRIMARY KEY AUTOINCREMENT,
				id TEXT NOT NULL UNIQUE,
				account_id TEXT NOT NULL,
				call_id TEXT NOT NULL,
				iteration INTEGER NOT NULL,
				created_us INTEGER NOT NULL,
				node TEXT NOT NULL,
				kind INTEGER NOT NULL,
				fields TEXT NOT NULL)`,
			`CREATE INDEX pivot_debug_records_call ON pivot_debug_records (account_id, call_id, iteration, created_us)`,
			`CREATE INDEX pivot_debug_records_created ON pivot_debug_records (created_us)`,
			`CREATE TABLE pivot_debug_calls (
				account_id TEXT NOT NULL,
				call_id TEXT NOT NULL,
				created_us INTEGER NOT NULL,
				last_us INTEGER NOT NULL,
				iteration INTEGER NOT NULL,
				node TEXT NOT NULL,
				uri TEXT NOT NULL,
				status_code INTEGER NOT NULL,
				has_json_errors INTEGER NOT NULL,
				has_schema_errors INTEGER NOT NULL,
				PRIMARY KEY (account_id, call_id))`,
			`CREATE INDEX pivot_debug_calls_list ON pivot_debug_calls (account_id, created_us, call_id)`,
			`CREATE INDEX pivot_debug_calls_last ON pivot_debug_calls (last_us)`,
		},
	}, {
		version: 2,
		name:    "has_fetch_errors in call summaries",
		statements: []string{
			`ALTER TABLE pivot_debug_calls ADD COLUMN has_fetch_errors INTEGER NOT NULL DEFAULT 0`,
		},
	}},
	rejects: sqliteRejects,
}

// sqliteRejects: SQLITE_TOOBIG, SQLITE_CONSTRAINT and SQLITE_MISMATCH are about the values; BUSY,
// LOCKED, IOERR, FULL and the rest about the database, and pass.
func sqliteRejects(err error) bool {
	var e *sqlite.Error
	if !errors.As(err, &e) {
		return false
	}
	switch e.Code() & 0xff {
	case sqlite3.SQLITE_TOOBIG, sqlite3.SQLITE_CONSTRAINT, sqlite3.SQLITE_MISMATCH:
		return true
	}
	return false
}

// sqlitePathEscaper keeps a file name intact inside a file: URI.
var sqlitePathEscaper = strings.NewReplacer("%", "%25", "?", "%3f", "#", "%23")

// OpenSQLite opens (creating it and its folder when missing) the SQLite database at path, in WAL mode
// so the API reads while the recorder writes, and brings its schema up to date.
func OpenSQLite(ctx context.Context, path string) (*SQLStore, error) {
	if path == "" {
		return nil, fmt.Errorf("%w: sqlite needs a file path", ErrBadDSN)
	}
	if dir := filepath.Dir(path); dir != "" {
		if err := os.MkdirAll(dir, 0o750); err != nil {
			return nil, fmt.Errorf("debug store: %w", err)
		}
	}
	// busy_timeout: a second connection (or process) waits for the write lock instead of failing;
	// _txlock=immediate takes that lock at BEGIN, so a transaction never fails half-way on it.
	dsn := "file:" + sqlitePathEscaper.Replace(path) + "?_pragma=busy_timeout(" +
		fmt.Sprint(sqliteBusyTimeout.Milliseconds()) + ")&_pragma=synchronous(NORMAL)&_txlock=immediate"
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, fmt.Errorf("debug store: sqlite %s: %w", path, err)
	}
	db.SetMaxOpenConns(4)
	db.SetMaxIdleConns(4)
	if err := enableWAL(ctx, db); err != nil {
		db.Close()
		return nil, fmt.Errorf("debug store: sqlite %s: %w", path, err)
	}
	return openSQL(ctx, db, sqliteDialect)
}

// sqliteBusyTimeout is how long a connection waits for another one's lock.
const sqliteBusyTimeout = 10 * time.Second

// enableWAL puts the database in WAL mode, which the file then keeps for every later connection.
// Switching a new database to WAL upgrades a read lock to a write lock, and SQLite does not wait on
// that upgrade (waiting could deadlock two connections doing the same): when several processes or
// connections open a new file at once, the losers get SQLITE_BUSY at once, busy_timeout or not. So the
// switch is retried here, for as long as busy_timeout would have waited.
func enableWAL(ctx context.Context, db *sql.DB) error {
	deadline := time.Now().Add(sqliteBusyTimeout)
	for pause := time.Millisecond; ; pause = min(2*pause, 50*time.Millisecond) {
		// A file system without WAL support leaves the mode as it was, as the DSN pragma did.
		var mode string
		err := db.QueryRowContext(ctx, `PRAGMA journal_mode=WAL`).Scan(&mode)
		if err == nil || !isSQLiteBusy(err) || time.Now().After(deadline) {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(pause):
		}
	}
}

func isSQLiteBusy(err error) bool {
	var e *sqlite.Error
	return errors.As(err, &e) && e.Code()&0xff == sqlite3.SQLITE_BUSY
}
