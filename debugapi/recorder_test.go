package debugapi

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"sync"
	"testing"
	"time"
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

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
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
	waitFor(t, "several failed attempts", func() bool { return flaky.Attempts() >= 5 })
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
	waitFor(t, "the purge at start", func() bool { return len(allCalls(t, s, accountA)) == 1 })
	cancel()
	<-done
	if n := countRecords(t, s, accountA); n != 2 {
		t.Fatalf("%d records after the purge, want 2", n)
	}
	if calls := allCalls(t, s, accountA); len(calls) != 1 || calls[0].CallID != "new" {
		t.Fatalf("calls = %+v", calls)
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
