package main

// A conference room across nodes: Kamailio in front of two pivotua nodes sharing one PostgreSQL.
// Three SIPp callers with their own tones land on the nodes in turn and all name one room: the room
// lives on the node the first landed on, and a caller on the other node reaches it by a signed SIP
// leg between the nodes. Each hears the two others, never itself. An INVITE to the room URI without a
// valid signature is refused with 403, and a stale row of a dead node's room is taken over.

import (
	"crypto/rand"
	"database/sql"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/pivotua/pivotua/codec"
	"github.com/pivotua/pivotua/internal/testkit/pgtest"
	"github.com/pivotua/pivotua/internal/testkit/sipptest"
)

func TestE2EClusterConferencePartiesOnTwoNodesHearEachOther(t *testing.T) {
	needE2E(t)
	dsn := pgtest.DSN(t)
	const first = `<Response><Dial action="/after" timeLimit="7"><Conference waitUrl="" beep="false" endConferenceOnExit="true">team room</Conference></Dial></Response>`
	const others = `<Response><Dial action="/after"><Conference waitUrl="" beep="false">team room</Conference></Dial><Say>not reached</Say></Response>`
	hook := conferenceHook(t, "", first, others, others)
	nodes := []clusterNode{newClusterNode(t, "pivotua-a", "127.0.0.11"), newClusterNode(t, "pivotua-b", "127.0.0.12")}
	shared := func(c *Config) {
		c.Store.Heartbeat, c.Store.DeadAfter, c.Store.ForwardTimeout = clusterHeartbeat.String(), clusterDeadAfter.String(), clusterForward.String()
		// The nodes take INVITEs from each other too (room legs), and from the test's raw peer.
		c.SIP.AllowCIDRs = append(c.SIP.AllowCIDRs, "127.0.0.11/32", "127.0.0.12/32", "127.0.0.1/32")
		c.SIP.RateLimit.ExemptCIDRs = append(c.SIP.RateLimit.ExemptCIDRs, "127.0.0.11/32", "127.0.0.12/32")
	}
	a := startClusterNode(t, dialTwiMLFlow(hook.URL+"/voice"), nodes[0], dsn, shared)
	b := startClusterNode(t, dialTwiMLFlow(hook.URL+"/voice"), nodes[1], dsn, shared)
	k := startKamailio(t, "udp", a, b)

	db, err := sql.Open("pgx", dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	// A dead node's row for the room (its boot has no heartbeat): the first caller takes it over.
	if _, err := db.Exec(`INSERT INTO pivot_rooms (account_id, name, boot, sip_addr) VALUES ($1, 'team room', 'deadbeefdeadbeefdeadbeefdeadbeef', '127.0.0.99:9')`, e2eAccount); err != nil {
		t.Fatal(err)
	}

	// Hostile: INVITEs to the room URI without a token, with a forged signature, with a token signed by
	// another key: 403 each, and nothing joins.
	r := newRawSIPPeer(t, b, "127.0.0.1")
	payload := base64.RawURLEncoding.EncodeToString(must(json.Marshal(map[string]any{"a": e2eAccount, "r": "team room", "e": time.Now().Add(20 * time.Second).Unix(), "s": "CAmallory"})))
	junk := make([]byte, 32)
	_, _ = rand.Read(junk)
	for i, tok := range []string{"", payload + "." + base64.RawURLEncoding.EncodeToString(junk), payload, "not a token"} {
		msg := rawInvite(r, b, fmt.Sprintf("room-hostile-%d@e2e", i), "t1", "sip:pivotua-room@"+b.sipAddr())
		if tok != "" {
			msg = strings.Replace(msg, "Max-Forwards: 70\n", "Max-Forwards: 70\nX-Pivotua-Room: "+tok+"\n", 1)
		}
		r.send(t, msg)
		if res := r.recv(3 * time.Second); !strings.HasPrefix(res, "SIP/2.0 403 ") {
			t.Errorf("room INVITE with token %q: got %q, want 403\n%s", tok, firstLineOf(res), sipptest.LastLines(b.logs(), 10))
		}
	}

	pa, pb, pc := newDialPeer(t, codec.PCMU, 500), newDialPeer(t, codec.PCMA, 800), newDialPeer(t, codec.PCMU, 1200)
	var runs []*sipptest.Running
	for i, peer := range []*dialPeer{pa, pb, pc} {
		if i > 0 {
			time.Sleep(time.Second)
		}
		runs = append(runs, sipptest.Start(t, sipptest.Call{Scenario: "uac_call.xml", Target: k.sipAddr(), PeerLogs: k.logs,
			Data: byeAfterData{Service: "3004", RTPPort: peer.port(), Codec: int(peer.law), CodecName: map[codec.Law]string{codec.PCMU: "PCMU", codec.PCMA: "PCMA"}[peer.law]}}))
	}
	// The room's row names a live node now: the dead node's was taken over.
	var addr string
	if err := db.QueryRow(`SELECT r.sip_addr FROM pivot_rooms r JOIN pivot_nodes n ON n.boot = r.boot WHERE r.account_id = $1 AND r.name = 'team room'`, e2eAccount).Scan(&addr); err != nil {
		t.Errorf("the room's row does not name a live node: %v", err)
	} else if addr != a.sipAddr() && addr != b.sipAddr() {
		t.Errorf("the room is hosted at %q, not at a node's SIP address", addr)
	}
	for i, run := range runs {
		if err := run.Wait(25 * time.Second); err != nil {
			t.Fatalf("caller %d (it must get pivotua's BYE once the room ended): %v\nA:\n%s\nB:\n%s", i, err,
				sipptest.LastLines(a.logs(), 30), sipptest.LastLines(b.logs(), 30))
		}
	}
	// Kamailio's round robin: the callers landed on both nodes, one of which reached the room by a leg.
	landed := map[string]int{}
	status, page := apiRequest(t, a, "GET", "/Calls.json", nil)
	calls, _ := page["calls"].([]any)
	for _, c := range calls {
		landed[fmt.Sprint(c.(map[string]any)["node"])]++
	}
	t.Logf("callers per node: %v; room hosted at %s", landed, addr)
	if status != 200 || len(calls) != 3 || landed["pivotua-a"] == 0 || landed["pivotua-b"] == 0 {
		t.Fatalf("the three callers should land on both nodes: %d %v", status, landed)
	}
	if !strings.Contains(a.logs()+b.logs(), "joined on another node") || !strings.Contains(a.logs()+b.logs(), "room leg joined") {
		t.Errorf("no caller reached the room through a leg between the nodes")
	}

	hears(t, "the 500 Hz party", pa.heard(0), 150, []float64{800, 1200}, []float64{500})
	hears(t, "the 800 Hz party", pb.heard(8), 150, []float64{500, 1200}, []float64{800})
	hears(t, "the 1200 Hz party", pc.heard(0), 100, []float64{500, 800}, []float64{1200})
	if after := hook.Forms("/after"); len(after) != 3 {
		t.Errorf("action URL got %d requests, want one per caller", len(after))
	} else {
		for _, q := range after {
			if q.Get("DialCallStatus") != "completed" {
				t.Errorf("action params: DialCallStatus=%q", q.Get("DialCallStatus"))
			}
		}
	}
	// The room ended: its host released the row.
	var n int
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		if err := db.QueryRow(`SELECT count(*) FROM pivot_rooms WHERE account_id = $1`, e2eAccount).Scan(&n); err != nil || n == 0 {
			break
		}
	}
	if n != 0 {
		t.Errorf("%d rows left in pivot_rooms once the room ended", n)
	}
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}
