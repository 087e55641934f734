package main

// The Calls API across nodes: Kamailio in front of two pivotua nodes that share one PostgreSQL. A SIPp
// caller lands on one node; the API of the other fetches, lists, redirects and hangs up the call, a
// node stopped mid-update gives a clear 504, and a node killed mid-call has its call read over, with
// the reason, from the survivor.

import (
	"database/sql"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/pivotua/pivotua/codec"
	"github.com/pivotua/pivotua/internal/testkit"
	"github.com/pivotua/pivotua/internal/testkit/pgtest"
	"github.com/pivotua/pivotua/internal/testkit/sipptest"
)

// How the test's nodes share their calls (store.heartbeat, store.dead_after, store.forward_timeout).
const (
	clusterHeartbeat = 500 * time.Millisecond
	clusterDeadAfter = 4 * time.Second
	clusterForward   = 1500 * time.Millisecond
)

// toneSince returns when the first packet after since carrying freq reached the capture, and how many
// packets after since carried it.
func toneSince(c *sipptest.Capture, since time.Time, freq float64) (first time.Time, n int) {
	frame := make([]int16, codec.FrameSamples)
	for _, p := range c.Packets() {
		if p.Header.PayloadType != 0 || p.At.Before(since) {
			continue
		}
		k := codec.DecodeFrame(codec.PCMU, frame, p.Payload)
		if testkit.ToneShare(frame[:k], freq) > 0.8 {
			if first.IsZero() {
				first = p.At
			}
			n++
		}
	}
	return first, n
}

// liveCallOn waits for p's Calls API to list one call in progress other than those in skip, and
// returns it.
func liveCallOn(t *testing.T, p *pivotuaInstance, skip map[string]bool) map[string]any {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		status, page := apiRequest(t, p, "GET", "/Calls.json?Status=in-progress", nil)
		if status != 200 {
			t.Fatalf("list on %s: %d %v", p.httpURL, status, page)
		}
		calls, _ := page["calls"].([]any)
		for _, c := range calls {
			if call := c.(map[string]any); !skip[fmt.Sprint(call["sid"])] {
				return call
			}
		}
	}
	t.Fatalf("no call in progress listed on %s\n%s", p.httpURL, p.logs())
	return nil
}

