package debugapi

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"
)

// Recorder defaults; see the options.
const (
	DefaultMinBackoff = 100 * time.Millisecond
	DefaultMaxBackoff = 10 * time.Second
	// DefaultQueueBytes bounds the records waiting for the store (WithQueueBytes).
	DefaultQueueBytes = 64 << 20
	// appendTimeout bounds one Append, so a hung database is retried rather than waited on forever.
	appendTimeout = 30 * time.Second
)

// Reasons a record is dropped rather than stored: the reason label of
// pivotua_debug_records_dropped_total.
const (
	DropQueueFull = "queue_full" // the queue held its byte bound (the store is slow or down)
	DropInvalid   = "invalid"    // no account or call id, or a record that cannot be encoded
	DropRejected  = "rejected"   // the database refused what the record holds (ErrRecordRejected)
	DropClosed    = "closed"     // recorded after Close
)

// Recorder writes records to a Store from one goroutine, so the call that produces them never waits
// for the database: Record only copies them into an in-memory queue. A store that is down delays
// records, and the writer retries with backoff until they are written, so none already queued is lost
// while the process lives; the queue is bounded in bytes (WithQueueBytes), and once full new records
// are dropped and counted (DropQueueFull) until it drains. A record the store refuses for what it
// holds is set aside alone, logged and counted (DropRejected, DropInvalid): it never holds up the
// records behind it. Close flushes them all.
type Recorder struct {
	store      Store
	log        *slog.Logger
	minBackoff time.Duration
	maxBackoff time.Duration
	maxBytes   int64
	idPrefix   string // 16 hex digits, random per Recorder; IDs are idPrefix + 16 hex of a counter

	// mu guards the queue (head..tail, queued, queuedBytes), the free blocks and closing. Record (any
	// goroutine) fills the tail block; the writer takes the whole chain and gives emptied blocks back.
	mu          sync.Mutex
	head        *recordBlock
	tail        *recordBlock
	queued      int
	queuedBytes int64
	free        *recordBlock
	nFree       int
	closing     bool

	wake    chan struct{} // capacity 1: "the queue is not empty"
	stop    chan struct{} // closed by Close: flush, then exit
	abandon chan struct{} // closed when Close's context ends: exit now
	done    chan struct{} // closed by the writer when it exits
	cancel  context.CancelFunc
	ctx     context.Context // of every Append; cancelled on abandon

	nextID uint64 // owned by the writer goroutine

	// Counters: written, failures, inFlight and inFlightBytes by the writer (inFlightBytes also read
	// by Record, under mu, against maxBytes), the drops by Record and the writer; read by Stats.
	written          atomic.Uint64
	failures         atomic.Uint64
	droppedQueueFull atomic.Uint64
	droppedInvalid   atomic.Uint64
	droppedRejected  atomic.Uint64
	droppedClosed    atomic.Uint64
	unsaved          atomic.Int64 // records the writer gave up on when abandoned
	inFlight         atomic.Int64 // records taken from the queue and not yet written
	inFlightBytes    atomic.Int64 // their bytes (recordSize)

	fullLog  logLimiter // queue_full warnings, from any goroutine
	asideLog logLimiter // set-aside records, from the writer

	abandonOnce sync.Once
}

// Drop logs are rate-limited: a flood of records dropped for one cause is a few lines per window, the
// next one saying how many were left out. Every drop is counted whether logged or not.
const (
	dropLogWindow   = 10 * time.Second
	queueFullLogMax = 1  // queue_full lines per window: the cause is one (the store is slow or down)
	setAsideLogMax  = 10 // set-aside lines per window: each names its own record and fault
)

// logLimiter lets up to a limit of log lines through per window and counts the ones it holds back.
type logLimiter struct {
	mu         sync.Mutex
	start      time.Time // of the current window
	lines      int
	suppressed int
}

