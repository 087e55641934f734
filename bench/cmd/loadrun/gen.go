package main

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/pivotua/pivotua/bench/internal/genwindow"
)

// genPacing is the window's figures in the form the tables print, measured by the generator.
func genPacing(w *genwindow.Window) *Pacing {
	return &Pacing{Source: "rtpgen", Streams: w.Streams, Packets: int(w.RxAudio), Deltas: int(w.Deltas), MeanMs: w.MeanMs,
		DevP50Ms: w.DevP50Ms, DevP99Ms: w.DevP99Ms, DevP999Ms: w.DevP999Ms, MaxDeltaMs: w.MaxDeltaMs,
		Expected: int(w.Expected), Lost: int(w.Lost), LossPct: w.LossPct}
}

// rtpGen is one running rtpgen, driven through its stdin ("mark" -> one JSON line).
type rtpGen struct {
	*peerProc
	rcvbuf int
}

// startGen starts rtpgen on genIP:genPort (under SCHED_FIFO prio when prio > 0, like SIPp), bounded
// to bound, and waits for it to be listening.
func startGen(bin string, prio int, bound time.Duration) (*rtpGen, error) {
	c := peerCommand(context.Background(), prio, bin, "-listen", fmt.Sprintf("%s:%d", genIP, genPort), "-bound", bound.String())
	var ready struct {
		RcvBuf int `json:"rcvbuf_bytes"`
	}
	p, err := startPeer("rtpgen", c, &ready)
	if err != nil {
		return nil, err
	}
	return &rtpGen{peerProc: p, rcvbuf: ready.RcvBuf}, nil
}

// mark ends the generator's current window and returns what it measured in it.
func (g *rtpGen) mark() (*genwindow.Window, error) {
	w := new(genwindow.Window)
	if err := g.peerProc.mark(w); err != nil {
		return nil, err
	}
	return w, nil
}

func (g *rtpGen) String() string { return "rtpgen pid " + strconv.Itoa(g.pid()) }
