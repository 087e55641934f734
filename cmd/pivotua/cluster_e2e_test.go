package main

// The cluster test: Kamailio, run on deploy/kamailio/kamailio.cfg as shipped, spreads SIPp's calls over
// two pivotua nodes on their own loopback addresses that share one PostgreSQL store. One node drains
// mid-run, comes back, then dies mid-run; calls must keep landing on the other.

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/pivotua/pivotua/internal/testkit"
	"github.com/pivotua/pivotua/internal/testkit/pgtest"
	"github.com/pivotua/pivotua/internal/testkit/sipptest"
)

const (
	kamailioIP = "127.0.0.10"
	// How Kamailio runs in the test (-A defines of kamailio.cfg): probe every second, give up on a
	// request without any reply after one (ANSWER_TIMEOUT: on a call without an answer after ten).
	clusterPingInterval = time.Second
	clusterNodeTimeout  = time.Second
)

// kamailio is the load balancer in front of the nodes, started by the test.
type kamailio struct {
	addr string
	cmd  *exec.Cmd
	log  *stampedLog
}

func (k *kamailio) sipAddr() string { return k.addr }
func (k *kamailio) logs() string    { return k.log.String() }

// startKamailio runs the shipped config in the foreground with nodes in its dispatcher list,
// listening and reaching the nodes over transport ("udp" or "tcp").
func startKamailio(t *testing.T, transport string, nodes ...*pivotuaInstance) *kamailio {
	t.Helper()
	if _, err := exec.LookPath("kamailio"); err != nil {
		t.Fatal("kamailio is not installed: run `make deps` (Debian package kamailio)")
	}
	// Not t.TempDir: the control socket's path must fit a sockaddr_un (108 bytes).
	dir, err := os.MkdirTemp("", "kam")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	var list strings.Builder
	param := ""
	if transport == "tcp" {
		param = ";transport=tcp"
	}
	for _, n := range nodes {
		fmt.Fprintf(&list, "1 sip:%s%s 0\n", n.sipAddr(), param)
	}
	listPath := filepath.Join(dir, "dispatcher.list")
	if err := os.WriteFile(listPath, []byte(list.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, err := filepath.Abs(filepath.Join("..", "..", "deploy", "kamailio", "kamailio.cfg"))
	if err != nil {
		t.Fatal(err)
	}
	k := &kamailio{addr: fmt.Sprintf("%s:%d", kamailioIP, testkit.FreePortOn(t, kamailioIP)), log: &stampedLog{}}
	// -DD: stay in the foreground; -E: log to stderr; -n 2: two workers are plenty here.
	k.cmd = exec.Command("kamailio", "-f", cfg, "-DD", "-E", "-n", "2", "-Y", dir, "-P", filepath.Join(dir, "kamailio.pid"),
		"-A", "LISTEN="+transport+":"+k.addr,
		"-A", "TCP_SOURCE="+kamailioIP, // the test's Kamailio is on a second loopback address
		"-A", fmt.Sprintf("DISPATCHER_LIST=%q", listPath),
		"-A", fmt.Sprintf("CTL_SOCKET=%q", "unix:"+filepath.Join(dir, "ctl")),
		"-A", fmt.Sprintf("PING_INTERVAL=%d", int(clusterPingInterval.Seconds())),
		"-A", fmt.Sprintf("NODE_TIMEOUT=%d", clusterNodeTimeout.Milliseconds()),
		"-A", "ANSWER_TIMEOUT=10000")
	k.cmd.Stdout, k.cmd.Stderr = k.log, k.log
	k.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true} // its workers go with it
	if err := k.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		pgid := -k.cmd.Process.Pid
		_ = syscall.Kill(pgid, syscall.SIGTERM)
		done := make(chan struct{})
		go func() { _ = k.cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			_ = syscall.Kill(pgid, syscall.SIGKILL)
			<-done
		}
	})
	// Kamailio answers OPTIONS to itself once its workers run.
	var probeErr error
	for range 20 {
		if probeErr = runSIPp(t, k, "options.xml", sipptest.Data{}, "-t", transportFlag(transport)); probeErr == nil {
			return k
		}
		time.Sleep(250 * time.Millisecond)
	}
	t.Fatalf("kamailio did not come up: %v", probeErr)
	return nil
}

