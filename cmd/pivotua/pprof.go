package main

import (
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"runtime"
	"strings"
)

// pprofEnv names the address of an optional profiling listener: Go's
// net/http/pprof endpoints under /debug/pprof/. It is for measuring (make bench
// saves CPU and heap profiles through it) and is off unless set; bind it to
// loopback, as the profiles show the process's internals.
const pprofEnv = "PIVOTUA_PPROF"

func startPprof(log *slog.Logger) {
	addr := os.Getenv(pprofEnv)
	if addr == "" {
		return
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		log.Error("profiling listener not started", "env", pprofEnv, "addr", addr, "err", err)
		return
	}
	// Sample the heap eight times finer than Go's default (one sample per 512 KB), so that a
	// heap profile at a thousand calls tells the per-call structures apart.
	if !strings.Contains(os.Getenv("GODEBUG"), "memprofilerate=") {
		runtime.MemProfileRate = 64 << 10
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	log.Info("profiling listener", "addr", ln.Addr().String())
	go func() { _ = http.Serve(ln, mux) }()
}
