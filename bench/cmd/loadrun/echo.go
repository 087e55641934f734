package main

import (
	"context"
	"os/exec"
	"time"

	"github.com/pivotua/pivotua/bench/internal/genwindow"
)

// echoApp is one running streamecho (bench/cmd/streamecho), the media streams application of the
// streams level, driven through its stdin like rtpgen ("mark" -> one JSON line).
type echoApp struct {
	*peerProc
	url string // ws://.../echo, what <Stream url> names
}

// startEcho starts streamecho on uaIP (a port of its own), bounded to bound, and waits for it to
// listen. It runs at normal priority whatever BENCH_PEER_PRIO says: it stands for the
// application, which shares the box as an application would.
func startEcho(bin string, bound time.Duration) (*echoApp, error) {
	c := exec.CommandContext(context.Background(), bin, "-listen", uaIP+":0", "-bound", bound.String())
	var ready struct {
		URL string `json:"url"`
	}
	p, err := startPeer("streamecho", c, &ready)
	if err != nil {
		return nil, err
	}
	return &echoApp{peerProc: p, url: ready.URL}, nil
}

// mark ends the application's current window and returns what it measured in it.
func (a *echoApp) mark() (*genwindow.Echo, error) {
	w := new(genwindow.Echo)
	if err := a.peerProc.mark(w); err != nil {
		return nil, err
	}
	return w, nil
}