// transportFlag is SIPp's -t for transport: one socket for all calls.
func transportFlag(transport string) string {
	if transport == "tcp" {
		return "t1"
	}
	return "u1"
}

// stampedLog keeps a process's log lines with the time each arrived, to tell when it acted.
type stampedLog struct {
	mu      sync.Mutex
	partial []byte
	lines   []stampedLine
}

type stampedLine struct {
	at   time.Time
	text string
}

func (l *stampedLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := time.Now()
	l.partial = append(l.partial, p...)
	for {
		i := bytes.IndexByte(l.partial, '\n')
		if i < 0 {
			return len(p), nil
		}
		l.lines = append(l.lines, stampedLine{now, string(l.partial[:i])})
		l.partial = l.partial[i+1:]
	}
}

func (l *stampedLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var b strings.Builder
	for _, ln := range l.lines {
		fmt.Fprintf(&b, "%s %s\n", ln.at.Format("15:04:05.000"), ln.text)
	}
	return b.String()
}

// matching returns the lines containing s that arrived after since.
func (l *stampedLog) matching(s string, since time.Time) []stampedLine {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []stampedLine
	for _, ln := range l.lines {
		if ln.at.After(since) && strings.Contains(ln.text, s) {
			out = append(out, ln)
		}
	}
	return out
}

// waitFor returns when the first line containing s after since arrived, waiting up to within for it.
func (l *stampedLog) waitFor(s string, since time.Time, within time.Duration) (time.Time, bool) {
	deadline := time.Now().Add(within)
	for {
		if m := l.matching(s, since); len(m) > 0 {
			return m[0].at, true
		}
		if time.Now().After(deadline) {
			return time.Time{}, false
		}
		time.Sleep(20 * time.Millisecond)
	}
}

var sippFailedCalls = regexp.MustCompile(`Failed call\s*\|\s*\d+\s*\|\s*(\d+)`)

// failedCalls reads the cumulative "Failed call" count from SIPp's final statistics screen.
func failedCalls(t *testing.T, sippOutput string) int {
	t.Helper()
	m := sippFailedCalls.FindAllStringSubmatch(sippOutput, -1)
	if m == nil {
		t.Fatalf("no failed-call count in SIPp's output:\n%s", sipptest.LastLines(sippOutput, 30))
	}
	n, _ := strconv.Atoi(m[len(m)-1][1])
	return n
}

// receivedBYEVias returns the Via hops (host:port), top first, of each BYE in a SIPp -trace_msg log.
func receivedBYEVias(trace string) [][]string {
	var out [][]string
	for _, msg := range strings.Split(trace, "----------") {
		if !strings.Contains(msg, "message received") || !strings.Contains(msg, "\nBYE sip:") {
			continue
		}
		var vias []string
		for _, line := range strings.Split(msg, "\n") {
			v, ok := strings.CutPrefix(strings.TrimSpace(line), "Via: SIP/2.0/")
			if _, hop, found := strings.Cut(v, " "); ok && found {
				host, _, _ := strings.Cut(hop, ";")
				vias = append(vias, host)
			}
		}
		out = append(out, vias)
	}
	return out
}

// byesFromBothNodes places two calls through k over transport that pivotua hangs up (uac_call.xml),
// and checks that each BYE reached the caller through Kamailio, one from each node in
// turn. Nodes are told apart by address: over TCP a node's BYE leaves on a connection of its own,
// whose port is in its Via.
func byesFromBothNodes(t *testing.T, k *kamailio, transport string, data sipptest.Data, a, b *pivotuaInstance) {
	t.Helper()
	from := map[string]bool{}
	for range 2 {
		trace, err := runSIPpIn(t, t.TempDir(), k, "uac_call.xml", data, "-t", transportFlag(transport), "-trace_msg")
		if err != nil {
			t.Fatal(err)
		}
		for _, vias := range receivedBYEVias(trace) {
			if len(vias) != 2 || vias[0] != k.addr {
				t.Errorf("BYE reached the caller with Vias %v; want Kamailio's (%s) on top of the node's", vias, k.addr)
				continue
			}
			host, _, _ := net.SplitHostPort(vias[1])
			from[host] = true
		}
	}
	if !from[a.sipHost] || !from[b.sipHost] {
		t.Errorf("two calls in a row should be answered by both nodes in turn; BYEs came from %v", from)
	}
}

