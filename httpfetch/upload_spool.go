package httpfetch

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// Spool layout: one JSON file per pending job, <id>.job. A job is written
// to a hidden temporary file, synced and renamed into place, so a crash
// leaves either the whole job or a stray temporary file that Start sweeps
// away (its Enqueue never returned, so nobody was told it was saved).
// Jobs that can never succeed are renamed to <id>.job.failed and left for
// an operator.
const (
	jobSuffix    = ".job"
	failedSuffix = ".failed"
	tmpSuffix    = ".tmp"
	// staleTmpAge is how old a temporary file must be before Start removes
	// it, so an Enqueue racing with Start keeps its file.
	staleTmpAge = 10 * time.Minute
)

// spoolRecord is the on-disk form of a job.
type spoolRecord struct {
	Version     int               `json:"version"`
	ID          string            `json:"id"`
	File        string            `json:"file"`
	URL         string            `json:"url"`
	Method      string            `json:"method"`
	ContentType string            `json:"content_type"`
	CallID      string            `json:"call_id,omitempty"`
	AccountID   string            `json:"account_id,omitempty"`
	Header      map[string]string `json:"header,omitempty"`
	Enqueued    time.Time         `json:"enqueued"`
}

const spoolVersion = 1

func (u *Uploader) jobPath(id string) string {
	return filepath.Join(u.spoolDir, id+jobSuffix)
}

// writeJob persists job: temporary file, fsync, rename, fsync of the
// directory. The file is private (0600): the URL may carry credentials.
func (u *Uploader) writeJob(job *uploadJob) (err error) {
	data, err := json.MarshalIndent(spoolRecord{
		Version:     spoolVersion,
		ID:          job.up.ID,
		File:        job.up.File,
		URL:         job.up.URL,
		Method:      job.up.Method,
		ContentType: job.up.ContentType,
		CallID:      job.up.CallID,
		AccountID:   job.up.AccountID,
		Header:      job.up.Header,
		Enqueued:    job.enqueued.UTC(),
	}, "", "  ")
	if err != nil {
		return fmt.Errorf("upload spool: %w", err)
	}
	tmp, err := os.CreateTemp(u.spoolDir, "."+job.up.ID+".*"+tmpSuffix)
	if err != nil {
		return fmt.Errorf("upload spool: %w", err)
	}
	defer func() {
		if err != nil {
			tmp.Close()
			os.Remove(tmp.Name())
			err = fmt.Errorf("upload spool: saving job %s: %w", job.up.ID, err)
		}
	}()
	if _, err = tmp.Write(append(data, '\n')); err != nil {
		return err
	}
	if err = tmp.Sync(); err != nil {
		return err
	}
	if err = tmp.Close(); err != nil {
		return err
	}
	if err = os.Rename(tmp.Name(), u.jobPath(job.up.ID)); err != nil {
		return err
	}
	return syncDir(u.spoolDir)
}

// removeJob deletes a delivered job's file.
func (u *Uploader) removeJob(id string) error {
	if err := os.Remove(u.jobPath(id)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	return syncDir(u.spoolDir)
}

// failJob renames a job that can never succeed to <id>.job.failed and
// returns that path.
func (u *Uploader) failJob(id string) (string, error) {
	return u.moveAside(u.jobPath(id))
}

func (u *Uploader) moveAside(path string) (string, error) {
	aside := path + failedSuffix
	if err := os.Rename(path, aside); err != nil {
		return aside, err
	}
	return aside, syncDir(u.spoolDir)
}

// loadSpool adds every job file in the spool that is not already pending
// (Enqueue before Start adds its own), moves aside files it cannot read as
// a job, and removes stale temporary files. It returns how many jobs it
// added.
func (u *Uploader) loadSpool() (int, error) {
	entries, err := os.ReadDir(u.spoolDir)
	if err != nil {
		return 0, fmt.Errorf("upload spool: %w", err)
	}
	loaded := 0
	for _, e := range entries {
		name := e.Name()
		path := filepath.Join(u.spoolDir, name)
		switch {
		case !e.Type().IsRegular():
		case strings.HasPrefix(name, ".") && strings.HasSuffix(name, tmpSuffix):
			if fi, err := e.Info(); err == nil && time.Since(fi.ModTime()) > staleTmpAge {
				os.Remove(path)
			}
		case strings.HasSuffix(name, jobSuffix):
			job, err := readJob(path)
			if err != nil {
				aside, moveErr := u.moveAside(path)
				u.log.Error("unreadable upload job moved aside", "job", aside, "error", err, "move_error", moveErr)
				u.mu.Lock()
				u.stats.Failed++
				u.mu.Unlock()
				u.emit(UploadEvent{Kind: UploadFailed, ID: strings.TrimSuffix(name, jobSuffix), Err: err})
				continue
			}
			u.mu.Lock()
			_, known := u.jobs[job.up.ID]
			if !known {
				job.ready, job.next = true, time.Now()
				u.addJobLocked(job)
			}
			u.mu.Unlock()
			if known {
				continue
			}
			loaded++
			u.log.Info("upload found in spool", "upload_id", job.up.ID, "call_id", job.up.CallID,
				"account_id", job.up.AccountID, "url", uploadLogURL(job.up.URL), "enqueued", job.enqueued)
			u.emit(UploadEvent{Kind: UploadQueued, ID: job.up.ID, CallID: job.up.CallID, AccountID: job.up.AccountID})
		}
	}
	return loaded, nil
}

// readJob parses and validates one job file; its name must match its ID.
func readJob(path string) (*uploadJob, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var rec spoolRecord
	if err := json.Unmarshal(data, &rec); err != nil {
		return nil, err
	}
	if rec.Version != spoolVersion {
		return nil, fmt.Errorf("job format version %d, want %d", rec.Version, spoolVersion)
	}
	up, err := normalizeUpload(Upload{
		ID: rec.ID, File: rec.File, URL: rec.URL, Method: rec.Method, ContentType: rec.ContentType,
		CallID: rec.CallID, AccountID: rec.AccountID, Header: rec.Header,
	})
	if err != nil {
		return nil, err
	}
	if filepath.Base(path) != up.ID+jobSuffix {
		return nil, fmt.Errorf("job ID %q does not match its file name", up.ID)
	}
	return &uploadJob{up: up, enqueued: rec.Enqueued}, nil
}

// syncDir fsyncs a directory so a rename or removal in it is durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