// allow reports whether a line may be logged now, and how many were held back before it.
func (l *logLimiter) allow(limit int) (bool, int) {
	now := time.Now()
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.start.IsZero() || now.Sub(l.start) >= dropLogWindow {
		l.start, l.lines = now, 0
	}
	if l.lines >= limit {
		l.suppressed++
		return false, 0
	}
	l.lines++
	n := l.suppressed
	l.suppressed = 0
	return true, n
}

// blockSize is how many records one queue block holds, and so the most one Append writes: the queue
// grows by blocks, so Record never copies what is already queued, each block is written as it lies,
// and written blocks are reused.
const blockSize = 128

// maxFreeBlocks bounds the blocks kept for reuse (128 blocks of 128 records: a few MiB).
const maxFreeBlocks = 128

type recordBlock struct {
	recs  [blockSize]Record
	n     int
	bytes int64 // recordSize of its records
	next  *recordBlock
}

// RecorderOption configures a Recorder.
type RecorderOption func(*Recorder)

// WithBackoff sets the first and the longest wait between retries of a failed Append.
func WithBackoff(minWait, maxWait time.Duration) RecorderOption {
	return func(r *Recorder) {
		if minWait > 0 {
			r.minBackoff = minWait
		}
		if maxWait >= r.minBackoff {
			r.maxBackoff = maxWait
		}
	}
}

// WithQueueBytes bounds the memory of the records waiting for the store (recordSize: their texts and
// a fixed overhead each); once it is reached, new records are dropped and counted (DropQueueFull).
func WithQueueBytes(n int64) RecorderOption {
	return func(r *Recorder) {
		if n > 0 {
			r.maxBytes = n
		}
	}
}

// WithRecorderLogger sets the logger for write failures.
func WithRecorderLogger(l *slog.Logger) RecorderOption {
	return func(r *Recorder) {
		if l != nil {
			r.log = l
		}
	}
}

// NewRecorder starts the writer goroutine in front of store.
func NewRecorder(store Store, opts ...RecorderOption) *Recorder {
	var prefix [8]byte
	_, _ = rand.Read(prefix[:])
	ctx, cancel := context.WithCancel(context.Background())
	r := &Recorder{
		store: store, log: slog.Default(),
		minBackoff: DefaultMinBackoff, maxBackoff: DefaultMaxBackoff, maxBytes: DefaultQueueBytes,
		idPrefix: hex.EncodeToString(prefix[:]),
		wake:     make(chan struct{}, 1), stop: make(chan struct{}), abandon: make(chan struct{}),
		done: make(chan struct{}), ctx: ctx, cancel: cancel,
	}
	for _, o := range opts {
		o(r)
	}
	go r.run()
	return r
}

// Record queues records for writing and returns at once; it copies them, so the caller's slice is
// not kept, but the records' maps must not be changed afterwards. Records get an ID when written, and
// the current time when they have no Created. Records without an account or call id, records that
// would take the queue over its byte bound, and records after Close, are dropped and counted in Stats.
func (r *Recorder) Record(records ...Record) {
	if len(records) == 0 {
		return
	}
	r.mu.Lock()
	if r.closing {
		r.mu.Unlock()
		r.droppedClosed.Add(uint64(len(records)))
		return
	}
	var full uint64
	for i := range records {
		if records[i].AccountID == "" || records[i].CallID == "" {
			// The store would refuse it forever, holding up every record behind it.
			r.droppedInvalid.Add(1)
			continue
		}
		size := recordSize(&records[i])
		if r.queuedBytes+r.inFlightBytes.Load()+size > r.maxBytes {
			full++
			continue
		}
		if r.tail == nil || r.tail.n == blockSize {
			b := r.free
			if b != nil {
				r.free, b.next = b.next, nil
				r.nFree--
			} else {
				b = new(recordBlock)
			}
			if r.tail == nil {
				r.head = b
			} else {
				r.tail.next = b
			}
			r.tail = b
		}
		r.tail.recs[r.tail.n] = records[i]
		if r.tail.recs[r.tail.n].Created.IsZero() {
			r.tail.recs[r.tail.n].Created = time.Now()
		}
		r.tail.n++
		r.tail.bytes += size
		r.queued++
		r.queuedBytes += size
	}
	queuedBytes := r.queuedBytes + r.inFlightBytes.Load()
	r.mu.Unlock()
	if full > 0 {
		r.droppedQueueFull.Add(full)
		if ok, held := r.fullLog.allow(queueFullLogMax); ok {
			r.log.Warn("debug record queue full; dropping new records until the store catches up",
				"queued_bytes", queuedBytes, "queue_bytes", r.maxBytes,
				"dropped_total", r.droppedQueueFull.Load(), "warnings_suppressed", held)
		}
	}
	select {
	case r.wake <- struct{}{}:
	default:
	}
}