func TestE2EClusterCallsAPIActsOnTheNodeHoldingTheCall(t *testing.T) {
	needE2E(t)
	dsn := pgtest.DSN(t)
	hook := callsAPIHook(t) // /voice: a <Say>, then 440 Hz in a loop; /tone1000.wav
	flow := dialTwiMLFlow(hook.URL + "/voice")
	shared := func(c *Config) {
		c.Store.Heartbeat, c.Store.DeadAfter, c.Store.ForwardTimeout = clusterHeartbeat.String(), clusterDeadAfter.String(), clusterForward.String()
	}
	nodes := []clusterNode{newClusterNode(t, "pivotua-a", "127.0.0.11"), newClusterNode(t, "pivotua-b", "127.0.0.12")}
	inst := map[string]*pivotuaInstance{}
	for _, n := range nodes {
		inst[n.name] = startClusterNode(t, flow, n, dsn, shared)
	}
	k := startKamailio(t, "udp", inst["pivotua-a"], inst["pivotua-b"])
	// owner and other: the node holding call (by its "node" field) and the one that does not.
	roles := func(call map[string]any) (owner, other *pivotuaInstance, otherName string) {
		name := fmt.Sprint(call["node"])
		for n, p := range inst {
			if n == name {
				owner = p
			} else {
				other, otherName = p, n
			}
		}
		if owner == nil {
			t.Fatalf("the call names node %q, not one of the test's", name)
		}
		return owner, other, otherName
	}
	twiml := func(freq int) url.Values {
		return url.Values{"Twiml": {fmt.Sprintf(`<Response><Play loop="0">%s/tone%d.wav</Play></Response>`, hook.URL, freq)}}
	}

	// 1. A caller lands on one node; both nodes' API show the call with one sid and status.
	capture := sipptest.NewCapture(t)
	caller := sipptest.Start(t, sipptest.Call{Scenario: "uac_call.xml", Target: k.sipAddr(), PeerLogs: k.logs,
		Data: sipptest.Data{Service: "3004", RTPPort: capture.Port(), Codec: 0}})
	call := liveCallOn(t, inst["pivotua-a"], nil)
	sid := fmt.Sprint(call["sid"])
	owner, other, otherName := roles(call)
	t.Logf("the call %s landed on %s", sid, call["node"])
	for _, p := range []*pivotuaInstance{owner, other} {
		status, got := apiRequest(t, p, "GET", "/Calls/"+sid+".json", nil)
		if status != 200 || got["sid"] != sid || got["status"] != "in-progress" || got["node"] != call["node"] || got["direction"] != "inbound" {
			t.Errorf("fetch on %s: %d %v", p.httpURL, status, got)
		}
	}
	if got := liveCallOn(t, other, nil); got["sid"] != sid {
		t.Errorf("the other node lists %v, want %s", got["sid"], sid)
	}
	// An unknown sid, and a key no TEXT column can hold (a NUL, a byte that is not UTF-8), are 404.
	for _, p := range []*pivotuaInstance{owner, other} {
		for _, unknown := range []string{"/Calls/CAffffffffffffffffffffffffffffffff.json", "/Calls/CA%00%ff.json"} {
			if status, body := apiRequest(t, p, "GET", unknown, nil); status != 404 || body["code"] != float64(20404) {
				t.Errorf("fetch of %s on %s: %d %v", unknown, p.httpURL, status, body)
			}
			if status, body := apiRequest(t, p, "POST", unknown, url.Values{"Status": {"completed"}}); status != 404 {
				t.Errorf("update of %s on %s: %d %v", unknown, p.httpURL, status, body)
			}
		}
	}
	testkit.WaitFor(t, 15*time.Second, "the caller hears the document's 440 Hz", func() bool {
		_, n := toneSince(capture, time.Time{}, 440)
		return n > 25
	})

	// 2. New instructions sent to the other node: the caller hears the switch to 1 kHz.
	sent := time.Now()
	status, got := apiRequest(t, other, "POST", "/Calls/"+sid+".json", twiml(1000))
	if status != 200 || got["sid"] != sid || got["status"] != "in-progress" {
		t.Fatalf("Twiml sent to %s: %d %v\n%s", otherName, status, got, owner.logs())
	}
	testkit.WaitFor(t, 5*time.Second, "the caller hears the new document's 1 kHz", func() bool {
		_, n := toneSince(capture, sent, 1000)
		return n > 25
	})
	switched, _ := toneSince(capture, sent, 1000)
	t.Logf("update sent to the other node -> new prompt at the caller: %v", switched.Sub(sent).Round(time.Millisecond))
	if d := switched.Sub(sent); d > time.Second {
		t.Errorf("the caller heard the new document %v after the update, want within 1 s", d)
	}

	// 2b. The channels API's pivot action, sent to the other node, crosses as a callflow node: the
	// caller hears the voice_url's document (its 440 Hz) again.
	token := channelsToken(t, other, "e2e-key")
	sent = time.Now()
	if status, env := channelAction(t, other, token, sid, map[string]any{"action": "pivot", "voice_url": hook.URL + "/voice", "req_format": "twiml"}); status != 200 {
		t.Fatalf("channels pivot sent to %s: %d %v\n%s", otherName, status, env, owner.logs())
	}
	testkit.WaitFor(t, 5*time.Second, "the caller hears the pivoted document's 440 Hz", func() bool {
		_, n := toneSince(capture, sent, 440)
		return n > 25
	})

	// 3. Status=completed sent to the other node ends the call: SIPp gets BYE; both nodes read it over.
	status, got = apiRequest(t, other, "POST", "/Calls/"+sid+".json", url.Values{"Status": {"completed"}})
	if status != 200 || got["status"] != "completed" {
		t.Errorf("Status=completed sent to %s: %d %v", otherName, status, got)
	}
	if err := caller.Wait(10 * time.Second); err != nil {
		t.Fatalf("the caller got no BYE: %v\n%s", err, owner.logs())
	}
	for _, p := range []*pivotuaInstance{owner, other} {
		var got map[string]any
		for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
			if _, got = apiRequest(t, p, "GET", "/Calls/"+sid+".json", nil); got["status"] == "completed" {
				break
			}
		}
		if got["status"] != "completed" || got["duration"] == nil || got["duration"] == "0" || got["end_time"] == nil || got["end_reason"] != nil {
			t.Errorf("the ended call on %s: %v", p.httpURL, got)
		}
	}

	// Hostile: junk on every node's channel and junk rows in the table (written there by hand, as a
	// broken or hostile node would) are dropped; the API serves neither and goes on.
	db, err := sql.Open("pgx", dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var boots []string
	rows, err := db.Query(`SELECT boot FROM pivot_nodes`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var b string
		_ = rows.Scan(&b)
		boots = append(boots, b)
	}
	rows.Close()
	if len(boots) != 2 {
		t.Fatalf("pivot_nodes holds %d nodes, want 2", len(boots))
	}
	for _, b := range boots {
		for _, payload := range []string{"", "u:", "u:x", "r:-1", "u:99999999999999999999", strings.Repeat("u", 7000)} {
			if _, err := db.Exec(`SELECT pg_notify($1, $2)`, "pivot_calls_"+b, payload); err != nil {
				t.Fatal(err)
			}
		}
	}
	// One set per node, so the node killed below has junk of its own for the survivor's reaper.
	const junkSid = "CA00000000000000000000000000000ba0"
	for i, b := range boots {
		for _, junk := range [][2]string{{junkSid[:33] + fmt.Sprint(i), "hacked"}, {fmt.Sprintf("CA<script>%d", i), "in-progress"}} {
			if _, err := db.Exec(`INSERT INTO pivot_calls (sid, account_id, call_id, node, boot, direction, status, from_party, to_party,
				created_us, answered_us, ended_us, updated_us, sip_code) VALUES ($1, $2, '', 'evil', $3, 'inbound', $4, '', '', $5, 0, 0, $5, 0)`,
				junk[0], e2eAccount, b, junk[1], time.Now().UnixMicro()); err != nil {
				t.Fatal(err)
			}
		}
	}
	for _, p := range []*pivotuaInstance{owner, other} {
		status, page := apiRequest(t, p, "GET", "/Calls.json", nil)
		if calls, _ := page["calls"].([]any); status != 200 || len(calls) != 1 {
			t.Errorf("list on %s with junk rows in the table: %d %v, want the one real call", p.httpURL, status, page)
		}
		if status, _ := apiRequest(t, p, "GET", "/Calls/"+junkSid+".json", nil); status != 404 {
			t.Errorf("fetch of a junk row on %s: %d, want 404", p.httpURL, status)
		}
	}

	// 4. A second call; its node is stopped (SIGSTOP): an update sent to the other node gets 504
	// after store.forward_timeout, not a hang, and is withdrawn: once the node runs again it never acts on it.
	capture2 := sipptest.NewCapture(t)
	sipptest.Start(t, sipptest.Call{Scenario: "uac_call.xml", Target: k.sipAddr(), PeerLogs: k.logs,
		Data: sipptest.Data{Service: "3004", RTPPort: capture2.Port(), Codec: 0}})
	call2 := liveCallOn(t, inst["pivotua-a"], map[string]bool{sid: true})
	sid2 := fmt.Sprint(call2["sid"])
	owner, other, otherName = roles(call2)
	t.Logf("the second call %s landed on %s", sid2, call2["node"])
	testkit.WaitFor(t, 15*time.Second, "the second caller hears 440 Hz", func() bool {
		_, n := toneSince(capture2, time.Time{}, 440)
		return n > 25
	})
	if err := owner.cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	stoppedAt := time.Now()
	status, got = apiRequest(t, other, "POST", "/Calls/"+sid2+".json", twiml(1000))
	took := time.Since(stoppedAt)
	_ = owner.cmd.Process.Signal(syscall.SIGCONT)
	resumed := time.Now()
	if status != http.StatusGatewayTimeout || got["code"] != float64(20504) || !strings.Contains(fmt.Sprint(got["message"]), fmt.Sprint(call2["node"])) {
		t.Errorf("an update while the node holding the call is stopped: %d %v, want 504 naming the node", status, got)
	}
	if took < clusterForward || took > clusterForward+2*time.Second {
		t.Errorf("the 504 came after %v, want store.forward_timeout (%v)", took, clusterForward)
	}
	t.Logf("update to a stopped node: %d after %v: %v", status, took.Round(time.Millisecond), got["message"])
	time.Sleep(1500 * time.Millisecond)
	if first, n := toneSince(capture2, resumed, 1000); n > 0 {
		t.Errorf("the withdrawn update was applied once the node ran again: %d frames of 1 kHz from %v", n, first)
	}
	if _, n := toneSince(capture2, resumed, 440); n < 25 {
		t.Errorf("the second caller heard %d frames of its document's 440 Hz after the node ran again, want its prompt going on", n)
	}

	// 5. The node holding the second call dies (SIGKILL): the survivor reads the call over with the
	// reason within store.dead_after (answered: completed).
	killedAt := time.Now()
	_ = owner.cmd.Process.Kill()
	_ = owner.cmd.Wait()
	var dead map[string]any
	var readAt time.Time
	for deadline := time.Now().Add(clusterDeadAfter + 5*time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		if _, dead = apiRequest(t, other, "GET", "/Calls/"+sid2+".json", nil); dead["status"] != "in-progress" {
			readAt = time.Now()
			break
		}
	}
	reason := fmt.Sprint(dead["end_reason"])
	if dead["status"] != "completed" || !strings.Contains(reason, "node "+fmt.Sprint(call2["node"])+" stopped") || !strings.Contains(reason, otherName) ||
		dead["end_time"] == nil {
		t.Fatalf("the dead node's call on the survivor: %v\n%s", dead, other.logs())
	}
	took = readAt.Sub(killedAt)
	t.Logf("node killed -> its call read %s on the survivor after %v: %s", dead["status"], took.Round(time.Millisecond), reason)
	if took > clusterDeadAfter+clusterHeartbeat+500*time.Millisecond {
		t.Errorf("the dead node's call read live for %v, want at most store.dead_after (%v) and a heartbeat", took, clusterDeadAfter)
	}
	status, page := apiRequest(t, other, "GET", "/Calls.json", nil)
	calls, _ := page["calls"].([]any)
	if status != 200 || len(calls) != 2 {
		t.Fatalf("list on the survivor: %d %v", status, page)
	}
	for _, c := range calls {
		if c := c.(map[string]any); c["sid"] == sid2 && (c["status"] != "completed" || c["end_reason"] != reason) {
			t.Errorf("the survivor lists the dead node's call as %v", c)
		}
	}
	if status, got := apiRequest(t, other, "POST", "/Calls/"+sid2+".json", twiml(1000)); status != 400 || got["code"] != float64(21220) {
		t.Errorf("an update of the dead node's call: %d %v, want 400 (not in progress)", status, got)
	}
}