// waitForRows polls the debug API of p until it lists n calls (records are written asynchronously).
func waitForRows(t *testing.T, p *pivotuaInstance, n int) map[string]string {
	t.Helper()
	rows := debugRows(t, p)
	for deadline := time.Now().Add(10 * time.Second); len(rows) < n && time.Now().Before(deadline); {
		time.Sleep(100 * time.Millisecond)
		rows = debugRows(t, p)
	}
	if len(rows) != n {
		t.Fatalf("the debug API lists %d calls, want %d", len(rows), n)
	}
	return rows
}

func countNodes(rows map[string]string) map[string]int {
	n := map[string]int{}
	for _, node := range rows {
		n[node]++
	}
	return n
}

// clusterNode is where a node of a cluster test listens; a restart reuses the same addresses.
type clusterNode struct {
	name, ip          string
	sipPort, httpPort int
}

func newClusterNode(t *testing.T, name, ip string) clusterNode {
	return clusterNode{name: name, ip: ip, sipPort: testkit.FreePortOn(t, ip), httpPort: testkit.FreePortOn(t, ip)}
}

// startClusterNode runs a node as the README describes it: its own address for SIP and RTP, taking
// INVITEs only from Kamailio (exempt from the per-source rate limit, since every call comes from
// there), and the shared store at dsn; adjust may change its config further.
func startClusterNode(t *testing.T, flow any, n clusterNode, dsn string, adjust ...func(*Config)) *pivotuaInstance {
	t.Helper()
	return startPivotua(t, flow, append([]func(*Config){func(c *Config) {
		c.Node = n.name
		c.SIP.Listen = []string{fmt.Sprintf("udp://%s:%d", n.ip, n.sipPort)}
		c.SIP.AllowCIDRs = []string{kamailioIP + "/32"}
		c.SIP.RateLimit.ExemptCIDRs = []string{kamailioIP + "/32"}
		c.RTP.IP = n.ip
		c.HTTP.Listen = fmt.Sprintf("%s:%d", n.ip, n.httpPort)
		c.Store.Driver, c.Store.DSN = "postgres", dsn
		c.Log.Level = "info"
	}}, adjust...)...)
}

