package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"path/filepath"
	"sync/atomic"
	"time"

	"github.com/pivotua/pivotua/codec"
	"github.com/pivotua/pivotua/flow"
	"github.com/pivotua/pivotua/httpfetch"
	"github.com/pivotua/pivotua/media"
	"github.com/pivotua/pivotua/sip"
)

// drainGrace is how long live calls may go on after SIGTERM before they get BYE.
const drainGrace = 30 * time.Second

// serve runs pivotua until ctx ends, then drains: new INVITEs get 503, live
// calls get up to drainGrace, and whatever is left is hung up.
func serve(ctx context.Context, s *Settings, log *slog.Logger) error {
	// Opened first so its deferred Close runs last: every debug record of the
	// last calls is flushed after SIP and media have stopped.
	debug, err := openDebug(ctx, s, log)
	if err != nil {
		return fmt.Errorf("debug store: %w", err)
	}
	defer debug.Close()

	engine, err := media.NewEngine(media.Config{
		IP: s.RTPIP, PortMin: s.PortMin, PortMax: s.PortMax, MediaTimeout: s.MediaTimeout, Logger: log,
	})
	if err != nil {
		return fmt.Errorf("media: %w", err)
	}
	defer engine.Close()

	fetcher := httpfetch.NewClient(httpfetch.WithUserAgent("pivotua/" + version))
	// Recordings are written under recordings.dir; the spool beside them survives restarts, and
	// whatever it holds is delivered first.
	uploads, err := httpfetch.NewUploader(filepath.Join(s.Recordings, ".spool"),
		httpfetch.WithUploadLogger(log), httpfetch.WithUploadUserAgent("pivotua/"+version))
	if err != nil {
		return fmt.Errorf("recordings: %w", err)
	}
	if err := uploads.Start(ctx); err != nil {
		return fmt.Errorf("recordings: %w", err)
	}
	accounts := make(map[string]string, len(s.Accounts))
	for id, a := range s.Accounts {
		accounts[id] = a.APIKey
	}
	advertise := s.RTPIP
	if s.ExternalIP != "" {
		advertise = netip.MustParseAddr(s.ExternalIP)
	}
	calls := flow.NewServer(flow.ServerConfig{
		Router:     flow.NewRouter(s.Routes),
		APIKeys:    accounts,
		Engine:     engine,
		Advertise:  advertise,
		Documents:  fetcher,
		Media:      fetcher,
		Speech:     codec.NewSpeechCache(s.TTSEngine, 2048),
		Debug:      debug.Record,
		Recordings: s.Recordings,
		Uploads:    uploads,
		Logger:     log,
	})

	sipSrv, err := sip.NewServer(sip.Config{
		Listen: s.SIPListen, ExternalIP: s.ExternalIP, AllowCIDRs: s.AllowCIDRs,
		MaxCalls: s.MaxCalls, UserAgent: "pivotua/" + version, Logger: log,
	}, calls.HandleCall)
	if err != nil {
		return err
	}
	if err := sipSrv.Listen(); err != nil {
		return err
	}
	defer sipSrv.Close()

	var draining atomic.Bool
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, "ok") })
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) {
		if draining.Load() {
			http.Error(w, "draining", http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "ready")
	})
	demo, err := newDemoApp("http://" + s.HTTPListen)
	if err != nil {
		return err
	}
	demo.register(mux)
	debug.Register(mux)
	ln, err := net.Listen("tcp", s.HTTPListen)
	if err != nil {
		return fmt.Errorf("http: %w", err)
	}
	httpSrv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		if err := httpSrv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("http server stopped", "error", err)
		}
	}()

	for _, l := range sipSrv.Listeners() {
		log.Info("SIP listening", "transport", l.Transport, "addr", l.Addr.String())
	}
	log.Info("HTTP listening", "addr", ln.Addr().String(), "node", s.Node, "version", version)

	<-ctx.Done()
	draining.Store(true)
	sipSrv.Drain()
	log.Info("draining: new calls get 503", "active_calls", sipSrv.ActiveCalls(), "grace", drainGrace)
	deadline := time.Now().Add(drainGrace)
	for sipSrv.ActiveCalls() > 0 && time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
	}
	if n := sipSrv.ActiveCalls(); n > 0 {
		log.Info("grace period over: hanging up", "active_calls", n)
		hctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		sipSrv.HangupAll(hctx)
		cancel()
	}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = httpSrv.Shutdown(sctx)
	if err := uploads.Close(sctx); err != nil {
		log.Warn("recording uploads still pending; they resume at the next start", "error", err)
	}
	log.Info("stopped")
	return nil
}
