package debugapi

import (
	"context"
	"database/sql"
	"fmt"
	"time"
)

// migration is one numbered step of a dialect's schema. Steps are applied in order, each in its own
// transaction, and recorded in schema_migrations; a step already recorded is never run again. A
// released step is never edited: a change is a new step.
type migration struct {
	version    int
	name       string
	statements []string
}

// dialect is what differs between the SQL databases: the DDL, and how concurrent starters (several
// nodes on one PostgreSQL) are kept from migrating at the same time.
type dialect struct {
	name       string
	migrations []migration
	// lock runs first in every migration transaction and holds until it ends.
	lock func(ctx context.Context, tx *sql.Tx) error
	// rejects says whether a statement's error is the database refusing the values it was given, not
	// the database failing: such a record is set aside rather than retried.
	rejects func(err error) bool
}

const createMigrationsTable = `CREATE TABLE IF NOT EXISTS schema_migrations (
	version INTEGER PRIMARY KEY,
	name TEXT NOT NULL,
	applied_at BIGINT NOT NULL)`

// migrate brings the schema up to the dialect's newest migration. Safe to run at every start, and by
// several nodes at once.
func (s *SQLStore) migrate(ctx context.Context) error {
	return s.migrateSteps(ctx, s.dialect.migrations)
}

// migrateSteps applies steps not yet recorded, in order (also the steps of a feature with tables of
// its own, such as the shared table of calls, numbered apart).
func (s *SQLStore) migrateSteps(ctx context.Context, steps []migration) error {
	if err := s.inMigrationTx(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, createMigrationsTable)
		return err
	}); err != nil {
		return fmt.Errorf("%w: schema_migrations: %v", ErrMigration, err)
	}
	for _, m := range steps {
		err := s.inMigrationTx(ctx, func(tx *sql.Tx) error {
			var n int
			if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM schema_migrations WHERE version = $1`, m.version).Scan(&n); err != nil {
				return err
			}
			if n > 0 {
				return nil
			}
			for _, stmt := range m.statements {
				if _, err := tx.ExecContext(ctx, stmt); err != nil {
					return err
				}
			}
			_, err := tx.ExecContext(ctx, `INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, $3)`,
				m.version, m.name, time.Now().Unix())
			return err
		})
		if err != nil {
			return fmt.Errorf("%w: %s %d (%s): %v", ErrMigration, s.dialect.name, m.version, m.name, err)
		}
	}
	return nil
}

func (s *SQLStore) inMigrationTx(ctx context.Context, fn func(*sql.Tx) error) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback() //nolint:errcheck // a no-op after Commit
	if s.dialect.lock != nil {
		if err := s.dialect.lock(ctx, tx); err != nil {
			return err
		}
	}
	if err := fn(tx); err != nil {
		return err
	}
	return tx.Commit()
}
