package recordings

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pivotua/pivotua/httpfetch"
)

func TestUploadPoolSettingsAreCheckedByPath(t *testing.T) {
	c, errs := DefaultSettings().Config("recordings")
	if len(errs) > 0 || c.UploadWorkers != 16 || c.UploadWorkersPerAccount != 4 || c.Retention != 744*time.Hour {
		t.Fatalf("defaults: %+v, %v; want 16 workers, 4 per account, 744h", c, errs)
	}
	for _, tc := range []struct {
		workers, perAccount int
		want                string
	}{
		{0, 1, "recordings.upload_workers: must be between 1 and 1024, not 0"},
		{2000, 4, "recordings.upload_workers: must be between 1 and 1024, not 2000"},
		{8, 0, "recordings.upload_workers_per_account: must be between 1 and upload_workers (8), not 0"},
		{2, 3, "recordings.upload_workers_per_account: must be between 1 and upload_workers (2), not 3"},
	} {
		s := DefaultSettings()
		s.UploadWorkers, s.UploadWorkersPerAccount = tc.workers, tc.perAccount
		_, errs := s.Config("recordings")
		if len(errs) != 1 || errs[0].Error() != tc.want {
			t.Errorf("%d workers, %d per account: %v; want %q", tc.workers, tc.perAccount, errs, tc.want)
		}
	}
}

// TestUploadWorkersBoundTheUploadsInFlight: recordings.upload_workers: 2 lets at most two
// uploads reach their target at once, where the uploader's default would send all five.
func TestUploadWorkersBoundTheUploadsInFlight(t *testing.T) {
	var (
		mu             sync.Mutex
		inFlight, most int
		release        = make(chan struct{})
		twoArrived     = make(chan struct{})
	)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		inFlight++
		most = max(most, inFlight)
		if inFlight == 2 {
			close(twoArrived)
		}
		mu.Unlock()
		<-release
		mu.Lock()
		inFlight--
		mu.Unlock()
		w.WriteHeader(http.StatusCreated)
	}))
	defer srv.Close()

	s := DefaultSettings()
	s.UploadWorkers, s.UploadWorkersPerAccount = 2, 2
	c, errs := s.Config("recordings")
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	dir := t.TempDir()
	u, err := httpfetch.NewUploader(filepath.Join(dir, ".spool"), c.UploaderOptions()...)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if err := u.Start(ctx); err != nil {
		t.Fatal(err)
	}
	const n = 5
	for i := range n {
		id := string(rune('a' + i))
		file := filepath.Join(dir, id+".wav")
		if err := os.WriteFile(file, []byte("RIFF"+strings.Repeat("x", 100)), 0o640); err != nil {
			t.Fatal(err)
		}
		if err := u.Enqueue(httpfetch.Upload{ID: id, File: file, URL: srv.URL + "/" + id + ".wav", ContentType: "audio/wav", AccountID: "acc"}); err != nil {
			t.Fatal(err)
		}
	}
	<-twoArrived
	// Every job was due at once: had the pool more workers, the others would be in flight by the
	// time the two are held, and stay so until released.
	for range 50 {
		if u.Stats().Attempts > 2 {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	close(release)
	for u.Stats().Uploaded < n {
		time.Sleep(10 * time.Millisecond)
	}
	mu.Lock()
	defer mu.Unlock()
	if most != 2 {
		t.Errorf("%d uploads in flight at once, want 2 (recordings.upload_workers)", most)
	}
	cctx, ccancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer ccancel()
	if err := u.Close(cctx); err != nil {
		t.Error(err)
	}
}
