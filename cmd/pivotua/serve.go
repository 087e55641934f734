package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/pivotua/pivotua/callapi"
	"github.com/pivotua/pivotua/flow"
	"github.com/pivotua/pivotua/httpfetch"
	"github.com/pivotua/pivotua/internal/rtprio"
	"github.com/pivotua/pivotua/media"
	"github.com/pivotua/pivotua/mediastream"
	"github.com/pivotua/pivotua/recordings"
	"github.com/pivotua/pivotua/sip"
	"github.com/pivotua/pivotua/speech"
)

// media checks rtp.realtime_priority against its own bound, which must be the one rtprio.Raise
// takes: this line does not compile otherwise.
var _ = [1]struct{}{}[rtprio.MaxPriority-media.MaxRealtimePriority]

// serve runs pivotua until ctx ends, then drains: new INVITEs get 503, live
// calls get up to shutdown_grace, and whatever is left is hung up.
// Once everything listens, it writes a banner for people to out.
func serve(ctx context.Context, s *Settings, log *slog.Logger, out io.Writer) error {
	// One cap for lame, flite and espeak-ng together (media uploads' decodes too).
	procs := s.Media.NewProcessLimit()
	// Opened first so its deferred Close runs last: every debug record of the
	// last calls is flushed after SIP and media have stopped.
	debug, err := openDebug(ctx, s, log, procs)
	if err != nil {
		return fmt.Errorf("debug store: %w", err)
	}
	defer debug.Close()

	if s.RealtimePrio > 0 {
		if err := rtprio.Raise(s.RealtimePrio); err != nil {
			log.Warn("rtp.realtime_priority not applied: RTP pacing will suffer on a busy machine", "error", err)
		} else {
			log.Info("running under real-time scheduling", "policy", "SCHED_FIFO", "priority", s.RealtimePrio)
		}
	}

	rtpCfg := s.RTP
	rtpCfg.Logger = log
	engine, err := media.NewEngine(rtpCfg)
	if err != nil {
		return fmt.Errorf("media: %w", err)
	}
	defer engine.Close()

	// Both caches bounded by bytes.
	tts := s.TTS.NewCache(procs)
	prompts := s.Media.NewPromptCache(procs)

	var sipSrv *sip.Server // set below; metrics read it only when scraped
	met := newMetrics(metricSources{
		activeCalls: func() int {
			if sipSrv == nil {
				return 0
			}
			return sipSrv.ActiveCalls()
		},
		rtp:          engine.Totals,
		lateness:     engine.Lateness,
		debugWritten: func() uint64 { return debug.recorder.Stats().Written },
		debugStats:   debug.recorder.Stats,
		mediaBytes:   func() (int64, int64) { return prompts.Bytes(), tts.Bytes() },
		processes:    procs.Running,
		sessionExpired: func() uint64 {
			if sipSrv == nil {
				return 0
			}
			return sipSrv.SessionTimerExpired()
		},
	})

	// fetch.deny_cidrs is checked on the resolved address at connect time, for webhooks, media and uploads.
	fetcher := httpfetch.NewClient(httpfetch.WithUserAgent("pivotua/"+version), httpfetch.WithDenyCIDRs(s.DenyCIDRs))
	// Recordings are written under recordings.dir; the spool beside them survives restarts, and
	// whatever it holds is delivered first.
	uploads, err := httpfetch.NewUploader(filepath.Join(s.Recordings, ".spool"), append(s.Recording.UploaderOptions(),
		httpfetch.WithUploadLogger(log), httpfetch.WithUploadUserAgent("pivotua/"+version),
		httpfetch.WithUploadObserver(met.uploadEvent),
		httpfetch.WithUploadHTTPClient(&http.Client{Transport: httpfetch.NewGuardedTransport(s.DenyCIDRs)}))...)
	if err != nil {
		return fmt.Errorf("recordings: %w", err)
	}
	// Not ctx: recordings that end during the drain after SIGTERM must still go out.
	if err := uploads.Start(context.WithoutCancel(ctx)); err != nil {
		return fmt.Errorf("recordings: %w", err)
	}
	go reportSpoolReplay(ctx, uploads, log)
	live := recordings.NewLiveCalls()
	if s.Recording.Retention > 0 {
		// Started after the spool is loaded, so a recording waiting in it from the last run is known.
		go recordings.PurgeEvery(ctx, s.Recordings, s.Recording.Retention, uploads, live, log)
	}
	accounts := make(map[string]string, len(s.Accounts))
	for id, a := range s.Accounts {
		accounts[id] = a.APIKey
	}
	advertise := s.RTP.IP
	if s.SIP.ExternalIP != "" {
		advertise = netip.MustParseAddr(s.SIP.ExternalIP)
	}
	// Record's files are served at unguessable links on the HTTP listener.
	recordingLinks := recordings.NewServer(s.Recordings, recordings.BaseURL(s.HTTPListen, s.SIP.ExternalIP), accounts)
	recordingLinks.WriteTimeout = s.HTTPLimits.WriteTimeout

	// The SIP server comes first: flow dials its outbound legs through it.
	var calls *flow.Server
	registry := flow.NewCalls(s.API.MaxEnded, s.API.KeepEnded) // what the Calls API lists and steers
	// With postgres, every node's API sees and steers every node's calls; closed after the drain.
	closeShared, callsTable, err := shareCalls(ctx, s, debug.store, registry, log)
	if err != nil {
		return err
	}
	defer closeShared()
	sipCfg := s.SIP
	sipCfg.Egress, sipCfg.UserAgent, sipCfg.Logger = s.SIPEgress, "pivotua/"+version, log
	sipCfg.SRTP = sip.SRTPPolicy(s.RTP.SRTP)
	sipSrv, err = sip.NewServer(sipCfg, func(c *sip.InboundCall) {
		defer live.Track(c.CallID())() // its recordings are not purged meanwhile
		calls.HandleCall(c)
	})
	if err != nil {
		return err
	}
	var stored flow.MediaStore // the media API's uploads, which play and response name by id
	if debug.media != nil {
		stored = debug.media
	}
	calls = flow.NewServer(flow.ServerConfig{
		Router:  flow.NewRouter(s.Routes),
		APIKeys: accounts,
		Calls:   registry,
		Deps: flow.Deps{
			Documents: fetcher, Media: fetcher, Stored: stored, Speech: tts, Prompts: prompts,
			Debug: debug.Record, Events: debug.Event, Logger: log, Observer: met,
			Recordings: s.Recordings, Uploads: uploads, RecordingLinks: recordingLinks,
			Dial:    flow.DialDeps{Outbound: sipSrv, Trunks: s.Trunks, Engine: engine, Advertise: advertise},
			Streams: mediastream.NewClient(s.Streams, s.DenyCIDRs, "pivotua/"+version),
			// The http engine's service is reached like every webhook: fetch.deny_cidrs applies.
			Recognizer: newRecognizer(s.Speech, &http.Client{Transport: httpfetch.NewGuardedTransport(s.DenyCIDRs)}, log),
		},
	})
	// With postgres, a room lives on one node and the others' callers reach it by a SIP leg.
	if err := shareRooms(ctx, s, debug.store, callsTable, calls.Conferences(), log); err != nil {
		return err
	}
	if err := sipSrv.Listen(); err != nil {
		return err
	}
	defer sipSrv.Close()
	regs, err := startRegistrations(sipSrv, s.Registrations, met.registry)
	if err != nil {
		return err
	}
	defer regs.stop(context.Background()) // a no-op after the drain's; covers the early returns below

	var draining atomic.Bool
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", met.handler())
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, "ok") })
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) {
		if draining.Load() {
			http.Error(w, "draining", http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "ready")
		regs.report(w)
	})
	demo, err := newDemoApp("http://" + s.HTTPListen)
	if err != nil {
		return err
	}
	demo.register(mux)
	debug.Register(mux)
	recordingLinks.Register(mux)
	callsAPI := callapi.New(calls, accounts, s.API, log) // start calls, steer live ones
	callsAPI.RefuseWhile(draining.Load)
	callsAPI.Register(mux)
	debug.api.UseChannels(&channelControl{calls: calls, place: callsAPI.Place, checkTarget: sipSrv.CheckTarget}) // Kazoo's channels API
	// Twilio's Conferences and Participants resources: add, mute, hold, announce, remove a party.
	// With postgres, both answer for the rooms of every live node (conference_api_cluster.go).
	confFwd := conferencesForwarder(s, callsTable)
	callsAPI.Conferences(calls.Conferences()).CheckTargets(sipSrv.CheckTarget).Forward(confFwd).Register(mux)
	debug.api.UseConferences(&conferenceControl{rooms: calls.Conferences()}) // Kazoo's conferences API, on the same rooms
	callsAPI.Queues(calls.Queues()).Register(mux)                            // list queues and members, dequeue a member onto a new document
	debug.api.ForwardConferences(confFwd)
	ln, err := net.Listen("tcp", s.HTTPListen)
	if err != nil {
		return fmt.Errorf("http: %w", err)
	}
	ln = newLimitListener(ln, s.HTTPLimits.MaxConnections)
	if err := advertiseAPI(ctx, s, debug.store, callsTable, ln.Addr(), log); err != nil {
		return fmt.Errorf("http: %w", err)
	}
	httpSrv := newHTTPServer(mux, s.HTTPLimits)
	go func() {
		if err := httpSrv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("http server stopped", "error", err)
		}
	}()

	for _, l := range sipSrv.Listeners() {
		log.Info("SIP listening", "transport", l.Transport, "addr", l.Addr.String())
	}
	log.Info("HTTP listening", "addr", ln.Addr().String(), "node", s.Node, "version", version)
	for _, w := range s.Warnings {
		log.Warn("config: " + w)
	}
	tools := missingTools(s.TTS.Engine)
	for _, tool := range tools {
		log.Warn("helper program not installed", "program", tool, "effect", toolUse[tool])
	}
	banner{settings: s, sip: sipSrv.Listeners(), httpAddr: ln.Addr(), missingTools: tools}.write(out)

	// SIGHUP reads sip.tls's certificate again (a renewed one); live
	// connections keep theirs, and a broken file leaves the old one in use.
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	go func() {
		for {
			select {
			case <-hup:
				if s.SIP.TLS.CertFile == "" {
					log.Info("SIGHUP: nothing to reload (no sip.tls)")
				} else if err := sipSrv.ReloadTLS(); err != nil {
					log.Error("SIGHUP: TLS certificate not reloaded, the old one stays", "error", err)
				} else {
					log.Info("SIGHUP: TLS certificate reloaded", "cert_file", s.SIP.TLS.CertFile)
				}
			case <-ctx.Done():
				return
			}
		}
	}()

	<-ctx.Done()
	draining.Store(true)
	sipSrv.Drain()
	// Unregistered first, so the carriers stop sending new calls; live calls go on.
	rctx, rcancel := context.WithTimeout(context.Background(), 7*time.Second)
	regs.stop(rctx)
	rcancel()
	log.Info("draining: new calls get 503", "active_calls", sipSrv.ActiveCalls(), "grace", s.ShutdownGrace)
	drainEnd := time.Now().Add(s.ShutdownGrace)
	waitUntil(s.ShutdownGrace, func() bool { return sipSrv.ActiveCalls() == 0 && registry.LivePlaced() == 0 }, func() {
		log.Info("draining", "active_calls", sipSrv.ActiveCalls(), "grace_left", time.Until(drainEnd).Round(time.Second))
	})
	if n, placed := sipSrv.ActiveCalls(), registry.LivePlaced(); n > 0 || placed > 0 {
		log.Info("grace period over: hanging up", "active_calls", n, "placed_calls", placed)
		registry.HangupPlaced()
		hctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		sipSrv.HangupAll(hctx)
		cancel()
		waitUntil(5*time.Second, func() bool { return sipSrv.ActiveCalls() == 0 && registry.LivePlaced() == 0 }, nil)
	}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = httpSrv.Shutdown(sctx)
	// Recordings of the last calls get a moment to go out; whatever remains stays in the spool.
	waitUntil(10*time.Second, func() bool { return uploads.Stats().Pending == 0 }, func() {
		log.Info("waiting for recording uploads", "pending", uploads.Stats().Pending)
	})
	uctx, ucancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer ucancel()
	if err := uploads.Close(uctx); err != nil {
		log.Warn("recording uploads still pending; they resume at the next start", "error", err)
	}
	log.Info("stopped")
	return nil
}

