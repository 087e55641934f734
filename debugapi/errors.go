package debugapi

import "errors"

var (
	// ErrUnknownDriver means the store driver is neither sqlite nor postgres.
	ErrUnknownDriver = errors.New("debug store: unknown driver")
	// ErrBadDSN means the store's data source name cannot be used.
	ErrBadDSN = errors.New("debug store: bad dsn")
	// ErrMigration means the schema could not be brought up to date.
	ErrMigration = errors.New("debug store: migration failed")
	// ErrInvalidRecord means a record lacks what every record needs (id, account_id, call_id).
	ErrInvalidRecord = errors.New("debug store: invalid record")
	// ErrRecordRejected means the database refused what a record holds (a value out of its column's
	// range, a key too long): retrying that record cannot help.
	ErrRecordRejected = errors.New("debug store: record rejected")
	// ErrBadStartKey means a start_key was not one this API handed out.
	ErrBadStartKey = errors.New("bad start_key")
	// ErrRecorderClosed means Close ran out of time before every record was written.
	ErrRecorderClosed = errors.New("debug recorder: closed with records unwritten")
	// ErrCallsNotShared means the shared table of calls was asked of a store that is not PostgreSQL.
	ErrCallsNotShared = errors.New("shared table of calls: needs the postgres driver")
	// ErrCallsUnavailable means the shared table of calls could not be read or written.
	ErrCallsUnavailable = errors.New("shared table of calls: unavailable")
	// ErrOwnerTimeout means the node holding a call did not answer a forwarded update in time.
	ErrOwnerTimeout = errors.New("the node holding the call did not answer in time")
)
