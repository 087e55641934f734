package main

import (
	"bufio"
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// promptWAV is a 10 s 8 kHz 16-bit mono sweep, 300 to 3000 Hz: the prompt every call plays in a loop.
func promptWAV() []byte {
	const rate, secs = 8000, 10
	n := rate * secs
	b := make([]byte, 44+2*n)
	copy(b[0:], "RIFF")
	binary.LittleEndian.PutUint32(b[4:], uint32(36+2*n))
	copy(b[8:], "WAVEfmt ")
	binary.LittleEndian.PutUint32(b[16:], 16)
	binary.LittleEndian.PutUint16(b[20:], 1)
	binary.LittleEndian.PutUint16(b[22:], 1)
	binary.LittleEndian.PutUint32(b[24:], rate)
	binary.LittleEndian.PutUint32(b[28:], rate*2)
	binary.LittleEndian.PutUint16(b[32:], 2)
	binary.LittleEndian.PutUint16(b[34:], 16)
	copy(b[36:], "data")
	binary.LittleEndian.PutUint32(b[40:], uint32(2*n))
	phase := 0.0
	for i := 0; i < n; i++ {
		f := 300 + 2700*float64(i)/float64(n)
		phase += 2 * math.Pi * f / rate
		v := int16(0.4 * 32767 * math.Sin(phase))
		binary.LittleEndian.PutUint16(b[44+2*i:], uint16(v))
	}
	return b
}

// webhook is the fast local application: every pivot request gets a play of the cached prompt,
// or, for the streams level, a TwiML <Connect><Stream> to the echo application, or, for the rooms
// level, a TwiML <Dial><Conference> to one of its rooms.
type webhook struct {
	url  string
	srv  *http.Server
	hits chan struct{}
}

// startWebhook serves the prompt, and as /voice its play, or with streamURL set the TwiML of a
// bidirectional stream to it.
func startWebhook(streamURL string) (*webhook, error) {
	if streamURL == "" {
		return startWebhookDoc(nil)
	}
	doc := []byte(`<?xml version="1.0" encoding="UTF-8"?><Response><Connect><Stream url="` + streamURL + `"/></Connect></Response>`)
	return startWebhookDoc(func() []byte { return doc })
}

// startWebhookDoc serves the prompt, and as /voice the TwiML twiml returns for each request, or the
// prompt's play when twiml is nil.
func startWebhookDoc(twiml func() []byte) (*webhook, error) {
	ln, err := net.Listen("tcp", uaIP+":0")
	if err != nil {
		return nil, err
	}
	base := "http://" + ln.Addr().String()
	wav := promptWAV()
	play, _ := json.Marshal(map[string]any{"module": "play", "data": map[string]any{"id": base + "/prompt.wav", "loop_count": 1000}})
	mux := http.NewServeMux()
	mux.HandleFunc("/voice", func(w http.ResponseWriter, r *http.Request) {
		if twiml == nil {
			w.Header().Set("Content-Type", "application/json")
			_, _ = w.Write(play)
			return
		}
		w.Header().Set("Content-Type", "text/xml")
		_, _ = w.Write(twiml())
	})
	mux.HandleFunc("/prompt.wav", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "audio/wav")
		w.Header().Set("Cache-Control", "public, max-age=86400")
		w.Header().Set("Content-Length", strconv.Itoa(len(wav)))
		_, _ = w.Write(wav)
	})
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	return &webhook{url: base, srv: srv}, nil
}

func (w *webhook) close() { _ = w.srv.Close() }

// pivotua is one running instance of the real binary.
type pivotua struct {
	cmd      *exec.Cmd
	done     chan error
	httpURL  string
	pprofURL string // PIVOTUA_PPROF's listener
	log      string
}

