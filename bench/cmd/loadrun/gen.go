package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os/exec"
	"strconv"
	"strings"
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
	cmd    *exec.Cmd
	done   chan error
	in     io.WriteCloser
	lines  chan string
	rcvbuf int
	errOut *strings.Builder
}

// startGen starts rtpgen on genIP:genPort (under SCHED_FIFO prio when prio > 0, like SIPp), bounded
// to bound, and waits for it to be listening.
func startGen(bin string, prio int, bound time.Duration) (*rtpGen, error) {
	c := peerCommand(context.Background(), prio, bin, "-listen", fmt.Sprintf("%s:%d", genIP, genPort), "-bound", bound.String())
	g := &rtpGen{cmd: c, done: make(chan error, 1), lines: make(chan string, 4), errOut: &strings.Builder{}}
	var err error
	if g.in, err = c.StdinPipe(); err != nil {
		return nil, err
	}
	out, err := c.StdoutPipe()
	if err != nil {
		return nil, err
	}
	c.Stderr = g.errOut
	if err := live.start(c); err != nil {
		return nil, err
	}
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			g.lines <- sc.Text()
		}
		close(g.lines)
		g.done <- c.Wait()
	}()
	var ready struct {
		Ready  bool `json:"ready"`
		RcvBuf int  `json:"rcvbuf_bytes"`
	}
	if err := g.read(&ready); err != nil || !ready.Ready {
		g.stop()
		return nil, fmt.Errorf("rtpgen did not start: %v %s", err, g.errOut.String())
	}
	g.rcvbuf = ready.RcvBuf
	return g, nil
}

func (g *rtpGen) read(v any) error {
	select {
	case l, ok := <-g.lines:
		if !ok {
			return fmt.Errorf("rtpgen exited")
		}
		return json.Unmarshal([]byte(l), v)
	case <-time.After(30 * time.Second): // a box overloaded by SIPp's UAS (a thread per call) stalls it for seconds
		return fmt.Errorf("rtpgen did not answer in 30 s")
	}
}

// mark ends the generator's current window and returns what it measured in it.
func (g *rtpGen) mark() (*genwindow.Window, error) {
	if _, err := io.WriteString(g.in, "mark\n"); err != nil {
		return nil, err
	}
	w := new(genwindow.Window)
	if err := g.read(w); err != nil {
		return nil, err
	}
	return w, nil
}

func (g *rtpGen) pid() int { return g.cmd.Process.Pid }

// stop closes its stdin (it exits at once) and ends it by its pid if it does not.
func (g *rtpGen) stop() {
	_ = g.in.Close()
	select {
	case <-g.done:
		live.forget(g.cmd)
	case <-time.After(3 * time.Second):
		live.stop(g.cmd, time.Second, g.done)
	}
}

func (g *rtpGen) String() string { return "rtpgen pid " + strconv.Itoa(g.pid()) }
