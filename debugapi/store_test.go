package debugapi

import (
	"context"
	"errors"
	"path/filepath"
	"testing"

	"github.com/pivotua/pivotua/internal/testkit/pgtest"
)

func TestStoreSQLite(t *testing.T) {
	runStoreSuite(t, storeBackend{
		newDSN: func(t *testing.T) string { return filepath.Join(t.TempDir(), "sub dir", "debug?#%.db") },
		open:   OpenSQLite,
	})
}

func TestStorePostgres(t *testing.T) {
	pgtest.DSN(t) // skips or fails here, before any subtest, when there is no server
	runStoreSuite(t, storeBackend{newDSN: pgtest.DSN, open: OpenPostgres})
}

func TestStoreOpenRefusesUnknownDriver(t *testing.T) {
	if _, err := Open(context.Background(), "mysql", "x"); !errors.Is(err, ErrUnknownDriver) {
		t.Fatalf("err = %v, want ErrUnknownDriver", err)
	}
	if _, err := Open(context.Background(), "postgres", "postgres://%zz"); !errors.Is(err, ErrBadDSN) {
		t.Fatalf("err = %v, want ErrBadDSN", err)
	}
}

func TestStoreSQLiteUsesWAL(t *testing.T) {
	s := openSQLiteTest(t)
	var mode string
	if err := s.db.QueryRow(`PRAGMA journal_mode`).Scan(&mode); err != nil || mode != "wal" {
		t.Fatalf("journal_mode = %q, %v", mode, err)
	}
}
