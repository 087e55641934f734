package main

import (
	"context"
	"log/slog"
)

// logQueueSize is how many log records may wait for the writer; a logger blocks beyond it, so no
// line is dropped.
const logQueueSize = 4096

// queuedRecord is a record waiting to be written by h, or (flushed non-nil) a flush's marker.
type queuedRecord struct {
	h       slog.Handler
	r       slog.Record
	flushed chan struct{}
}

// queuedHandler formats and writes its records on one goroutine of the process's own (started by
// newQueuedHandler) instead of the caller's. slog's text and JSON handlers need about 3 KB of stack, and a call's
// goroutine keeps the stack it grew to for the call's life: one "call start" line in it would double
// that stack from 4 KB to 8 (flow.takeCall), at every call. Records are written in the order they were
// logged.
type queuedHandler struct {
	inner slog.Handler
	queue chan<- *queuedRecord
}

func (h queuedHandler) Enabled(ctx context.Context, l slog.Level) bool {
	return h.inner.Enabled(ctx, l)
}

// Handle queues r. The record goes by pointer: a copy in this frame (300 bytes) would be as deep.
func (h queuedHandler) Handle(_ context.Context, r slog.Record) error {
	h.queue <- &queuedRecord{h: h.inner, r: r.Clone()}
	return nil
}

func (h queuedHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return queuedHandler{inner: h.inner.WithAttrs(as), queue: h.queue}
}

func (h queuedHandler) WithGroup(name string) slog.Handler {
	return queuedHandler{inner: h.inner.WithGroup(name), queue: h.queue}
}

// newQueuedHandler starts inner's writer and returns the handler that feeds it, and flush, which
// returns once every record logged before it was written.
func newQueuedHandler(inner slog.Handler) (h slog.Handler, flush func()) {
	queue := make(chan *queuedRecord, logQueueSize)
	go func() {
		for q := range queue {
			if q.flushed != nil {
				close(q.flushed)
				continue
			}
			_ = q.h.Handle(context.Background(), q.r) // a write error has nowhere to go but the log
		}
	}()
	return queuedHandler{inner: inner, queue: queue}, func() {
		done := make(chan struct{})
		queue <- &queuedRecord{flushed: done}
		<-done
	}
}
