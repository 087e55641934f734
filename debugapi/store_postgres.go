package debugapi

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/stdlib"
)

// migrationLockKey is the PostgreSQL advisory lock that serializes nodes migrating one database.
const migrationLockKey = 0x7069766f74 // "pivot"

// postgresDialect is the shared store's schema. call_id sorts bytewise (COLLATE "C"), as in SQLite,
// whatever the database's locale.
var postgresDialect = &dialect{
	name: "postgres",
	migrations: []migration{{
		version: 1,
		name:    "pivot debug records and call summaries",
		statements: []string{
			`CREATE TABLE pivot_debug_records (
				seq BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
				id TEXT NOT NULL UNIQUE,
				account_id TEXT NOT NULL,
				call_id TEXT COLLATE "C" NOT NULL,
				iteration INTEGER NOT NULL,
				created_us BIGINT NOT NULL,
				node TEXT NOT NULL,
				kind INTEGER NOT NULL,
				fields TEXT NOT NULL)`,
			`CREATE INDEX pivot_debug_records_call ON pivot_debug_records (account_id, call_id, iteration, created_us)`,
			`CREATE INDEX pivot_debug_records_created ON pivot_debug_records (created_us)`,
			`CREATE TABLE pivot_debug_calls (
				account_id TEXT NOT NULL,
				call_id TEXT COLLATE "C" NOT NULL,
				created_us BIGINT NOT NULL,
				last_us BIGINT NOT NULL,
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
	lock: func(ctx context.Context, tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock($1)`, int64(migrationLockKey))
		return err
	},
	rejects: postgresRejects,
}

// postgresRejects: SQLSTATE classes 22 (data exception: a value out of range, a byte sequence that is
// not UTF-8), 23 (integrity constraint violation) and 54 (program limit exceeded: an index entry too
// big) are about the values; the rest (08 connection, 53 resources, 57 shutdown, 40 rollback...) about
// the server, and pass.
func postgresRejects(err error) bool {
	var pe *pgconn.PgError
	if !errors.As(err, &pe) || len(pe.Code) != 5 {
		return false
	}
	switch pe.Code[:2] {
	case "22", "23", "54":
		return true
	}
	return false
}

// OpenPostgres connects to PostgreSQL (dsn: postgres://user:pass@host:5432/db?sslmode=...) through
// pgx, and brings the schema up to date.
func OpenPostgres(ctx context.Context, dsn string) (*SQLStore, error) {
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadDSN, err)
	}
	if cfg.ConnectTimeout == 0 {
		cfg.ConnectTimeout = 10 * time.Second
	}
	db := stdlib.OpenDB(*cfg)
	db.SetMaxOpenConns(8)
	db.SetMaxIdleConns(4)
	db.SetConnMaxIdleTime(5 * time.Minute)
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("debug store: postgres: %w", err)
	}
	return openSQL(ctx, db, postgresDialect)
}
