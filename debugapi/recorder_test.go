package debugapi

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pivotua/pivotua/internal/testkit"
	"github.com/pivotua/pivotua/internal/testkit/pgtest"
)

// countRecords counts every stored record of the account.
func countRecords(t *testing.T, s *SQLStore, account string) int {
	t.Helper()
	var n int
	if err := s.db.QueryRow(`SELECT COUNT(*) FROM pivot_debug_records WHERE account_id = $1`, account).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func TestRecorderKeepsRecordsWhileTheStoreFails(t *testing.T) {
	real := openSQLiteTest(t)
	flaky := &flakyStore{Store: real, down: true}
	rec := NewRecorder(flaky, WithBackoff(time.Millisecond, 4*time.Millisecond))
	var wg sync.WaitGroup
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 50; i++ {
				rec.Record(exchangeRecords(accountA, fmt.Sprintf("w%d-%d", w, i), 1, baseTime, 200)...)
			}
		}()
	}
	wg.Wait()
	testkit.WaitFor(t, 10*time.Second, "several failed attempts", func() bool { return flaky.Attempts() >= 5 })
	if n := countRecords(t, real, accountA); n != 0 {
		t.Fatalf("%d records stored while the store is down", n)
	}
	if st := rec.Stats(); st.Queued != 400 || st.Failures < 4 {
		t.Fatalf("stats while down = %+v, want 400 queued and failures counted", st)
	}
	flaky.setDown(false)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := rec.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if n := countRecords(t, real, accountA); n != 400 {
		t.Fatalf("%d records stored, want all 400", n)
	}
	if calls := allCalls(t, real, accountA); len(calls) != 200 {
		t.Fatalf("%d calls, want 200", len(calls))
	}
	if st := rec.Stats(); st.Written != 400 || st.Queued != 0 || st.Dropped != 0 {
		t.Fatalf("stats = %+v", st)
	}
}

func TestRecorderCloseFlushesEverything(t *testing.T) {
	s := openSQLiteTest(t)
	rec := NewRecorder(s)
	for i := 0; i < 500; i++ {
		rec.Record(exchangeRecords(accountA, fmt.Sprintf("c%d", i), 1, baseTime, 200)...)
	}
	if err := rec.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if n := countRecords(t, s, accountA); n != 1000 {
		t.Fatalf("%d records after Close, want 1000", n)
	}
}

func TestRecorderRecordReturnsWhileTheStoreHangs(t *testing.T) {
	real := openSQLiteTest(t)
	unblock := make(chan struct{})
	flaky := &flakyStore{Store: real, block: unblock}
	rec := NewRecorder(flaky)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := 0; i < 1000; i++ {
			rec.Record(exchangeRecords(accountA, fmt.Sprintf("c%d", i), 1, baseTime, 200)...)
		}
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Record waited for the store")
	}
	close(unblock)
	if err := rec.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if n := countRecords(t, real, accountA); n != 2000 {
		t.Fatalf("%d records, want 2000", n)
	}
}

func TestRecorderCloseGivesUpWhenItsContextEnds(t *testing.T) {
	flaky := &flakyStore{Store: openSQLiteTest(t), down: true}
	rec := NewRecorder(flaky, WithBackoff(time.Millisecond, time.Millisecond))
	rec.Record(exchangeRecords(accountA, "lost", 1, baseTime, 200)...)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	err := rec.Close(ctx)
	if !errors.Is(err, ErrRecorderClosed) || err.Error() != "debug recorder: closed with records unwritten: 2 records" {
		t.Fatalf("err = %v", err)
	}
	// Records after Close are counted, not kept.
	rec.Record(exchangeRecords(accountA, "late", 1, baseTime, 200)...)
	if st := rec.Stats(); st.Dropped != 2 {
		t.Fatalf("dropped = %d, want 2", st.Dropped)
	}
	if err := rec.Close(context.Background()); err == nil {
		t.Fatal("a second Close forgot the unwritten records")
	}
}

