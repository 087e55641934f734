package main

// End-to-end tests of the HTTP listener against hostile clients: the real binary, raw TCP
// connections that dribble, idle, hoard connections or send oversized headers, api_key guessing,
// and the recordings retention purge around the upload spool and a live call.

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/pivotua/pivotua/internal/testkit"
	"github.com/pivotua/pivotua/internal/testkit/sipptest"
	"github.com/pivotua/pivotua/recordings"
)

// httpHostPort is the host:port of p's HTTP listener.
func (p *pivotuaInstance) httpHostPort() string { return strings.TrimPrefix(p.httpURL, "http://") }

// dialHTTP opens a raw TCP connection to p's HTTP listener.
func dialHTTP(t *testing.T, p *pivotuaInstance) net.Conn {
	t.Helper()
	c, err := net.DialTimeout("tcp", p.httpHostPort(), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// closedBy reports, on the channel it returns, when the server closes c (what it sent is discarded).
func closedBy(c net.Conn) <-chan struct{} {
	done := make(chan struct{})
	go func() {
		_, _ = io.Copy(io.Discard, c)
		close(done)
	}()
	return done
}

// dribbleUntilCut writes prefix, then one byte every 100 ms for up to limit, and returns how long
// the server took to close the connection, or false if it never did.
func dribbleUntilCut(t *testing.T, p *pivotuaInstance, prefix string, b byte, limit time.Duration) (time.Duration, bool) {
	t.Helper()
	c := dialHTTP(t, p)
	closed := closedBy(c)
	start := time.Now()
	if _, err := io.WriteString(c, prefix); err != nil {
		t.Fatal(err)
	}
	for time.Since(start) < limit {
		select {
		case <-closed:
			return time.Since(start), true
		case <-time.After(100 * time.Millisecond):
		}
		_, _ = c.Write([]byte{b}) // fails once the server has gone; closed then says so
	}
	return 0, false
}

func TestE2EHostileHTTPSlowClientsAreCut(t *testing.T) {
	needE2E(t)
	p := startPivotua(t, map[string]any{"module": "hangup"}, func(c *Config) {
		c.HTTP.ReadTimeout, c.HTTP.IdleTimeout = "2s", "2s"
	})
	const limit = 15 * time.Second
	t.Run("headers dribbled", func(t *testing.T) {
		took, cut := dribbleUntilCut(t, p, "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ", 'a', limit)
		if !cut {
			t.Fatalf("a client dribbling its headers byte by byte was still connected after %v (read_timeout 2s)", limit)
		}
		if took < 1500*time.Millisecond {
			t.Errorf("cut after %v, before read_timeout (2s): for something else than slowness?", took)
		}
		t.Logf("headers dribbled: cut after %v", took.Round(time.Millisecond))
	})
	t.Run("body dribbled", func(t *testing.T) {
		took, cut := dribbleUntilCut(t, p, "PUT /v2/api_auth HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"+
			"Content-Length: 100000\r\n\r\n", ' ', limit)
		if !cut {
			t.Fatalf("a client dribbling a PUT /v2/api_auth body byte by byte was still connected after %v (read_timeout 2s)", limit)
		}
		if took < 1500*time.Millisecond {
			t.Errorf("cut after %v, before read_timeout (2s)", took)
		}
		t.Logf("body dribbled: cut after %v", took.Round(time.Millisecond))
	})
	t.Run("idle keep-alive", func(t *testing.T) {
		c := dialHTTP(t, p)
		if _, err := io.WriteString(c, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
			t.Fatal(err)
		}
		br := bufio.NewReader(c)
		res, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, res.Body)
		res.Body.Close()
		start := time.Now()
		c.SetReadDeadline(time.Now().Add(limit))
		if _, err := br.ReadByte(); err != io.EOF {
			t.Fatalf("an idle keep-alive connection was not closed by the server within %v (idle_timeout 2s): %v", limit, err)
		}
		t.Logf("idle keep-alive: closed after %v", time.Since(start).Round(time.Millisecond))
	})
}

func TestE2EHostileHTTPOversizedHeaderGets431(t *testing.T) {
	needE2E(t)
	p := startPivotua(t, map[string]any{"module": "hangup"}) // http.max_header_bytes: the default, 32 KiB
	for _, tc := range []struct {
		size int
		want int
	}{{16 << 10, http.StatusOK}, {64 << 10, http.StatusRequestHeaderFieldsTooLarge}} {
		req, _ := http.NewRequest(http.MethodGet, p.httpURL+"/healthz", nil)
		req.Header.Set("X-Big", strings.Repeat("a", tc.size))
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatalf("%d-byte header: %v", tc.size, err)
		}
		res.Body.Close()
		if res.StatusCode != tc.want {
			t.Errorf("%d-byte header: %d, want %d", tc.size, res.StatusCode, tc.want)
		}
	}
}