// progressEvery is how often a long wait (the drain, the upload spool) logs where it is.
const progressEvery = 5 * time.Second

// waitUntil polls done until it holds or d has passed, calling progress (if
// not nil) every progressEvery meanwhile.
func waitUntil(d time.Duration, done func() bool, progress func()) {
	next := time.Now().Add(progressEvery)
	for end := time.Now().Add(d); !done() && time.Now().Before(end); {
		time.Sleep(50 * time.Millisecond)
		if progress != nil && time.Now().After(next) {
			progress()
			next = next.Add(progressEvery)
		}
	}
}

// reportSpoolReplay logs, while recordings left in the spool by an earlier run are being delivered, how
// many remain, and once when they are all out.
func reportSpoolReplay(ctx context.Context, uploads *httpfetch.Uploader, log *slog.Logger) {
	if uploads.Stats().Pending == 0 {
		return
	}
	t := time.NewTicker(6 * progressEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if n := uploads.Stats().Pending; n > 0 {
			log.Info("upload spool replay", "pending", n)
			continue
		}
		log.Info("upload spool replay done: every recording delivered")
		return
	}
}

// newRecognizer is the speech: section's engine as flow takes it: nil (no engine) stays a nil
// interface, so flow sees "not configured". A missing offline engine is a warning: pivotua runs,
// and each speech input says why it heard nothing.
func newRecognizer(s speech.Settings, hc *http.Client, log *slog.Logger) flow.SpeechRecognizer {
	if s.Engine == speech.EnginePocketsphinx {
		if _, err := exec.LookPath(s.Command); err != nil {
			log.Warn("speech: the offline engine is not installed (Debian: pocketsphinx pocketsphinx-en-us); speech input will hear nothing", "command", s.Command)
		}
	}
	if r := s.New(hc); r != nil {
		return r
	}
	return nil
}