func TestE2EClusterBehindKamailio(t *testing.T) {
	needE2E(t)
	dsn := pgtest.DSN(t)
	// Each call plays the tone twice (3.2 s); in uac_caller_bye.xml the caller hangs up after 1.5 s.
	hook := newWebhook(t, func(w *webhook) any {
		return map[string]any{"module": "play", "data": map[string]any{"id": w.URL + "/tone.wav", "loop_count": 2}}
	})
	flow := pivotFlow(hook.URL+"/voice", nil)
	flow["data"].(map[string]any)["debug"] = true

	start := func(n clusterNode) *pivotuaInstance { return startClusterNode(t, flow, n, dsn) }
	nodeA, nodeB := newClusterNode(t, "pivotua-a", "127.0.0.11"), newClusterNode(t, "pivotua-b", "127.0.0.12")
	a, b := start(nodeA), start(nodeB)
	k := startKamailio(t, "udp", a, b)
	data := sipptest.Data{Service: "3004", RTPPort: testkit.FreePort(t), Codec: 0}
	load := func(calls int) (string, error) {
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		return sipLoad(ctx, t, k, "uac_caller_bye.xml", data, calls, 100*time.Millisecond, calls)
	}
	downLine := func(p *pivotuaInstance) string { return "pivotua node down: sip:" + p.sipAddr() }
	failoverFrom := func(p *pivotuaInstance) string { return "failover from sip:" + p.sipAddr() }

	// 1. pivotua hangs up: its BYE follows the Record-Route back through Kamailio, from each node.
	byesFromBothNodes(t, k, "udp", data, a, b)

	// The caller hangs up: its ACK and BYE reach the node that answered, and the calls spread.
	if _, err := load(20); err != nil {
		t.Fatalf("20 calls through Kamailio: %v", err)
	}
	rows := waitForRows(t, a, 22)
	byNode := countNodes(rows)
	if byNode[nodeA.name] < 8 || byNode[nodeB.name] < 8 {
		t.Errorf("calls per node %v; round-robin should give each about 11", byNode)
	}
	if fromB := debugRows(t, b); len(fromB) != len(rows) {
		t.Errorf("node B's debug API lists %d calls, node A's %d: both read the one store", len(fromB), len(rows))
	}
	tokenA, tokenB := apiToken(t, a), apiToken(t, b)
	for _, c := range []struct {
		on    *pivotuaInstance
		token string
	}{{b, tokenA}, {a, tokenB}} {
		if code, env := crossbar(t, "GET", fmt.Sprintf("%s/v2/accounts/%s/pivot/debug", c.on.httpURL, e2eAccount), c.token, nil); code != 200 {
			t.Errorf("a token from the other node on %s: %d %v", c.on.httpURL, code, env)
		}
	}

	// 2. Node B drains mid-run (SIGTERM): its live calls finish, the INVITEs it refuses with 503
	// go to A, the probe takes it out, and no call fails.
	loadDone := make(chan error, 1)
	go func() { _, err := load(30); loadDone <- err }()
	time.Sleep(time.Second)
	drainAt := time.Now()
	bExited := make(chan struct{})
	go func() { b.stop(t); close(bExited) }()
	if err := <-loadDone; err != nil {
		t.Errorf("a call failed while node B drained: %v\nkamailio:\n%s", err, sipptest.LastLines(k.logs(), 40))
	}
	<-bExited
	downAt, ok := k.log.waitFor(downLine(b), drainAt, 5*time.Second)
	if !ok {
		t.Fatalf("Kamailio never marked the draining node down:\n%s", sipptest.LastLines(k.logs(), 40))
	}
	t.Logf("drain: node B out of rotation %v after SIGTERM; %d calls refused with 503 failed over to A",
		downAt.Sub(drainAt).Round(time.Millisecond), len(k.log.matching(failoverFrom(b), drainAt)))

	// 3. Node B comes back on the same address and Kamailio takes it back after one probe.
	restartAt := time.Now()
	b = start(nodeB)
	upAt, ok := k.log.waitFor("pivotua node up: sip:"+b.sipAddr(), restartAt, 5*time.Second)
	if !ok {
		t.Fatalf("Kamailio did not take node B back:\n%s", sipptest.LastLines(k.logs(), 40))
	}
	t.Logf("restart: node B back in rotation %v after its process started", upAt.Sub(restartAt).Round(time.Millisecond))

	// Then it dies mid-run (SIGKILL). The calls it was carrying drop; every other call lands,
	// those sent to it before Kamailio noticed by failing over after NODE_TIMEOUT.
	type result struct {
		out string
		err error
	}
	crashRun := make(chan result, 1)
	go func() { out, err := load(40); crashRun <- result{out, err} }()
	// 1.2 s in: the first calls' BYEs (the caller hangs up after 1.5 s) are not in flight yet.
	time.Sleep(1200 * time.Millisecond)
	carried := int(scrape(t, b, "pivotua_calls_active"))
	killAt := time.Now()
	_ = b.cmd.Process.Kill()
	_ = b.cmd.Wait()
	r := <-crashRun
	// A message in flight at the kill may put one call on either side of that count: an INVITE
	// B has said 100 Trying to is not failed over (it ends with 408), a BYE B took is lost.
	if failed := failedCalls(t, r.out); failed > carried+1 {
		t.Errorf("%d calls failed when node B died carrying %d; only those may fail: %v\nkamailio:\n%s",
			failed, carried, r.err, sipptest.LastLines(k.logs(), 40))
	} else {
		t.Logf("crash: node B died carrying %d calls; %d of 40 calls failed", carried, failed)
	}
	downAt, ok = k.log.waitFor(downLine(b), killAt, 5*time.Second)
	if !ok {
		t.Fatalf("Kamailio never marked the dead node down:\n%s", sipptest.LastLines(k.logs(), 40))
	}
	bound := clusterPingInterval + clusterNodeTimeout
	t.Logf("crash: node B out of rotation %v after SIGKILL (bound: ping interval + node timeout = %v); %d calls failed over to A meanwhile",
		downAt.Sub(killAt).Round(time.Millisecond), bound, len(k.log.matching(failoverFrom(b), killAt)))
	if took := downAt.Sub(killAt); took > bound+time.Second {
		t.Errorf("Kamailio took %v to mark the dead node down; want about %v at most", took, bound)
	}
	// A failover is logged when the INVITE to B times out, NODE_TIMEOUT after it was sent.
	if late := k.log.matching(failoverFrom(b), downAt.Add(clusterNodeTimeout+200*time.Millisecond)); len(late) > 0 {
		t.Errorf("Kamailio still sent INVITEs to the dead node after marking it down: %v", late)
	}

	// 4. After the probe interval, every new call lands on A and none fails; A's debug API still
	// lists B's calls, and B's token still works on A.
	before := debugRows(t, a)
	if _, err := load(20); err != nil {
		t.Errorf("a call failed with node B dead and out of rotation: %v", err)
	}
	after := waitForRows(t, a, len(before)+20)
	for id, n := range after {
		if _, old := before[id]; !old && n != nodeA.name {
			t.Errorf("call %s landed on %q after node B was out of rotation", id, n)
		}
	}
	if byNode := countNodes(after); byNode[nodeB.name] == 0 {
		t.Errorf("the survivor's debug API should list node B's calls too: %v", byNode)
	}
	if code, env := crossbar(t, "GET", fmt.Sprintf("%s/v2/accounts/%s/pivot/debug", a.httpURL, e2eAccount), tokenB, nil); code != 200 {
		t.Errorf("node B's token on the survivor: %d %v", code, env)
	}
}