func freePort() int {
	ln, err := net.Listen("tcp", uaIP+":0")
	if err != nil {
		return 18000
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// startPivotua starts the binary with the bench's config, plus extra (YAML sections of its own, for
// the mode that needs them).
func startPivotua(ctx context.Context, bin, dir, hookURL string, rtPrio int, env []string, extra string) (*pivotua, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	httpAddr := fmt.Sprintf("%s:%d", uaIP, freePort())
	cfg := fmt.Sprintf(`sip:
  listen: ["udp://%[1]s:%[2]d"]
  max_calls: 5000
  rate_limit: {exempt_cidrs: ["%[6]s/32"]}   # SIPp is one source sending hundreds of INVITEs a second
rtp:
  ip: %[1]s
  port_min: 20000
  port_max: 40000
  media_timeout: 15s
  realtime_priority: %[7]d
http:
  listen: %[3]s
shutdown_grace: 1s
store:
  driver: sqlite
  dsn: %[4]s/pivotua.db
recordings:
  dir: %[4]s/recordings
log:
  level: warn
accounts:
  - id: 0123456789abcdef0123456789abcdef
    name: bench
    api_key: bench-key
callflows:
  - account_id: 0123456789abcdef0123456789abcdef
    patterns: [".*"]
    flow:
      module: pivot
      data: {voice_url: "%[5]s/voice", method: get, req_format: kazoo}
%[8]s`, uaIP, uaPort, httpAddr, dir, hookURL, sippIP, rtPrio, extra)
	cfgPath := filepath.Join(dir, "pivotua.yaml")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o644); err != nil {
		return nil, err
	}
	logPath := filepath.Join(dir, "pivotua.log")
	lf, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	pprofAddr := fmt.Sprintf("%s:%d", uaIP, freePort())
	c := exec.Command(bin, "serve", "--config", cfgPath)
	c.Dir, c.Stdout, c.Stderr = dir, lf, lf
	c.Env = append(append(os.Environ(), "PIVOTUA_PPROF="+pprofAddr), env...)
	if err := live.start(c); err != nil {
		lf.Close()
		return nil, err
	}
	p := &pivotua{cmd: c, done: make(chan error, 1), httpURL: "http://" + httpAddr, pprofURL: "http://" + pprofAddr, log: logPath}
	go func() { p.done <- c.Wait(); lf.Close() }()
	deadline := time.Now().Add(15 * time.Second)
	for {
		resp, err := http.Get(p.httpURL + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return p, nil
			}
		}
		select {
		case err := <-p.done:
			p.done <- err
			tail, _ := os.ReadFile(logPath)
			return nil, fmt.Errorf("pivotua exited: %v\n%s", err, tail)
		case <-ctx.Done():
			p.stop()
			return nil, ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			p.stop()
			return nil, fmt.Errorf("pivotua not ready after 15 s (log %s)", logPath)
		}
	}
}

func (p *pivotua) pid() int { return p.cmd.Process.Pid }

func (p *pivotua) stop() { live.stop(p.cmd, 5*time.Second, p.done) }

// metrics scrapes the pivotua_* counters and gauges of /metrics.
func (p *pivotua) metrics() map[string]float64 {
	out := map[string]float64{}
	c := http.Client{Timeout: 3 * time.Second}
	resp, err := c.Get(p.httpURL + "/metrics")
	if err != nil {
		return out
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		l := sc.Text()
		if !strings.HasPrefix(l, "pivotua_") {
			continue
		}
		i := strings.LastIndexByte(l, ' ')
		if i < 0 {
			continue
		}
		v, err := strconv.ParseFloat(l[i+1:], 64)
		if err == nil {
			out[l[:i]] = v
		}
	}
	return out
}

// profile saves pivotua's CPU profile over d (blocking) to path.
func (p *pivotua) profile(path string, d time.Duration) error {
	return saveURL(fmt.Sprintf("%s/debug/pprof/profile?seconds=%d", p.pprofURL, int(d.Seconds())), path, d+10*time.Second)
}

// allocs saves what pivotua allocated over d (blocking; a delta profile) to path.
func (p *pivotua) allocs(path string, d time.Duration) error {
	return saveURL(fmt.Sprintf("%s/debug/pprof/allocs?seconds=%d", p.pprofURL, int(d.Seconds())), path, d+10*time.Second)
}

// heap saves pivotua's heap profile to base.heap.pprof, and beside it the
// runtime's memory statistics (base.memstats.txt: where RSS goes besides the
// heap, e.g. stacks) and its goroutines grouped by stack (base.goroutines.txt).
func (p *pivotua) heap(base string) error {
	if err := saveURL(p.pprofURL+"/debug/pprof/heap", base+".heap.pprof", 10*time.Second); err != nil {
		return err
	}
	if err := saveURL(p.pprofURL+"/debug/pprof/heap?debug=1", base+".memstats.txt", 10*time.Second); err != nil {
		return err
	}
	return saveURL(p.pprofURL+"/debug/pprof/goroutine?debug=1", base+".goroutines.txt", 10*time.Second)
}

func saveURL(url, path string, timeout time.Duration) error {
	c := http.Client{Timeout: timeout}
	resp, err := c.Get(url)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		return fmt.Errorf("%s: %s", url, resp.Status)
	}
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	return os.WriteFile(path, b, 0o644)
}

// rig is what the setup, soak and Calls API parts measure against: rtpgen answering the RTP, the
// webhook serving the prompt's play, and pivotua fetching it.
type rig struct {
	gen  *rtpGen
	hook *webhook
	ua   *pivotua
}

// startRig starts rtpgen (which exits by itself after genBound), the webhook and pivotua (with extra
// config sections); stop ends them, pivotua first.
func startRig(ctx context.Context, o options, bin, genBin, dir string, genBound time.Duration, extra string) (*rig, error) {
	gen, err := startGen(genBin, o.peerPrio, genBound)
	if err != nil {
		return nil, err
	}
	hook, err := startWebhook("")
	if err != nil {
		gen.stop()
		return nil, err
	}
	ua, err := startPivotua(ctx, bin, dir, hook.url, o.rtPrio, o.serverEnv, extra)
	if err != nil {
		hook.close()
		gen.stop()
		return nil, err
	}
	return &rig{gen: gen, hook: hook, ua: ua}, nil
}

func (r *rig) stop() {
	r.ua.stop()
	r.hook.close()
	r.gen.stop()
}
