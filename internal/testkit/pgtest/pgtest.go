// Package pgtest gives tests a real PostgreSQL server: PIVOTUA_TEST_POSTGRES_DSN when set, otherwise a
// throwaway cluster started once per test binary (initdb + pg_ctl from the Debian postgresql package, on
// 127.0.0.1 and a free port, in a temp dir) that the binary's TestMain stops with Stop. Each DSN call
// gets its own schema. It imports none of pivotua's packages, so any package's tests may use it.
package pgtest

import (
	"context"
	"database/sql"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // the "pgx" database/sql driver, for test setup
)

// DSNEnv names the variable that points the tests at an existing server instead.
const DSNEnv = "PIVOTUA_TEST_POSTGRES_DSN"

var testPostgres struct {
	once    sync.Once
	dsn     string // admin connection to the cluster's database
	skip    string // why there is no server, when there is none
	err     error
	pgCtl   []string // command prefix to run pg_ctl as the cluster's owner
	dataDir string
	tmpDir  string
	schemas atomic.Int64
}

// DSN returns the DSN of a fresh, empty schema on the test server, dropped when t ends. Without a
// server it skips t, or fails it when CI=true (make deps installs postgresql).
func DSN(t *testing.T) string {
	t.Helper()
	testPostgres.once.Do(startTestPostgres)
	if testPostgres.err != nil {
		t.Fatalf("postgres: %v", testPostgres.err)
	}
	if testPostgres.skip != "" {
		if os.Getenv("CI") == "true" {
			t.Fatalf("postgres: %s (CI=true: tests that need PostgreSQL must run; make deps installs postgresql)", testPostgres.skip)
		}
		t.Skip("postgres: " + testPostgres.skip + "; set " + DSNEnv + " or install postgresql")
	}
	schema := fmt.Sprintf("pivotua_test_%d_%d", os.Getpid(), testPostgres.schemas.Add(1))
	admin, err := sql.Open("pgx", testPostgres.dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := admin.ExecContext(ctx, "CREATE SCHEMA "+schema); err != nil {
		t.Fatalf("postgres: create schema: %v", err)
	}
	t.Cleanup(func() {
		db, err := sql.Open("pgx", testPostgres.dsn)
		if err != nil {
			return
		}
		defer db.Close()
		_, _ = db.Exec("DROP SCHEMA " + schema + " CASCADE")
	})
	return withSearchPath(testPostgres.dsn, schema)
}

// withSearchPath points a DSN (URL or keyword form) at one schema.
func withSearchPath(dsn, schema string) string {
	if strings.Contains(dsn, "://") {
		sep := "?"
		if strings.Contains(dsn, "?") {
			sep = "&"
		}
		return dsn + sep + "search_path=" + schema
	}
	return dsn + " search_path=" + schema
}

func startTestPostgres() {
	if dsn := os.Getenv(DSNEnv); dsn != "" {
		testPostgres.dsn = dsn
		return
	}
	bins, _ := filepath.Glob("/usr/lib/postgresql/*/bin/initdb")
	if len(bins) == 0 {
		testPostgres.skip = "no /usr/lib/postgresql/*/bin/initdb"
		return
	}
	sort.Slice(bins, func(i, j int) bool { return pgMajor(bins[i]) < pgMajor(bins[j]) })
	binDir := filepath.Dir(bins[len(bins)-1])

	// initdb refuses to run as root: as root, the cluster belongs to the postgres OS user.
	var runAs []string
	if os.Geteuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			testPostgres.skip = "running as root and there is no postgres OS user"
			return
		}
		runAs = []string{"runuser", "-u", "postgres", "--"}
		// /tmp, not $TMPDIR: the postgres user must be able to reach the folder.
		tmp, err := os.MkdirTemp("/tmp", "pivotua-pg-")
		if err != nil {
			testPostgres.err = err
			return
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		if err := os.Chown(tmp, uid, gid); err != nil {
			testPostgres.err = err
			return
		}
		testPostgres.tmpDir = tmp
	} else {
		tmp, err := os.MkdirTemp("", "pivotua-pg-")
		if err != nil {
			testPostgres.err = err
			return
		}
		testPostgres.tmpDir = tmp
	}
	dataDir := filepath.Join(testPostgres.tmpDir, "data")
	run := func(name string, args ...string) error {
		full := append(append(append([]string{}, runAs...), filepath.Join(binDir, name)), args...)
		c := exec.Command(full[0], full[1:]...)
		out, err := c.CombinedOutput()
		if err != nil {
			return fmt.Errorf("%s: %v: %s", name, err, strings.TrimSpace(string(out)))
		}
		return nil
	}
	if err := run("initdb", "-D", dataDir, "-U", "postgres", "-A", "trust", "-E", "UTF8", "--no-sync"); err != nil {
		testPostgres.err = err
		return
	}
	testPostgres.pgCtl = append(append([]string{}, runAs...), filepath.Join(binDir, "pg_ctl"))
	testPostgres.dataDir = dataDir
	var lastErr error
	for attempt := 0; attempt < 3; attempt++ {
		port, err := freeTCPPort()
		if err != nil {
			lastErr = err
			continue
		}
		opts := fmt.Sprintf("-h 127.0.0.1 -p %d -k %s -F -c fsync=off -c full_page_writes=off "+
			"-c synchronous_commit=off -c max_connections=40 -c shared_buffers=16MB", port, testPostgres.tmpDir)
		lastErr = run("pg_ctl", "-D", dataDir, "-l", filepath.Join(testPostgres.tmpDir, "postgres.log"),
			"-w", "-t", "60", "-o", opts, "start")
		if lastErr == nil {
			testPostgres.dsn = fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable", port)
			return
		}
	}
	testPostgres.err = fmt.Errorf("starting the test cluster: %v", lastErr)
}

func pgMajor(initdb string) int {
	n, _ := strconv.Atoi(filepath.Base(filepath.Dir(filepath.Dir(initdb))))
	return n
}

func freeTCPPort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// Stop stops the cluster DSN started, if any, and removes its files. Call it from TestMain after m.Run.
func Stop() {
	if testPostgres.dataDir != "" {
		args := append(append([]string{}, testPostgres.pgCtl...), "-D", testPostgres.dataDir, "-m", "immediate", "-w", "stop")
		_ = exec.Command(args[0], args[1:]...).Run()
	}
	if testPostgres.tmpDir != "" {
		_ = os.RemoveAll(testPostgres.tmpDir)
	}
}