func TestE2EHostileHTTPConnectionCap(t *testing.T) {
	needE2E(t)
	const maxConns = 3
	p := startPivotua(t, map[string]any{"module": "hangup"}, func(c *Config) { c.HTTP.MaxConnections = maxConns })
	http.DefaultClient.CloseIdleConnections() // the start-up probe's connection gives its slot back

	// maxConns keep-alive connections, each past one request so the server surely holds it.
	held := make([]net.Conn, maxConns)
	for i := range held {
		held[i] = dialHTTP(t, p)
		if _, err := io.WriteString(held[i], "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
			t.Fatal(err)
		}
		held[i].SetReadDeadline(time.Now().Add(15 * time.Second))
		res, err := http.ReadResponse(bufio.NewReader(held[i]), nil)
		if err != nil {
			t.Fatalf("held connection %d: %v", i, err)
		}
		res.Body.Close()
	}
	extra := dialHTTP(t, p)
	if _, err := io.WriteString(extra, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(extra)
	extra.SetReadDeadline(time.Now().Add(time.Second))
	if res, err := http.ReadResponse(br, nil); err == nil {
		t.Fatalf("connection %d was served (%s) while %d were open (max_connections %d)", maxConns+1, res.Status, maxConns, maxConns)
	}
	held[0].Close()
	extra.SetReadDeadline(time.Now().Add(15 * time.Second))
	res, err := http.ReadResponse(br, nil)
	if err != nil || res.StatusCode != http.StatusOK {
		t.Fatalf("the waiting connection was not served once another closed: %v", err)
	}
	res.Body.Close()
}

// A recording far larger than the socket buffers, read slowly, arrives whole although it takes
// many times http.write_timeout.
func TestE2EHostileHTTPLargeRecordingDownloadIsNotCut(t *testing.T) {
	needE2E(t)
	recDir := t.TempDir()
	p := startPivotua(t, map[string]any{"module": "hangup"}, func(c *Config) {
		c.HTTP.WriteTimeout = "1s"
		c.Recordings.Dir = recDir
	})
	const name = "big-call-1700000000000000000.wav"
	data := make([]byte, 8<<20)
	rand.Read(data)
	if err := os.MkdirAll(filepath.Join(recDir, e2eAccount), 0o750); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(recDir, e2eAccount, name), data, 0o640); err != nil {
		t.Fatal(err)
	}
	// A small receive buffer, so the server's writes wait on this reader.
	d := net.Dialer{Control: func(_, _ string, rc syscall.RawConn) error {
		return rc.Control(func(fd uintptr) { _ = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 16<<10) })
	}}
	c, err := d.Dial("tcp", p.httpHostPort())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	path := "/recordings/" + e2eAccount + "/" + recordings.Token("e2e-key", e2eAccount, name) + "/" + name
	fmt.Fprintf(c, "GET %s HTTP/1.1\r\nHost: x\r\n\r\n", path)
	res, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil || res.StatusCode != http.StatusOK {
		t.Fatalf("GET the recording: %v %v", res, err)
	}
	start := time.Now()
	var got bytes.Buffer
	buf := make([]byte, 32<<10)
	for {
		n, err := res.Body.Read(buf)
		got.Write(buf[:n])
		if err != nil {
			break
		}
		time.Sleep(10 * time.Millisecond) // slower than loopback by far
	}
	took := time.Since(start)
	if got.Len() != len(data) || sha256.Sum256(got.Bytes()) != sha256.Sum256(data) {
		t.Fatalf("a slow download of %d bytes was cut at %d after %v (write_timeout 1s)", len(data), got.Len(), took)
	}
	t.Logf("%d MiB read in %v with write_timeout 1s", len(data)>>20, took.Round(time.Millisecond))
}

func TestE2EHostileHTTPAPIAuthThrottle(t *testing.T) {
	needE2E(t)
	p := startPivotua(t, map[string]any{"module": "hangup"})
	put := func(from, key string) (int, string, map[string]any) {
		t.Helper()
		d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(from)}}
		c := &http.Client{Transport: &http.Transport{DialContext: d.DialContext}}
		req, _ := http.NewRequest(http.MethodPut, p.httpURL+"/v2/api_auth", strings.NewReader(`{"data":{"api_key":"`+key+`"}}`))
		res, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		var env map[string]any
		if err := json.NewDecoder(res.Body).Decode(&env); err != nil {
			t.Fatalf("answer from %s is not an envelope: %v", from, err)
		}
		return res.StatusCode, res.Header.Get("Retry-After"), env
	}
	for i := range 5 {
		if code, _, _ := put("127.0.0.1", fmt.Sprintf("guess-%d", i)); code != http.StatusUnauthorized {
			t.Fatalf("wrong key %d: %d, want 401", i+1, code)
		}
	}
	code, retry, env := put("127.0.0.1", "e2e-key")
	if code != http.StatusTooManyRequests || retry == "" || env["status"] != "error" || env["error"] != "429" {
		t.Fatalf("the sixth try from the guessing address: %d Retry-After %q %v, want 429 in the error envelope", code, retry, env)
	}
	if code, _, env := put("127.0.0.2", "e2e-key"); code != http.StatusCreated || env["auth_token"] == "" {
		t.Fatalf("the right key from another address: %d %v, want 201 and a token", code, env)
	}
}