const hexDigits = "0123456789abcdef"

// assignIDs gives every record of batch without an ID one: 32 lowercase hex digits like a Kazoo
// document id, the Recorder's random prefix and a counter. One string backs the whole batch.
func (r *Recorder) assignIDs(batch []Record) {
	missing := 0
	for i := range batch {
		if batch[i].ID == "" {
			missing++
		}
	}
	if missing == 0 {
		return
	}
	buf := make([]byte, 0, 32*missing)
	for range missing {
		r.nextID++
		buf = append(buf, r.idPrefix...)
		for shift := 60; shift >= 0; shift -= 4 {
			buf = append(buf, hexDigits[(r.nextID>>shift)&0xf])
		}
	}
	ids := string(buf)
	for i := range batch {
		if batch[i].ID == "" {
			batch[i].ID, ids = ids[:32], ids[32:]
		}
	}
}

// RecorderStats counts what a Recorder has done.
type RecorderStats struct {
	Queued      int    // waiting to be written (including a batch being retried)
	QueuedBytes int64  // their size, as bounded by WithQueueBytes
	Written     uint64 // stored
	Failures    uint64 // failed Append attempts (each retried)
	Dropped     uint64 // every record dropped: the sum of the four below

	DroppedQueueFull uint64 // DropQueueFull: the queue was at its byte bound
	DroppedInvalid   uint64 // DropInvalid: no account or call id, or not encodable
	DroppedRejected  uint64 // DropRejected: the database refused what it holds
	DroppedClosed    uint64 // DropClosed: recorded after Close
}

// Stats reports the counters.
func (r *Recorder) Stats() RecorderStats {
	r.mu.Lock()
	queued, queuedBytes := r.queued, r.queuedBytes
	r.mu.Unlock()
	st := RecorderStats{
		Queued: queued + int(r.inFlight.Load()), QueuedBytes: queuedBytes + r.inFlightBytes.Load(),
		Written: r.written.Load(), Failures: r.failures.Load(),
		DroppedQueueFull: r.droppedQueueFull.Load(), DroppedInvalid: r.droppedInvalid.Load(),
		DroppedRejected: r.droppedRejected.Load(), DroppedClosed: r.droppedClosed.Load(),
	}
	st.Dropped = st.DroppedQueueFull + st.DroppedInvalid + st.DroppedRejected + st.DroppedClosed
	return st
}

// Close stops taking records, writes every queued one and stops the writer. If ctx ends first, it
// gives up and returns an error wrapping ErrRecorderClosed that counts the records left unwritten.
// It does not close the store.
func (r *Recorder) Close(ctx context.Context) error {
	r.mu.Lock()
	already := r.closing
	r.closing = true
	r.mu.Unlock()
	if !already {
		close(r.stop)
	}
	select {
	case <-r.done:
	case <-ctx.Done():
		r.abandonOnce.Do(func() { close(r.abandon); r.cancel() })
		<-r.done
	}
	r.cancel()
	if n := r.unsaved.Load(); n > 0 {
		return fmt.Errorf("%w: %d records", ErrRecorderClosed, n)
	}
	return nil
}

