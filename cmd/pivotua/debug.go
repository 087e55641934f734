package main

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"sort"
	"strings"
	"time"

	"github.com/pivotua/pivotua/codec"
	"github.com/pivotua/pivotua/debugapi"
	"github.com/pivotua/pivotua/flow"
)

const (
	// purgeInterval is how often records older than store.retention are deleted (and once at start).
	purgeInterval = time.Hour
	// debugFlushTimeout bounds the flush of queued debug records at shutdown.
	debugFlushTimeout = 30 * time.Second
)

// debugService is the pivot debug side of serve: the store, the recorder that flow's exchanges go
// to, the retention purge, and the Crossbar-compatible API.
type debugService struct {
	store     *debugapi.SQLStore
	recorder  *debugapi.Recorder
	api       *debugapi.API
	media     *debugapi.MediaStore // the media API's files, which play ids name; nil: none
	node      string
	log       *slog.Logger
	stopPurge context.CancelFunc
	purged    chan struct{} // closed when the purge loop has returned
}

// openDebug opens the store of the config (migrating its schema), and starts the recorder and the
// purge loop. Close flushes and stops them. The media API's store is opened too (when
// media_store.dir is set), its uploads decoded by codec with their decoders counted by procs.
func openDebug(ctx context.Context, s *Settings, log *slog.Logger, procs *codec.ProcessLimit) (*debugService, error) {
	var media *debugapi.MediaStore
	if s.MediaStore.Dir != "" {
		var err error
		if media, err = debugapi.NewMediaStore(s.MediaStore, checkUploadedAudio(procs)); err != nil {
			return nil, err
		}
	}
	store, err := debugapi.Open(ctx, s.Store.Driver, s.StoreDSN)
	if err != nil {
		return nil, err
	}
	accounts := make([]debugapi.Account, 0, len(s.Accounts))
	for _, a := range s.Accounts {
		accounts = append(accounts, debugapi.Account{ID: a.ID, Name: a.Name, APIKey: a.APIKey})
	}
	sort.Slice(accounts, func(i, j int) bool { return accounts[i].ID < accounts[j].ID })
	retention := s.Store.Retention
	if retention <= 0 {
		retention = debugapi.DefaultRetention
	}
	purgeCtx, stopPurge := context.WithCancel(context.Background())
	d := &debugService{
		store:    store,
		recorder: debugapi.NewRecorder(store, debugapi.WithRecorderLogger(log), debugapi.WithQueueBytes(s.Store.QueueBytes)),
		api: debugapi.NewAPI(debugapi.APIConfig{
			Store: store, Accounts: accounts, Node: s.Node, Version: version, Logger: log, Media: media,
		}),
		media: media,
		node:  s.Node, log: log, stopPurge: stopPurge, purged: make(chan struct{}),
	}
	go func() {
		defer close(d.purged)
		debugapi.PurgeEvery(purgeCtx, store, retention, purgeInterval, log)
	}()
	log.Info("debug store open", "driver", s.Store.Driver, "retention", retention, "queue_bytes", s.Store.QueueBytes)
	return d, nil
}

// Record is flow's debug sink: it converts the exchange and queues it, never waiting for the store.
func (d *debugService) Record(ex flow.Exchange) {
	d.recorder.Record(exchangeRecords(ex, d.node, time.Now())...)
}

// Event is flow's sink for call events: one event record, queued like the exchanges.
func (d *debugService) Event(ev flow.Event) {
	d.recorder.Record(debugapi.Record{
		AccountID: ev.AccountID, CallID: ev.CallID, Iteration: ev.Iteration, Created: ev.At, Node: d.node,
		Kind: debugapi.KindEvent, Event: ev.Name, EventData: ev.Data,
	})
}

// checkUploadedAudio decodes an upload to the media API as a call would play it: what it cannot
// decode is refused at upload, not found out on a call.
func checkUploadedAudio(procs *codec.ProcessLimit) debugapi.AudioCheck {
	return func(ctx context.Context, data []byte, contentType string) (time.Duration, error) {
		ctx, cancel := context.WithTimeout(ctx, uploadDecodeTimeout)
		defer cancel()
		pcm, err := codec.DecodeAudioLimited(ctx, data, contentType, procs)
		if err != nil {
			return 0, err
		}
		return time.Duration(len(pcm)) * time.Second / codec.SampleRate, nil
	}
}

// uploadDecodeTimeout bounds the decode of one upload (lame on a long MP3).
const uploadDecodeTimeout = 30 * time.Second

// Register serves the API on mux.
func (d *debugService) Register(mux *http.ServeMux) { d.api.Register(mux) }