// Recordings older than recordings.retention go; one the upload spool still has to send and one of
// a call in progress stay, the latter until the call ends.
func TestE2EHostileHTTPRecordingRetention(t *testing.T) {
	needE2E(t)
	recDir := t.TempDir()
	acc := filepath.Join(recDir, e2eAccount)
	old := time.Now().Add(-2 * time.Hour)
	write := func(name string, mtime time.Time) string {
		t.Helper()
		path := filepath.Join(acc, name)
		if err := os.MkdirAll(acc, 0o750); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte("RIFF"), 0o640); err != nil {
			t.Fatal(err)
		}
		if err := os.Chtimes(path, mtime, mtime); err != nil {
			t.Fatal(err)
		}
		return path
	}
	exists := func(path string) bool { _, err := os.Stat(path); return err == nil }
	waitGone := func(path, what string) {
		t.Helper()
		for deadline := time.Now().Add(20 * time.Second); exists(path); time.Sleep(100 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("%s %s was not purged", what, filepath.Base(path))
			}
		}
	}

	// An upload target that refuses: the spooled recording stays pending.
	var attempts atomic.Int32
	refusing := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		attempts.Add(1)
		http.Error(w, "try later", http.StatusServiceUnavailable)
	}))
	defer refusing.Close()
	oldFile := write("ended-1-1700000000000000000.wav", old)
	recent := write("recent-1-1700000000000000000.wav", time.Now())
	spooled := write("spooled-1-1700000000000000000.wav", old)
	job, _ := json.Marshal(map[string]any{
		"version": 1, "id": "spooled-1", "file": spooled, "url": refusing.URL + "/spooled-1.wav", "method": "PUT",
		"content_type": "audio/wav", "account_id": e2eAccount, "enqueued": old,
	})
	if err := os.MkdirAll(filepath.Join(recDir, ".spool"), 0o750); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(recDir, ".spool", "spooled-1.job"), job, 0o600); err != nil {
		t.Fatal(err)
	}

	hook := newWebhook(t, func(*webhook) any {
		return map[string]any{"module": "sleep", "data": map[string]any{"duration": 20, "unit": "s"}}
	})
	p := startPivotua(t, pivotFlow(hook.URL+"/voice", nil), func(c *Config) {
		c.Recordings.Dir, c.Recordings.Retention = recDir, "20s" // purged every 2 s
	})
	waitGone(oldFile, "an old recording")
	if !exists(recent) || !exists(spooled) {
		t.Fatalf("purged too much: recent %v, spooled %v", exists(recent), exists(spooled))
	}

	callDone := make(chan struct{})
	go func() {
		defer close(callDone)
		_ = runSIPp(t, p, "uac_call.xml", sipptest.Data{RTPPort: testkit.FreePort(t), Codec: 0}) // ends unanswered: not our concern
	}()
	var callID string
	for deadline := time.Now().Add(15 * time.Second); callID == ""; time.Sleep(50 * time.Millisecond) {
		if reqs := hook.received(); len(reqs) > 0 {
			callID = reqs[0].Get("Call-ID")
		}
		if time.Now().After(deadline) {
			t.Fatalf("the call's webhook was never asked:\n%s", p.logs())
		}
	}
	liveFile := write(recordings.CallPart(callID)+"-1700000000000000000.wav", old)
	sentinel := write("sentinel-1-1700000000000000000.wav", old)
	waitGone(sentinel, "an old recording written beside the live call's")
	select {
	case <-callDone:
		t.Fatal("the call ended before the purge ran: the test proves nothing")
	default:
	}
	if !exists(liveFile) {
		t.Fatalf("a recording of the live call %s was purged", callID)
	}
	<-callDone
	waitGone(liveFile, "the ended call's old recording")
	if !exists(spooled) {
		t.Fatal("a recording still waiting in the upload spool was purged")
	}
	if attempts.Load() == 0 {
		t.Error("the spooled upload was never tried: the test's spool job was not loaded")
	}
}
