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
	// appendTimeout bounds one Append, so a hung database is retried rather than waited on forever.
	appendTimeout = 30 * time.Second
)

// Recorder writes records to a Store from one goroutine, so the call that produces them never waits
// for the database: Record only copies them into an in-memory queue. The queue is unbounded: a store
// that is down delays records, and the writer retries with backoff until they are written, so none is
// lost while the process lives. Close flushes them all.
type Recorder struct {
	store      Store
	log        *slog.Logger
	minBackoff time.Duration
	maxBackoff time.Duration
	idPrefix   string // 16 hex digits, random per Recorder; IDs are idPrefix + 16 hex of a counter

	// mu guards the queue (head..tail, queued), the free blocks and closing. Record (any goroutine)
	// fills the tail block; the writer takes the whole chain and gives emptied blocks back.
	mu      sync.Mutex
	head    *recordBlock
	tail    *recordBlock
	queued  int
	free    *recordBlock
	nFree   int
	closing bool

	wake    chan struct{} // capacity 1: "the queue is not empty"
	stop    chan struct{} // closed by Close: flush, then exit
	abandon chan struct{} // closed when Close's context ends: exit now
	done    chan struct{} // closed by the writer when it exits
	cancel  context.CancelFunc
	ctx     context.Context // of every Append; cancelled on abandon

	nextID uint64 // owned by the writer goroutine

	// Counters: written, failures and inFlight by the writer, dropped by Record and the writer;
	// read by Stats.
	written  atomic.Uint64
	failures atomic.Uint64
	dropped  atomic.Uint64
	unsaved  atomic.Int64 // records the writer gave up on when abandoned
	inFlight atomic.Int64 // records taken from the queue and not yet written

	abandonOnce sync.Once
}

// blockSize is how many records one queue block holds, and so the most one Append writes: the queue
// grows by blocks, so Record never copies what is already queued, each block is written as it lies,
// and written blocks are reused.
const blockSize = 128

// maxFreeBlocks bounds the blocks kept for reuse (128 blocks of 128 records: a few MiB).
const maxFreeBlocks = 128

type recordBlock struct {
	recs [blockSize]Record
	n    int
	next *recordBlock
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
		minBackoff: DefaultMinBackoff, maxBackoff: DefaultMaxBackoff,
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
// the current time when they have no Created. Records without an account or call id, and records
// after Close, are dropped and counted in Stats.
func (r *Recorder) Record(records ...Record) {
	if len(records) == 0 {
		return
	}
	r.mu.Lock()
	if r.closing {
		r.mu.Unlock()
		r.dropped.Add(uint64(len(records)))
		return
	}
	for i := range records {
		if records[i].AccountID == "" || records[i].CallID == "" {
			// The store would refuse it forever, holding up every record behind it.
			r.dropped.Add(1)
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
		r.queued++
	}
	r.mu.Unlock()
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
	Queued   int    // waiting to be written (including a batch being retried)
	Written  uint64 // stored
	Failures uint64 // failed Append attempts (each retried)
	Dropped  uint64 // after Close, without account or call id, or refused by the store as invalid
}

// Stats reports the counters.
func (r *Recorder) Stats() RecorderStats {
	r.mu.Lock()
	queued := r.queued
	r.mu.Unlock()
	return RecorderStats{
		Queued: queued + int(r.inFlight.Load()), Written: r.written.Load(),
		Failures: r.failures.Load(), Dropped: r.dropped.Load(),
	}
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
		r.queued = 0
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
			if !r.write(batch) {
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
			next := chain.next
			clear(batch) // drop references to bodies and headers
			chain.n, chain.next = 0, nil
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

// write appends one batch, retrying with exponential backoff until it is stored; false only when
// Close gave up.
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
		if errors.Is(err, ErrInvalidRecord) {
			// Retrying cannot help; keeping it would hold up every record behind it.
			r.log.Error("debug store refused records; dropping them", "records", len(batch), "error", err)
			r.dropped.Add(uint64(len(batch)))
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