// Close writes every queued record (for up to debugFlushTimeout), stops the purge and closes the store.
func (d *debugService) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), debugFlushTimeout)
	defer cancel()
	err := d.recorder.Close(ctx)
	if err != nil {
		d.log.Error("debug records lost at shutdown", "error", err)
	}
	d.stopPurge()
	<-d.purged
	return errors.Join(err, d.store.Close())
}

// exchangeRecords turns one pivot exchange into Kazoo's debug documents: a request when one was made,
// a response when one arrived, and a json_errors or schema_errors document when the body failed to
// parse or validate. The request is dated when it was sent (now - elapsed), the rest now.
func exchangeRecords(ex flow.Exchange, node string, now time.Time) []debugapi.Record {
	base := debugapi.Record{AccountID: ex.AccountID, CallID: ex.CallID, Iteration: ex.Iteration, Node: node}
	var out []debugapi.Record
	// A successful exchange is kept only with debug: true; a failed one always is (Kazoo keeps its
	// json_errors and schema_errors documents whatever the flag; we keep every failure's records).
	keep := ex.Debug || ex.Err != nil
	if keep && (ex.Method != "" || ex.URL != "") {
		req := base
		req.Kind, req.Created = debugapi.KindRequest, now.Add(-ex.Elapsed)
		req.Method, req.URI = strings.ToLower(ex.Method), ex.URL
		req.ReqHeaders, req.ReqBody = debugapi.LowerHeaders(ex.RequestHeader), string(ex.RequestBody)
		if ex.Status == 0 && ex.Err != nil {
			req.FetchError = ex.Err.Error()
		}
		out = append(out, req)
	}
	if keep && ex.Status > 0 {
		resp := base
		resp.Kind, resp.Created = debugapi.KindResponse, now
		resp.StatusCode, resp.RespHeaders = ex.Status, debugapi.LowerHeaders(ex.ResponseHeader)
		resp.RespBody, resp.Elapsed = string(ex.ResponseBody), ex.Elapsed
		out = append(out, resp)
	}
	if ex.ErrorKind != "" {
		e := base
		e.Kind, e.Created = debugapi.KindError, now
		e.URI, e.RespBody = ex.URL, string(ex.ResponseBody)
		details := ex.Errors
		if len(details) == 0 && ex.Err != nil {
			details = []error{ex.Err}
		}
		switch ex.ErrorKind {
		case flow.ErrorKindJSON:
			e.JSONErrors = jsonErrors(details)
		default:
			e.SchemaErrors = schemaErrors(details)
		}
		out = append(out, e)
	}
	return out
}

// jsonErrors is Kazoo's json_errors: message names the failure ("invalid JSON", "invalid XML"),
// detail carries the parser's words.
func jsonErrors(details []error) *debugapi.JSONErrors {
	je := &debugapi.JSONErrors{Message: flow.ErrInvalidJSON.Error()}
	var parts []string
	for _, err := range details {
		text := err.Error()
		for _, sentinel := range []error{flow.ErrInvalidJSON, flow.ErrInvalidXML} {
			if errors.Is(err, sentinel) {
				je.Message = sentinel.Error()
				text = strings.TrimPrefix(strings.TrimPrefix(text, sentinel.Error()), ": ")
			}
		}
		if text != "" {
			parts = append(parts, text)
		}
	}
	je.Detail = strings.Join(parts, "; ")
	return je
}

// schemaErrors lays validation errors out as Kazoo does: {"<path>": {"<rule>": {"message": ...}}}.
func schemaErrors(details []error) debugapi.SchemaErrors {
	out := debugapi.SchemaErrors{}
	for _, err := range details {
		var ve *flow.ValidationError
		if errors.As(err, &ve) {
			path := ve.Path
			if path == "" {
				path = "document"
			}
			out.Add(path, schemaRule(ve.Message), ve.Message)
			continue
		}
		out.Add("document", "invalid", err.Error())
	}
	return out
}

// schemaRule names the JSON-schema rule a flow validation message breaks, as Kazoo's validator would.
func schemaRule(message string) string {
	switch {
	case message == "required":
		return "required"
	case strings.Contains(message, "URL"):
		return "format"
	case strings.HasPrefix(message, "must be one of"), strings.HasPrefix(message, "unknown module"):
		return "enum"
	case strings.HasPrefix(message, "must be at least"):
		return "minimum"
	case strings.HasPrefix(message, "must be between"):
		return "range"
	case strings.HasPrefix(message, "must be at most") && strings.HasSuffix(message, "characters"):
		return "maxLength"
	case strings.HasPrefix(message, "must be a "), strings.HasPrefix(message, "must be an "):
		return "type"
	}
	return "invalid"
}
