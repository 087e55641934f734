package debugapi

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// SQLStore is the Store on a SQL database: embedded SQLite (OpenSQLite) or PostgreSQL (OpenPostgres).
// Both dialects share every query ($N placeholders, ON CONFLICT upserts); only the migrations differ.
//
// Two tables: pivot_debug_records holds one row per document; pivot_debug_calls holds one summary row
// per call, kept up to date by Append, so that the list is an indexed keyset scan however many records
// a call has.
type SQLStore struct {
	db      *sql.DB
	dialect *dialect
}

var _ Store = (*SQLStore)(nil)

// purgeBatch bounds one DELETE, so a purge after a long pause never holds the write lock for long.
const purgeBatch = 5000

// Open opens the store a config names: driver "sqlite" (dsn = a file path) or "postgres"
// (dsn = postgres://user:pass@host:5432/db), and brings its schema up to date.
func Open(ctx context.Context, driver, dsn string) (*SQLStore, error) {
	switch driver {
	case "sqlite":
		return OpenSQLite(ctx, dsn)
	case "postgres":
		return OpenPostgres(ctx, dsn)
	}
	return nil, fmt.Errorf("%w: %q", ErrUnknownDriver, driver)
}

func openSQL(ctx context.Context, db *sql.DB, d *dialect) (*SQLStore, error) {
	s := &SQLStore{db: db, dialect: d}
	if err := s.migrate(ctx); err != nil {
		db.Close()
		return nil, err
	}
	return s, nil
}

// Close closes the database.
func (s *SQLStore) Close() error { return s.db.Close() }

// storedFields is the kind-specific part of a record, kept as JSON in pivot_debug_records.fields.
type storedFields struct {
	Method       string            `json:"method,omitempty"`
	URI          string            `json:"uri,omitempty"`
	ReqHeaders   map[string]string `json:"req_headers,omitempty"`
	ReqBody      string            `json:"req_body,omitempty"`
	FetchError   string            `json:"fetch_error,omitempty"`
	StatusCode   int               `json:"status,omitempty"`
	RespHeaders  map[string]string `json:"resp_headers,omitempty"`
	RespBody     string            `json:"resp_body,omitempty"`
	ElapsedUS    int64             `json:"elapsed_us,omitempty"`
	JSONErrors   *JSONErrors       `json:"json_errors,omitempty"`
	SchemaErrors SchemaErrors      `json:"schema_errors,omitempty"`
	Event        string            `json:"event,omitempty"`
	EventData    map[string]any    `json:"event_data,omitempty"`
}

const insertRecordSQL = `INSERT INTO pivot_debug_records
	(id, account_id, call_id, iteration, created_us, node, kind, fields)
	VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
	ON CONFLICT (id) DO NOTHING`

// upsertCallSQL folds one record into its call's summary. The summary describes the call's lowest
// iteration (Kazoo's first_iteration view): a record of a lower iteration replaces it, one of the same
// iteration fills what is still empty, a later one only moves last_us and may set has_fetch_errors,
// which covers every iteration. Every branch is idempotent, so a
// retried batch leaves the same summary.
const upsertCallSQL = `INSERT INTO pivot_debug_calls AS c
	(account_id, call_id, created_us, last_us, iteration, node, uri, status_code, has_json_errors, has_schema_errors,
	 has_fetch_errors)
	VALUES ($1, $2, $3, $3, $4, $5, $6, $7, $8, $9, $10)
	ON CONFLICT (account_id, call_id) DO UPDATE SET
	created_us = CASE WHEN excluded.created_us < c.created_us THEN excluded.created_us ELSE c.created_us END,
	last_us = CASE WHEN excluded.last_us > c.last_us THEN excluded.last_us ELSE c.last_us END,
	iteration = CASE WHEN excluded.iteration < c.iteration THEN excluded.iteration ELSE c.iteration END,
	node = CASE WHEN excluded.iteration < c.iteration THEN excluded.node ELSE c.node END,
	uri = CASE WHEN excluded.iteration < c.iteration THEN excluded.uri
		WHEN excluded.iteration = c.iteration AND c.uri = '' THEN excluded.uri ELSE c.uri END,
	status_code = CASE WHEN excluded.iteration < c.iteration THEN excluded.status_code
		WHEN excluded.iteration = c.iteration AND c.status_code = 0 THEN excluded.status_code ELSE c.status_code END,
	has_json_errors = CASE WHEN excluded.iteration < c.iteration THEN excluded.has_json_errors
		WHEN excluded.iteration = c.iteration AND excluded.has_json_errors = 1 THEN 1 ELSE c.has_json_errors END,
	has_schema_errors = CASE WHEN excluded.iteration < c.iteration THEN excluded.has_schema_errors
		WHEN excluded.iteration = c.iteration AND excluded.has_schema_errors = 1 THEN 1 ELSE c.has_schema_errors END,
	has_fetch_errors = CASE WHEN excluded.has_fetch_errors = 1 THEN 1 ELSE c.has_fetch_errors END`