func TestRecorderAssignsIDsAndSkipsRecordsWithoutKeys(t *testing.T) {
	s := openSQLiteTest(t)
	rec := NewRecorder(s)
	recs := exchangeRecords(accountA, "c1", 1, baseTime, 200)
	rec.Record(recs...)
	rec.Record(Record{AccountID: accountA}, Record{CallID: "x"})
	if recs[0].ID != "" {
		t.Fatal("Record changed the caller's slice")
	}
	if err := rec.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	got, _ := s.CallRecords(context.Background(), accountA, "c1")
	hex32 := regexp.MustCompile(`^[0-9a-f]{32}$`)
	if len(got) != 2 || !hex32.MatchString(got[0].ID) || !hex32.MatchString(got[1].ID) || got[0].ID == got[1].ID {
		t.Fatalf("records = %+v", got)
	}
	if st := rec.Stats(); st.Dropped != 2 || st.Written != 2 {
		t.Fatalf("stats = %+v", st)
	}
}

func TestPurgeEveryRunsAtStart(t *testing.T) {
	s := openSQLiteTest(t)
	old := time.Now().Add(-40 * 24 * time.Hour)
	recs := withIDs(append(exchangeRecords(accountA, "old", 1, old, 200), exchangeRecords(accountA, "new", 1, time.Now(), 200)...))
	if err := s.Append(context.Background(), recs); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); PurgeEvery(ctx, s, DefaultRetention, time.Hour, nil) }()
	testkit.WaitFor(t, 10*time.Second, "the purge at start", func() bool { return len(allCalls(t, s, accountA)) == 1 })
	cancel()
	<-done
	if n := countRecords(t, s, accountA); n != 2 {
		t.Fatalf("%d records after the purge, want 2", n)
	}
	if calls := allCalls(t, s, accountA); len(calls) != 1 || calls[0].CallID != "new" {
		t.Fatalf("calls = %+v", calls)
	}
}