// TestE2EClusterOverTCP: the shipped Kamailio config with TCP on both sides: the caller's calls reach
// both nodes in turn, the nodes answer the OPTIONS probe over TCP, and pivotua's BYE and the caller's
// follow the Record-Route over TCP.
func TestE2EClusterOverTCP(t *testing.T) {
	needE2E(t)
	hook := newWebhook(t, func(w *webhook) any {
		return map[string]any{"module": "play", "data": map[string]any{"id": w.URL + "/tone.wav"}}
	})
	var nodes []*pivotuaInstance
	for _, ip := range []string{"127.0.0.13", "127.0.0.14"} {
		nodes = append(nodes, startPivotua(t, pivotFlow(hook.URL+"/voice", nil), func(c *Config) {
			c.SIP.Listen = []string{fmt.Sprintf("tcp://%s:%d", ip, testkit.FreePortOn(t, ip))}
			c.SIP.AllowCIDRs = []string{kamailioIP + "/32"}
			c.SIP.RateLimit.ExemptCIDRs = []string{kamailioIP + "/32"}
			c.RTP.IP = ip
			c.HTTP.Listen = fmt.Sprintf("%s:%d", ip, testkit.FreePortOn(t, ip))
		}))
	}
	k := startKamailio(t, "tcp", nodes...)
	data := sipptest.Data{Service: "3004", RTPPort: testkit.FreePort(t), Codec: 0}
	byesFromBothNodes(t, k, "tcp", data, nodes[0], nodes[1])
	for range 2 { // the caller hangs up after 1.5 s: its BYE reaches the node that answered
		if err := runSIPp(t, k, "uac_caller_bye.xml", data, "-t", "t1"); err != nil {
			t.Fatal(err)
		}
	}
	for _, n := range nodes {
		if got := scrape(t, n, `pivotua_calls_total{outcome="completed"}`); got != 2 {
			t.Errorf("node %s completed %v calls, want 2 of the 4 (round-robin)", n.sipAddr(), got)
		}
	}
}
