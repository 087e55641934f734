package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os/exec"
	"strings"
	"time"

	"github.com/pivotua/pivotua/bench/internal/genwindow"
)

// echoApp is one running streamecho (bench/cmd/streamecho), the media streams application of the
// streams level, driven through its stdin like rtpgen ("mark" -> one JSON line).
type echoApp struct {
	cmd    *exec.Cmd
	done   chan error
	in     io.WriteCloser
	lines  chan string
	url    string // ws://.../echo, what <Stream url> names
	errOut *strings.Builder
}

// startEcho starts streamecho on uaIP (a port of its own), bounded to bound, and waits for it to
// listen. It runs at normal priority whatever BENCH_PEER_PRIO says: it stands for the
// application, which shares the box as an application would.
func startEcho(bin string, bound time.Duration) (*echoApp, error) {
	c := exec.CommandContext(context.Background(), bin, "-listen", uaIP+":0", "-bound", bound.String())
	a := &echoApp{cmd: c, done: make(chan error, 1), lines: make(chan string, 4), errOut: &strings.Builder{}}
	var err error
	if a.in, err = c.StdinPipe(); err != nil {
		return nil, err
	}
	out, err := c.StdoutPipe()
	if err != nil {
		return nil, err
	}
	c.Stderr = a.errOut
	if err := live.start(c); err != nil {
		return nil, err
	}
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			a.lines <- sc.Text()
		}
		close(a.lines)
		a.done <- c.Wait()
	}()
	var ready struct {
		Ready bool   `json:"ready"`
		URL   string `json:"url"`
	}
	if err := a.read(&ready); err != nil || !ready.Ready {
		a.stop()
		return nil, fmt.Errorf("streamecho did not start: %v %s", err, a.errOut.String())
	}
	a.url = ready.URL
	return a, nil
}

func (a *echoApp) read(v any) error {
	select {
	case l, ok := <-a.lines:
		if !ok {
			return fmt.Errorf("streamecho exited: %s", a.errOut.String())
		}
		return json.Unmarshal([]byte(l), v)
	case <-time.After(30 * time.Second):
		return fmt.Errorf("streamecho did not answer in 30 s")
	}
}

// mark ends the application's current window and returns what it measured in it.
func (a *echoApp) mark() (*genwindow.Echo, error) {
	if _, err := io.WriteString(a.in, "mark\n"); err != nil {
		return nil, err
	}
	w := new(genwindow.Echo)
	if err := a.read(w); err != nil {
		return nil, err
	}
	return w, nil
}

func (a *echoApp) pid() int { return a.cmd.Process.Pid }

// stop closes its stdin (it exits at once) and ends it by its pid if it does not.
func (a *echoApp) stop() {
	_ = a.in.Close()
	select {
	case <-a.done:
		live.forget(a.cmd)
	case <-time.After(3 * time.Second):
		live.stop(a.cmd, time.Second, a.done)
	}
}