// TestRecorderHostileRecordsNeverBlockThePostgresQueue: PostgreSQL refuses a NUL or invalid UTF-8 in a
// TEXT column, and pgx an iteration past INTEGER. Such a record used to be retried forever with every
// record behind it; now a hostile Call-ID is stored escaped, and what the store cannot take (an
// account_id with a NUL, which is ours and not escaped; the iteration) is set aside alone, counted.
func TestRecorderHostileRecordsNeverBlockThePostgresQueue(t *testing.T) {
	s, err := OpenPostgres(context.Background(), pgtest.DSN(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	rec := NewRecorder(s, WithBackoff(time.Millisecond, 10*time.Millisecond))
	rec.Record(exchangeRecords(accountA, "nul\x00\xff@10.0.0.1", 1, baseTime, 200)...)
	tooFar := exchangeRecords(accountA, "too-far@10.0.0.1", 1, baseTime, 0)[0]
	tooFar.Iteration = 1 << 40
	badAccount := exchangeRecords("acc\x00ount", "bad-account@10.0.0.1", 1, baseTime, 0)[0]
	for i := 0; i < 300; i++ {
		switch i {
		case 100:
			rec.Record(badAccount)
		case 150:
			rec.Record(tooFar)
		}
		rec.Record(exchangeRecords(accountA, fmt.Sprintf("good-%d@10.0.0.1", i), 1, baseTime, 200)...)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := rec.Close(ctx); err != nil {
		t.Fatalf("close: %v; stats %+v", err, rec.Stats())
	}
	if n := countRecords(t, s, accountA); n != 602 {
		t.Fatalf("%d records stored, want the 600 good ones and the 2 with a NUL", n)
	}
	if got, err := s.CallRecords(context.Background(), accountA, "nul\x00\xff@10.0.0.1"); err != nil || len(got) != 2 {
		t.Fatalf("the call with a NUL: %d records, %v", len(got), err)
	}
	if st := rec.Stats(); st.Written != 602 || st.Dropped != 2 || st.DroppedRejected != 1 || st.DroppedInvalid != 1 {
		t.Fatalf("stats = %+v, want 602 written, the account refused by PostgreSQL and the iteration dropped", st)
	}
}

// TestRecorderSetsAsideAnUnencodableRecordAlone: a record that cannot be encoded (a NaN in its event
// data) is dropped alone; the records queued with it in one batch are stored.
func TestRecorderSetsAsideAnUnencodableRecordAlone(t *testing.T) {
	s := openSQLiteTest(t)
	rec := NewRecorder(s)
	bad := Record{AccountID: accountA, CallID: "c2", Iteration: 1, Kind: KindEvent, Event: "x",
		EventData: map[string]any{"v": math.NaN()}}
	batch := append(exchangeRecords(accountA, "c1", 1, baseTime, 200), bad)
	batch = append(batch, exchangeRecords(accountA, "c3", 1, baseTime, 200)...)
	rec.Record(batch...)
	if err := rec.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if n := countRecords(t, s, accountA); n != 4 {
		t.Fatalf("%d records stored, want the 4 good ones", n)
	}
	if st := rec.Stats(); st.Written != 4 || st.Dropped != 1 || st.DroppedInvalid != 1 {
		t.Fatalf("stats = %+v", st)
	}
}

// TestRecorderDropsNewRecordsWhenTheQueueIsFull: while the store hangs, the queue takes records up to
// its byte bound and drops the rest, counted and warned about once; the ones it took are all stored.
func TestRecorderDropsNewRecordsWhenTheQueueIsFull(t *testing.T) {
	real := openSQLiteTest(t)
	unblock := make(chan struct{})
	flaky := &flakyStore{Store: real, block: unblock}
	one := exchangeRecords(accountA, "c0000", 1, baseTime, 0)[0]
	size := recordSize(&one)
	var logs testkit.SyncBuffer
	rec := NewRecorder(flaky, WithQueueBytes(100*size),
		WithRecorderLogger(slog.New(slog.NewTextHandler(&logs, nil))))
	for i := 0; i < 1000; i++ {
		rec.Record(exchangeRecords(accountA, fmt.Sprintf("c%04d", i), 1, baseTime, 0)...)
	}
	st := rec.Stats()
	if st.Queued != 100 || st.QueuedBytes != 100*size || st.DroppedQueueFull != 900 || st.Dropped != 900 {
		t.Fatalf("stats with the store hung = %+v; want 100 queued in %d bytes and 900 dropped", st, 100*size)
	}
	if n := strings.Count(logs.String(), "debug record queue full"); n != 1 {
		t.Fatalf("%d queue-full warnings for 900 drops, want 1 (rate-limited):\n%s", n, logs.String())
	}
	close(unblock)
	if err := rec.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if n := countRecords(t, real, accountA); n != 100 {
		t.Fatalf("%d records stored, want the 100 queued", n)
	}
	if st := rec.Stats(); st.Written != 100 || st.QueuedBytes != 0 {
		t.Fatalf("stats after Close = %+v", st)
	}
}

// batchSizes is a Store that keeps the recordSize of every batch it is given.
type batchSizes struct {
	Store
	mu    sync.Mutex
	sizes []int64
}

func (b *batchSizes) Append(ctx context.Context, recs []Record) error {
	var n int64
	for i := range recs {
		n += recordSize(&recs[i])
	}
	b.mu.Lock()
	b.sizes = append(b.sizes, n)
	b.mu.Unlock()
	return b.Store.Append(ctx, recs)
}

// TestRecorderWritesLargeRecordsInBoundedBatches: a queue block of records with 1 MiB bodies goes to
// the store in transactions of at most maxBatchBytes, not one that could outlast appendTimeout.
func TestRecorderWritesLargeRecordsInBoundedBatches(t *testing.T) {
	store := &batchSizes{Store: openSQLiteTest(t)}
	rec := NewRecorder(store)
	body := strings.Repeat("x", 1<<20)
	var recs []Record
	for i := 0; i < 20; i++ {
		r := exchangeRecords(accountA, fmt.Sprintf("big-%d", i), 1, baseTime, 200)[1]
		r.RespBody = body
		recs = append(recs, r)
	}
	rec.Record(recs...)
	if err := rec.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if n := countRecords(t, store.Store.(*SQLStore), accountA); n != 20 {
		t.Fatalf("%d records stored, want 20", n)
	}
	store.mu.Lock()
	defer store.mu.Unlock()
	for _, n := range store.sizes {
		if n > maxBatchBytes {
			t.Fatalf("a batch of %d bytes, over %d (batches: %v)", n, maxBatchBytes, store.sizes)
		}
	}
}

// nopStore accepts everything and keeps nothing: the benchmark measures Record, not the database.
type nopStore struct{ Store }

func (nopStore) Append(context.Context, []Record) error { return nil }

func BenchmarkRecorderRecord(b *testing.B) {
	rec := NewRecorder(nopStore{})
	defer rec.Close(context.Background())
	r := exchangeRecords(accountA, "829597750@10.26.0.158", 1, baseTime, 200)
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		rec.Record(r...)
	}
}