// run is the writer goroutine: it takes the whole queue at once and appends it in batches.
func (r *Recorder) run() {
	defer close(r.done)
	for {
		r.mu.Lock()
		chain := r.head
		r.head, r.tail = nil, nil
		r.inFlight.Store(int64(r.queued))
		r.inFlightBytes.Add(r.queuedBytes)
		r.queued, r.queuedBytes = 0, 0
		r.mu.Unlock()

		if chain == nil {
			select {
			case <-r.wake:
				continue
			case <-r.abandon:
				return
			case <-r.stop:
				r.mu.Lock()
				empty := r.head == nil
				r.mu.Unlock()
				if empty {
					return
				}
				continue
			}
		}
		var written *recordBlock // emptied blocks, handed back in one go
		nWritten := 0
		for chain != nil {
			batch := chain.recs[:chain.n]
			// IDs are given here, once, so a retried batch keeps them and Append stays idempotent.
			r.assignIDs(batch)
			if !r.writeBlock(batch) {
				var left int
				for b := chain; b != nil; b = b.next {
					left += b.n
				}
				r.mu.Lock()
				left += r.queued
				r.mu.Unlock()
				r.unsaved.Store(int64(left))
				return
			}
			r.inFlight.Add(-int64(len(batch)))
			r.inFlightBytes.Add(-chain.bytes)
			next := chain.next
			clear(batch) // drop references to bodies and headers
			chain.n, chain.bytes, chain.next = 0, 0, nil
			if nWritten < maxFreeBlocks {
				chain.next, written = written, chain
				nWritten++
			}
			chain = next
		}
		r.recycle(written, nWritten)
	}
}

// recycle keeps emptied blocks for reuse, up to maxFreeBlocks.
func (r *Recorder) recycle(blocks *recordBlock, n int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for b := blocks; b != nil && r.nFree < maxFreeBlocks; {
		next := b.next
		b.next, r.free = r.free, b
		r.nFree++
		b = next
	}
}

// maxBatchBytes bounds one Append by recordSize, so a block of large records (1 MiB bodies, up to four
// times that escaped) is several transactions that each end well within appendTimeout, not one that
// times out, is taken for a store that is down, and is retried forever.
const maxBatchBytes = 8 << 20

// writeBlock writes a block's records in batches of at most maxBatchBytes (and at least one record);
// false only when Close gave up.
func (r *Recorder) writeBlock(recs []Record) bool {
	for len(recs) > 0 {
		n, size := 1, recordSize(&recs[0])
		for ; n < len(recs); n++ {
			next := recordSize(&recs[n])
			if size+next > maxBatchBytes {
				break
			}
			size += next
		}
		if !r.write(recs[:n]) {
			return false
		}
		recs = recs[n:]
	}
	return true
}

// write appends one batch, retrying with exponential backoff while the store fails, until it is
// stored; false only when Close gave up. When the store refuses what a record holds, the batch is
// split in halves and each written alone, down to the one record, which is set aside: one bad record
// costs about 2*log2(blockSize) appends, and the records around it are stored.
func (r *Recorder) write(batch []Record) bool {
	wait := r.minBackoff
	for attempt := 1; ; attempt++ {
		ctx, cancel := context.WithTimeout(r.ctx, appendTimeout)
		err := r.store.Append(ctx, batch)
		cancel()
		if err == nil {
			r.written.Add(uint64(len(batch)))
			if attempt > 1 {
				r.log.Info("debug store writable again", "records", len(batch), "attempts", attempt)
			}
			return true
		}
		if errors.Is(err, ErrInvalidRecord) || errors.Is(err, ErrRecordRejected) {
			// Retrying cannot help; keeping it would hold up every record behind it.
			if len(batch) > 1 {
				mid := len(batch) / 2
				return r.write(batch[:mid]) && r.write(batch[mid:])
			}
			r.setAside(batch[0], err)
			return true
		}
		r.failures.Add(1)
		if attempt == 1 || attempt%10 == 0 {
			r.log.Warn("debug store write failed; retrying", "records", len(batch),
				"attempt", attempt, "retry_in", wait, "error", err)
		}
		t := time.NewTimer(wait)
		select {
		case <-t.C:
		case <-r.abandon:
			t.Stop()
			return false
		}
		wait = min(wait*2, r.maxBackoff)
	}
}