// touchCallSQL moves a call's last_us for an event record: events say nothing about the pivot
// requests a summary describes, but they keep the call from being purged while it is still new.
const touchCallSQL = `UPDATE pivot_debug_calls SET last_us = $3
	WHERE account_id = $1 AND call_id = $2 AND last_us < $3`

// Append stores records and folds them into their calls' summaries, in one transaction.
func (s *SQLStore) Append(ctx context.Context, records []Record) error {
	if len(records) == 0 {
		return nil
	}
	for i, r := range records {
		if r.ID == "" || r.AccountID == "" || r.CallID == "" {
			return fmt.Errorf("%w: record %d needs id, account_id and call_id", ErrInvalidRecord, i)
		}
		// INTEGER columns: 32 bits on PostgreSQL, where pgx would refuse the value before sending it.
		if r.Iteration < 0 || r.Iteration > math.MaxInt32 || r.StatusCode < 0 || r.StatusCode > 999 {
			return fmt.Errorf("%w: record %s: iteration %d or status %d out of range", ErrInvalidRecord, r.ID, r.Iteration, r.StatusCode)
		}
	}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("debug store: begin: %w", err)
	}
	defer tx.Rollback() //nolint:errcheck // a no-op after Commit
	insert, err := tx.PrepareContext(ctx, insertRecordSQL)
	if err != nil {
		return fmt.Errorf("debug store: prepare insert: %w", err)
	}
	defer insert.Close()
	upsert, err := tx.PrepareContext(ctx, upsertCallSQL)
	if err != nil {
		return fmt.Errorf("debug store: prepare upsert: %w", err)
	}
	defer upsert.Close()
	touch, err := tx.PrepareContext(ctx, touchCallSQL)
	if err != nil {
		return fmt.Errorf("debug store: prepare touch: %w", err)
	}
	defer touch.Close()
	for _, r := range records {
		// Every text from the wire or a webhook is kept escaped (store_text.go): PostgreSQL refuses a
		// NUL or invalid UTF-8 in TEXT, and the API must serve the call_id it finds the call by.
		r = storedRecord(r)
		fields, err := json.Marshal(storedFields{
			Method: r.Method, URI: r.URI, ReqHeaders: r.ReqHeaders, ReqBody: r.ReqBody, FetchError: r.FetchError,
			StatusCode: r.StatusCode, RespHeaders: r.RespHeaders, RespBody: r.RespBody,
			ElapsedUS: r.Elapsed.Microseconds(), JSONErrors: r.JSONErrors, SchemaErrors: r.SchemaErrors,
			Event: r.Event, EventData: r.EventData,
		})
		if err != nil {
			return fmt.Errorf("%w: record %s: %v", ErrInvalidRecord, r.ID, err)
		}
		created := r.Created.UnixMicro()
		if _, err := insert.ExecContext(ctx, r.ID, r.AccountID, r.CallID, r.Iteration, created, r.Node,
			int(r.Kind), string(fields)); err != nil {
			return s.refused("insert", r, err)
		}
		if r.Kind == KindEvent {
			if _, err := touch.ExecContext(ctx, r.AccountID, r.CallID, created); err != nil {
				return s.refused("touch call", r, err)
			}
			continue
		}
		var status int
		if r.Kind == KindResponse {
			status = r.StatusCode
		}
		fetchFailed := r.FetchError != "" || (r.Kind == KindResponse && (status < 200 || status > 299))
		if _, err := upsert.ExecContext(ctx, r.AccountID, r.CallID, created, r.Iteration, r.Node, r.URI, status,
			boolInt(r.JSONErrors != nil), boolInt(len(r.SchemaErrors) > 0), boolInt(fetchFailed)); err != nil {
			return s.refused("upsert call", r, err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("debug store: commit: %w", err)
	}
	return nil
}

// refused wraps a statement's error: in ErrRecordRejected when the database refused what the record
// holds (retrying cannot help), as it is otherwise (the database is down, busy, out of time).
func (s *SQLStore) refused(op string, r Record, err error) error {
	if s.dialect.rejects != nil && s.dialect.rejects(err) {
		return fmt.Errorf("%w: record %s (call %.80q): %s: %w", ErrRecordRejected, r.ID, r.CallID, op, err)
	}
	return fmt.Errorf("debug store: %s: %w", op, err)
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// ListCalls pages through the account's call summaries by (created, call_id), a key unique per
// account, so calls that share a created second are neither skipped nor repeated.
func (s *SQLStore) ListCalls(ctx context.Context, accountID string, q ListQuery) (Page, error) {
	limit := q.Limit
	if limit <= 0 {
		limit = DefaultPageSize
	}
	if limit > MaxPageSize {
		limit = MaxPageSize
	}
	var b strings.Builder
	args := []any{accountID}
	arg := func(v any) string {
		args = append(args, v)
		return "$" + strconv.Itoa(len(args))
	}
	b.WriteString(`SELECT call_id, created_us, iteration, node, uri, status_code, has_json_errors, has_schema_errors,
		has_fetch_errors FROM pivot_debug_calls WHERE account_id = $1`)
	if !q.From.IsZero() {
		b.WriteString(" AND created_us >= " + arg(q.From.UnixMicro()))
	}
	if !q.To.IsZero() {
		b.WriteString(" AND created_us <= " + arg(q.To.UnixMicro()))
	}
	order, cmp := "DESC", "<"
	if q.Ascending {
		order, cmp = "ASC", ">"
	}
	if q.Start != nil {
		// A start key is the client's: its call id may hold any bytes, compared as the stored keys are.
		c, id := arg(q.Start.Created.UnixMicro()), arg(StoredCallID(q.Start.CallID))
		fmt.Fprintf(&b, " AND (created_us %s %s OR (created_us = %s AND call_id %s= %s))", cmp, c, c, cmp, id)
	}
	fmt.Fprintf(&b, " ORDER BY created_us %s, call_id %s LIMIT %s", order, order, arg(limit+1))

	rows, err := s.db.QueryContext(ctx, b.String(), args...)
	if err != nil {
		return Page{}, fmt.Errorf("debug store: list: %w", err)
	}
	defer rows.Close()
	var page Page
	for rows.Next() {
		var (
			c                       CallSummary
			created                 int64
			hasJSON, hasSc, hasFail int
		)
		if err := rows.Scan(&c.CallID, &created, &c.Iteration, &c.Node, &c.URI, &c.StatusCode, &hasJSON, &hasSc, &hasFail); err != nil {
			return Page{}, fmt.Errorf("debug store: list: %w", err)
		}
		c.Created = time.UnixMicro(created).UTC()
		c.HasJSONErrors, c.HasSchemaErrors, c.HasFetchErrors = hasJSON != 0, hasSc != 0, hasFail != 0
		page.Calls = append(page.Calls, c)
	}
	if err := rows.Err(); err != nil {
		return Page{}, fmt.Errorf("debug store: list: %w", err)
	}
	if len(page.Calls) > limit {
		next := page.Calls[limit].Cursor()
		page.Next = &next
		page.Calls = page.Calls[:limit]
	}
	return page, nil
}

// CallRecords returns the call's records in the order the API lists them. callID may be the Call-ID as
// the caller sent it or its stored key (StoredCallID): both find the call, whose records carry the key.
func (s *SQLStore) CallRecords(ctx context.Context, accountID, callID string) ([]Record, error) {
	callID = StoredCallID(callID)
	rows, err := s.db.QueryContext(ctx, `SELECT id, iteration, created_us, node, kind, fields
		FROM pivot_debug_records WHERE account_id = $1 AND call_id = $2
		ORDER BY iteration, created_us, kind, seq`, accountID, callID)
	if err != nil {
		return nil, fmt.Errorf("debug store: call records: %w", err)
	}
	defer rows.Close()
	var out []Record
	for rows.Next() {
		r := Record{AccountID: accountID, CallID: callID}
		var (
			created int64
			kind    int
			fields  string
			f       storedFields
		)
		if err := rows.Scan(&r.ID, &r.Iteration, &created, &r.Node, &kind, &fields); err != nil {
			return nil, fmt.Errorf("debug store: call records: %w", err)
		}
		if err := json.Unmarshal([]byte(fields), &f); err != nil {
			return nil, fmt.Errorf("debug store: record %s: %w", r.ID, err)
		}
		r.Created, r.Kind = time.UnixMicro(created).UTC(), Kind(kind)
		r.Method, r.URI, r.ReqHeaders, r.ReqBody, r.FetchError = f.Method, f.URI, f.ReqHeaders, f.ReqBody, f.FetchError
		r.StatusCode, r.RespHeaders, r.RespBody = f.StatusCode, f.RespHeaders, f.RespBody
		r.Elapsed = time.Duration(f.ElapsedUS) * time.Microsecond
		r.JSONErrors, r.SchemaErrors = f.JSONErrors, f.SchemaErrors
		r.Event, r.EventData = f.Event, f.EventData
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("debug store: call records: %w", err)
	}
	return out, nil
}

// Purge deletes records created before olderThan, and the summaries of calls with no newer record, in
// batches of purgeBatch rows.
func (s *SQLStore) Purge(ctx context.Context, olderThan time.Time) (int64, error) {
	cutoff := olderThan.UnixMicro()
	var total int64
	for {
		n, err := s.execCount(ctx, `DELETE FROM pivot_debug_records WHERE seq IN
			(SELECT seq FROM pivot_debug_records WHERE created_us < $1 LIMIT $2)`, cutoff, purgeBatch)
		if err != nil {
			return total, fmt.Errorf("debug store: purge records: %w", err)
		}
		total += n
		if n < purgeBatch {
			break
		}
	}
	for {
		n, err := s.execCount(ctx, `DELETE FROM pivot_debug_calls WHERE (account_id, call_id) IN
			(SELECT account_id, call_id FROM pivot_debug_calls WHERE last_us < $1 LIMIT $2)`, cutoff, purgeBatch)
		if err != nil {
			return total, fmt.Errorf("debug store: purge calls: %w", err)
		}
		if n < purgeBatch {
			return total, nil
		}
	}
}

func (s *SQLStore) execCount(ctx context.Context, query string, args ...any) (int64, error) {
	res, err := s.db.ExecContext(ctx, query, args...)
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}

// SchemaVersion is the highest migration applied to the database.
func (s *SQLStore) SchemaVersion(ctx context.Context) (int, error) {
	var v sql.NullInt64
	if err := s.db.QueryRowContext(ctx, `SELECT MAX(version) FROM schema_migrations`).Scan(&v); err != nil {
		return 0, fmt.Errorf("debug store: schema version: %w", err)
	}
	return int(v.Int64), nil
}
