package debugapi

import (
	"context"
	"time"
)

// Store keeps pivot debug records. Implementations are safe for concurrent use; Append is idempotent
// by Record.ID, so a batch that is retried after an ambiguous failure is not stored twice.
type Store interface {
	// Append stores records, all or none. Records need an ID.
	Append(ctx context.Context, records []Record) error
	// ListCalls returns one summary per call of the account, in the order and range q asks for.
	ListCalls(ctx context.Context, accountID string, q ListQuery) (Page, error)
	// CallRecords returns every record of one call, ordered by iteration, then time, then kind
	// (request, response, error). A call the account does not have gives no records and no error.
	CallRecords(ctx context.Context, accountID, callID string) ([]Record, error)
	// Purge deletes records created before olderThan and reports how many went.
	Purge(ctx context.Context, olderThan time.Time) (int64, error)
	Close() error
}

// ListQuery selects a page of call summaries.
type ListQuery struct {
	Limit     int       // rows per page; 1..MaxPageSize (0 = DefaultPageSize)
	Start     *Cursor   // the first row to return; nil = the beginning
	From, To  time.Time // created range, both ends inclusive; zero = open
	Ascending bool      // oldest first; the default is newest first, as Kazoo
}

// Cursor is a position in the list order: (created, call_id), unique per account.
type Cursor struct {
	Created time.Time // to the microsecond
	CallID  string
}

// Page is one page of call summaries; Next is the first row of the next page, nil on the last.
type Page struct {
	Calls []CallSummary
	Next  *Cursor
}

// CallSummary is a call's row in the list: what its first iteration shows (Kazoo's first_iteration view).
type CallSummary struct {
	CallID          string
	Created         time.Time // the call's first record, to the microsecond
	Iteration       int       // the lowest iteration stored for the call (1 unless debug was off)
	Node            string
	URI             string
	StatusCode      int // of the first iteration's response; 0 = none
	HasJSONErrors   bool
	HasSchemaErrors bool
	// HasFetchErrors: a pivot request of any iteration got no answer (refused, timed out, cut) or a
	// status other than 2xx: what a developer looks for first.
	HasFetchErrors bool
}

// Cursor is the summary's position in the list order.
func (c CallSummary) Cursor() Cursor { return Cursor{Created: c.Created, CallID: c.CallID} }

// DebugID is the call's Kazoo debug_id.
func (c CallSummary) DebugID() string { return DebugID(c.Created, c.CallID) }