// setAside drops one record the store refused for what it holds, counting it and logging what was
// wrong (rate-limited).
func (r *Recorder) setAside(rec Record, err error) {
	reason := DropRejected
	if errors.Is(err, ErrInvalidRecord) {
		reason = DropInvalid
		r.droppedInvalid.Add(1)
	} else {
		r.droppedRejected.Add(1)
	}
	ok, held := r.asideLog.allow(setAsideLogMax)
	if !ok {
		return
	}
	callID := StoredCallID(rec.CallID)
	if len(callID) > 80 {
		callID = callID[:80] + "..."
	}
	r.log.Error("debug store refused a record; set aside, the records behind it go on",
		"reason", reason, "record_id", rec.ID, "account_id", StoredText(rec.AccountID), "call_id", callID,
		"kind", rec.Kind.String(), "iteration", rec.Iteration, "error", err, "logs_suppressed", held)
}

// recordOverhead approximates what a queued record costs beyond its texts: the Record itself in its
// block, and its maps.
const recordOverhead = 512

// mapEntryOverhead approximates one map entry beyond its key and value texts.
const mapEntryOverhead = 32

// recordSize is what a queued record is counted as against the queue's byte bound: its texts, its
// maps' entries and a fixed overhead. It reads the record only (no allocation).
func recordSize(rec *Record) int64 {
	n := recordOverhead + len(rec.AccountID) + len(rec.CallID) + len(rec.Node) + len(rec.Method) +
		len(rec.URI) + len(rec.ReqBody) + len(rec.FetchError) + len(rec.RespBody) + len(rec.Event)
	for k, v := range rec.ReqHeaders {
		n += mapEntryOverhead + len(k) + len(v)
	}
	for k, v := range rec.RespHeaders {
		n += mapEntryOverhead + len(k) + len(v)
	}
	if je := rec.JSONErrors; je != nil {
		n += len(je.Message) + len(je.Before) + len(je.After) + len(je.Detail)
	}
	for path, rules := range rec.SchemaErrors {
		n += mapEntryOverhead + len(path)
		for rule, e := range rules {
			n += mapEntryOverhead + len(rule) + len(e.Message) + valueSize(e.Target)
		}
	}
	if rec.EventData != nil {
		n += valueSize(rec.EventData)
	}
	return int64(n)
}

// valueSize approximates a JSON-like value's size (event data, a schema error's target).
func valueSize(v any) int {
	switch v := v.(type) {
	case string:
		return len(v)
	case map[string]any:
		return entriesSize(v, valueSize)
	case []any:
		return itemsSize(v, valueSize)
	case map[string]string:
		return entriesSize(v, stringSize)
	case []string:
		return itemsSize(v, stringSize)
	}
	return 16
}

func stringSize(s string) int { return len(s) }

// entriesSize is a map's approximate size: each entry's overhead, key and value.
func entriesSize[V any](m map[string]V, size func(V) int) int {
	n := 0
	for k, x := range m {
		n += mapEntryOverhead + len(k) + size(x)
	}
	return n
}

// itemsSize is a slice's approximate size: 16 bytes of header per item plus the item.
func itemsSize[V any](s []V, size func(V) int) int {
	n := 0
	for _, x := range s {
		n += 16 + size(x)
	}
	return n
}
