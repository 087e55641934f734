package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os/exec"
	"strings"
	"time"
)

// peerProc is a helper program of the bench (rtpgen, streamecho) driven through its stdin: it prints
// one JSON line when it is ready, and one more for each "mark" it is sent.
type peerProc struct {
	name   string
	cmd    *exec.Cmd
	done   chan error
	in     io.WriteCloser
	lines  chan string
	errOut *strings.Builder
}

// startPeer starts c and waits for its ready line ({"ready":true,...}), which it reads into ready.
func startPeer(name string, c *exec.Cmd, ready any) (*peerProc, error) {
	p := &peerProc{name: name, cmd: c, done: make(chan error, 1), lines: make(chan string, 4), errOut: &strings.Builder{}}
	var err error
	if p.in, err = c.StdinPipe(); err != nil {
		return nil, err
	}
	out, err := c.StdoutPipe()
	if err != nil {
		return nil, err
	}
	c.Stderr = p.errOut
	if err := live.start(c); err != nil {
		return nil, err
	}
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			p.lines <- sc.Text()
		}
		close(p.lines)
		p.done <- c.Wait()
	}()
	var line json.RawMessage
	var is struct {
		Ready bool `json:"ready"`
	}
	if err := p.read(&line); err == nil {
		err = json.Unmarshal(line, &is)
	}
	if err == nil && is.Ready {
		err = json.Unmarshal(line, ready)
	} else if err == nil {
		err = fmt.Errorf("its first line is not ready: %s", line)
	}
	if err != nil {
		p.stop()
		return nil, fmt.Errorf("%s did not start: %v %s", name, err, p.errOut.String())
	}
	return p, nil
}

// read decodes its next line into v. A box overloaded by SIPp's UAS (a thread per call) can stall
// it for seconds: it has 30 s.
func (p *peerProc) read(v any) error {
	select {
	case l, ok := <-p.lines:
		if !ok {
			return fmt.Errorf("%s exited: %s", p.name, p.errOut.String())
		}
		return json.Unmarshal([]byte(l), v)
	case <-time.After(30 * time.Second):
		return fmt.Errorf("%s did not answer in 30 s", p.name)
	}
}

// mark ends its current window and reads what it measured in it into v.
func (p *peerProc) mark(v any) error {
	if _, err := io.WriteString(p.in, "mark\n"); err != nil {
		return err
	}
	return p.read(v)
}

func (p *peerProc) pid() int { return p.cmd.Process.Pid }

// stop closes its stdin (it exits at once) and ends it by its pid if it does not.
func (p *peerProc) stop() {
	_ = p.in.Close()
	select {
	case <-p.done:
		live.forget(p.cmd)
	case <-time.After(3 * time.Second):
		live.stop(p.cmd, time.Second, p.done)
	}
}
