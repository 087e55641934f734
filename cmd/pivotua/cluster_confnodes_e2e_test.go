package main

// Rooms across nodes as a Twilio user expects them: a join the hosting node refuses reads failed on the
// caller's node, as a local refusal does; a room leg's token joins once, for the leg it was signed for.
// The callers here reach each node straight (no Kamailio), so which node hosts the room is known.

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/pivotua/pivotua/codec"
	"github.com/pivotua/pivotua/internal/testkit"
	"github.com/pivotua/pivotua/internal/testkit/pgtest"
	"github.com/pivotua/pivotua/internal/testkit/sipptest"
)

// startRoomNodes starts two nodes sharing one PostgreSQL that take INVITEs from each other (room legs)
// and from 127.0.0.1 (SIPp and the test's raw peers); opts apply to both.
func startRoomNodes(t *testing.T, voiceURL string, opts ...func(*Config)) (a, b *pivotuaInstance) {
	t.Helper()
	dsn := pgtest.DSN(t)
	nodes := []clusterNode{newClusterNode(t, "pivotua-a", "127.0.0.11"), newClusterNode(t, "pivotua-b", "127.0.0.12")}
	shared := func(c *Config) {
		c.Store.Heartbeat, c.Store.DeadAfter, c.Store.ForwardTimeout = clusterHeartbeat.String(), clusterDeadAfter.String(), clusterForward.String()
		c.SIP.AllowCIDRs = append(c.SIP.AllowCIDRs, "127.0.0.11/32", "127.0.0.12/32", "127.0.0.1/32")
		c.SIP.RateLimit.ExemptCIDRs = append(c.SIP.RateLimit.ExemptCIDRs, "127.0.0.11/32", "127.0.0.12/32", "127.0.0.1/32")
		for _, o := range opts {
			o(c)
		}
	}
	a = startClusterNode(t, dialTwiMLFlow(voiceURL), nodes[0], dsn, shared)
	b = startClusterNode(t, dialTwiMLFlow(voiceURL), nodes[1], dsn, shared)
	return a, b
}

// callNode starts a SIPp caller (uac_call.xml: it waits for pivotua's BYE) to p with peer's media.
func callNode(t *testing.T, p *pivotuaInstance, peer *dialPeer) *sipptest.Running {
	t.Helper()
	return sipptest.Start(t, sipptest.Call{Scenario: "uac_call.xml", Target: p.sipAddr(), PeerLogs: p.logs,
		Data: byeAfterData{Service: "3004", RTPPort: peer.port(), Codec: int(peer.law), CodecName: map[codec.Law]string{codec.PCMU: "PCMU", codec.PCMA: "PCMA"}[peer.law]}})
}

// TestE2EClusterConferenceFullRoomOnAnotherNodeReadsFailed: a room of maxParticipants 2 hosted on node
// A holds two callers; a third caller landing on node B is refused by A (486 Conference Full on the
// leg), and its Dial action gets DialCallStatus=failed, as a full room on its own node gives.
func TestE2EClusterConferenceFullRoomOnAnotherNodeReadsFailed(t *testing.T) {
	needE2E(t)
	const doc = `<Response><Dial action="/after" timeLimit="6"><Conference waitUrl="" beep="false" maxParticipants="2">small room</Conference></Dial></Response>`
	hook := conferenceHook(t, "", doc)
	a, b := startRoomNodes(t, hook.URL+"/voice")
	var runs []*sipptest.Running
	for i, p := range []*pivotuaInstance{a, a, b} {
		if i > 0 {
			time.Sleep(time.Second)
		}
		runs = append(runs, callNode(t, p, newDialPeer(t, codec.PCMU, 500+300*float64(i))))
	}
	for i, run := range runs {
		if err := run.Wait(20 * time.Second); err != nil {
			t.Fatalf("caller %d: %v\nA:\n%s\nB:\n%s", i, err, sipptest.LastLines(a.logs(), 30), sipptest.LastLines(b.logs(), 30))
		}
	}
	statuses := map[string]int{}
	for _, q := range hook.Forms("/after") {
		statuses[q.Get("DialCallStatus")]++
	}
	if statuses["completed"] != 2 || statuses["failed"] != 1 || len(statuses) != 2 {
		t.Errorf("DialCallStatus of the three callers: %v, want two completed and the third (on node B) failed\nA:\n%s\nB:\n%s",
			statuses, sipptest.LastLines(a.logs(), 20), sipptest.LastLines(b.logs(), 20))
	}
	if !strings.Contains(a.logs(), "room leg refused: the room is full: 486") {
		t.Errorf("node A does not say why it refused the leg")
	}
}

// roomLegToken is a room leg's token as a node signs it (flow/conference_cluster.go), for the e2e
// account's key: what a hostile host on the path between two nodes could capture.
func roomLegToken(t *testing.T, room, callID string) string {
	t.Helper()
	body, err := json.Marshal(map[string]any{"a": e2eAccount, "r": room, "e": time.Now().Add(20 * time.Second).Unix(), "s": "CA" + callID, "ci": callID})
	if err != nil {
		t.Fatal(err)
	}
	payload := base64.RawURLEncoding.EncodeToString(body)
	m := hmac.New(sha256.New, []byte("e2e-key"))
	m.Write([]byte("pivotua-room-leg\x00"))
	m.Write([]byte(payload))
	return payload + "." + base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// recvOf is r's next final response or request of the call callID: the retransmissions of another
// call's answers (a 403 or a 200 sent again before its ACK arrived) are skipped.
func recvOf(r *rawSIPPeer, callID string, within time.Duration) string {
	deadline := time.Now().Add(within)
	for {
		msg := r.recv(time.Until(deadline))
		if msg == "" || testkit.SIPHeader(msg, "Call-ID") == callID {
			return msg
		}
	}
}

// ackRefusal ACKs res, a final refusal of invite (RFC 3261 §17.1.1.3: the INVITE's branch, the
// response's To), so pivotua stops sending it again.
func ackRefusal(t *testing.T, r *rawSIPPeer, invite, res string) {
	t.Helper()
	if res == "" || strings.HasPrefix(res, "SIP/2.0 2") {
		return
	}
	uri := strings.Fields(invite)[1]
	r.send(t, "ACK "+uri+" SIP/2.0\nVia: "+testkit.SIPHeader(invite, "Via")+"\nFrom: "+testkit.SIPHeader(invite, "From")+
		"\nTo: "+testkit.SIPHeader(res, "To")+"\nCall-ID: "+testkit.SIPHeader(invite, "Call-ID")+"\nCSeq: 1 ACK\nMax-Forwards: 70\nContent-Length: %LEN%\n\n")
}

// TestE2EClusterConferenceRoomTokenJoinsOnce: a room leg INVITE with a valid token joins (200); the
// same INVITE replayed as a new transaction (new branch and From tag, as a host on the path would send
// it) gets 403, and so does a valid token moved onto another INVITE (another Call-ID).
func TestE2EClusterConferenceRoomTokenJoinsOnce(t *testing.T) {
	needE2E(t)
	hook := conferenceHook(t, "", `<Response><Hangup/></Response>`)
	a, _ := startRoomNodes(t, hook.URL+"/voice")
	r := newRawSIPPeer(t, a, "127.0.0.1")
	withToken := func(msg, tok string) string {
		return strings.Replace(msg, "Max-Forwards: 70\n", "Max-Forwards: 70\nX-Pivotua-Room: "+tok+"\n", 1)
	}
	uri := "sip:pivotua-room@" + a.sipAddr()
	const callID = "room-replay-1@e2e"
	tok := roomLegToken(t, "replay room", callID)
	invite := withToken(rawInvite(r, a, callID, "t1", uri), tok)
	r.send(t, invite)
	ok := r.recv(5 * time.Second)
	if !strings.HasPrefix(ok, "SIP/2.0 200 ") {
		t.Fatalf("a room leg with a valid token: got %q, want 200\n%s", firstLineOf(ok), sipptest.LastLines(a.logs(), 10))
	}
	to := testkit.SIPHeader(ok, "To")
	r.send(t, rawInDialog(r, a, "ACK", callID, "t1", to, 1))

	// The captured INVITE again, as a new transaction and dialog.
	replay := strings.ReplaceAll(invite, "z9hG4bK-"+callID+"-inv", "z9hG4bK-"+callID+"-replay")
	replay = strings.Replace(replay, "tag=t1", "tag=t2", 1)
	r.send(t, replay)
	if res := recvOf(r, callID, 5*time.Second); !strings.HasPrefix(res, "SIP/2.0 403 ") {
		t.Errorf("the replayed room leg INVITE: got %q, want 403\n%s", firstLineOf(res), sipptest.LastLines(a.logs(), 10))
	} else {
		ackRefusal(t, r, replay, res)
	}
	// A fresh token signed for one Call-ID, carried by an INVITE with another.
	moved := withToken(rawInvite(r, a, "room-replay-2@e2e", "t3", uri), roomLegToken(t, "replay room", "room-replay-other@e2e"))
	r.send(t, moved)
	res := recvOf(r, "room-replay-2@e2e", 5*time.Second)
	ackRefusal(t, r, moved, res)
	if !strings.HasPrefix(res, "SIP/2.0 403 ") {
		t.Errorf("a token moved onto another Call-ID: got %q, want 403\n%s", firstLineOf(res), sipptest.LastLines(a.logs(), 10))
	}
	// The log lines reach the test through a pipe, after the answers may have.
	logs := a.logs()
	for deadline := time.Now().Add(3 * time.Second); time.Now().Before(deadline) &&
		!(strings.Contains(logs, "token already used") && strings.Contains(logs, "signed for another Call-ID")); logs = a.logs() {
		time.Sleep(50 * time.Millisecond)
	}
	if !strings.Contains(logs, "token already used") || !strings.Contains(logs, "signed for another Call-ID") {
		t.Errorf("node A does not say why it refused the legs:\n%s", sipptest.LastLines(logs, 10))
	}
	// The leg that joined leaves by BYE (a 403 sent again before its ACK arrived is skipped).
	r.send(t, rawInDialog(r, a, "BYE", callID, "t1", to, 2))
	for deadline := time.Now().Add(3 * time.Second); ; {
		res := recvOf(r, callID, time.Until(deadline))
		if res == "" {
			t.Errorf("no answer to the BYE of the leg that joined")
			break
		}
		if strings.HasSuffix(testkit.SIPHeader(res, "CSeq"), "BYE") {
			if !strings.HasPrefix(res, "SIP/2.0 200 ") {
				t.Errorf("BYE: got %q, want 200", firstLineOf(res))
			}
			break
		}
	}
}

// TestE2EClusterConferenceRemotePartyHearsTheDefaultWaitAudio: a room hosted on node A that has not
// started (no party starts it) plays each waiting party its wait audio; a party landing on node B, whose
// document names no waitUrl, hears pivotua's default chime (440 then 660 Hz) through its leg, played by
// the hosting node, and nothing of the other waiting party.
func TestE2EClusterConferenceRemotePartyHearsTheDefaultWaitAudio(t *testing.T) {
	needE2E(t)
	const first = `<Response><Dial action="/after" timeLimit="7"><Conference waitUrl="" beep="false" startConferenceOnEnter="false">wait room</Conference></Dial></Response>`
	const second = `<Response><Dial action="/after" timeLimit="5"><Conference beep="false" startConferenceOnEnter="false">wait room</Conference></Dial></Response>`
	hook := conferenceHook(t, "", first, second)
	a, b := startRoomNodes(t, hook.URL+"/voice")
	pa, pb := waitInRoomAcrossNodes(t, a, b)
	hears(t, "the party on node B", pb.heard(0), 10, []float64{440, 660}, []float64{500})
	hears(t, "the party on node A", pa.heard(0), 0, nil, []float64{1200, 440, 660})
}

// TestE2EClusterConferenceRemotePartyHearsItsWaitUrl: a party landing on node B whose document names a
// waitUrl (a TwiML <Play> of a 400 Hz tone) hears that tone while it waits in the room hosted on node A,
// as a party on node A would: the hosting node fetches and runs the waitUrl document for it. The other
// waiting party (waitUrl="": silence) hears neither it nor the tone.
func TestE2EClusterConferenceRemotePartyHearsItsWaitUrl(t *testing.T) {
	needE2E(t)
	const first = `<Response><Dial action="/after" timeLimit="7"><Conference waitUrl="" beep="false" startConferenceOnEnter="false">waiturl room</Conference></Dial></Response>`
	const second = `<Response><Dial action="/after" timeLimit="5"><Conference waitUrl="/wait" waitMethod="GET" beep="false" startConferenceOnEnter="false">waiturl room</Conference></Dial></Response>`
	hook := conferenceHook(t, `<Response><Play>/tone400.wav</Play><Pause length="1"/></Response>`, first, second)
	a, b := startRoomNodes(t, hook.URL+"/voice")
	pa, pb := waitInRoomAcrossNodes(t, a, b)
	hears(t, "the party on node B", pb.heard(0), 25, []float64{400}, []float64{500, 440, 660})
	hears(t, "the party on node A", pa.heard(0), 0, nil, []float64{1200, 400})
	if t.Failed() {
		t.Logf("A:\n%s\nB:\n%s", sipptest.LastLines(a.logs(), 30), sipptest.LastLines(b.logs(), 30))
	}
}

// TestE2EClusterConferenceRemotePartyWaitUrlDeniedHearsTheDefault: a waitUrl the hosting node's fetch
// deny list refuses is not fetched there either: node A says so, and the party on node B hears
// pivotua's default chime, as a local party whose waitUrl fails does.
func TestE2EClusterConferenceRemotePartyWaitUrlDeniedHearsTheDefault(t *testing.T) {
	needE2E(t)
	const first = `<Response><Dial action="/after" timeLimit="7"><Conference waitUrl="" beep="false" startConferenceOnEnter="false">denied wait room</Conference></Dial></Response>`
	const second = `<Response><Dial action="/after" timeLimit="5"><Conference waitUrl="http://127.0.0.2:9/wait" beep="false" startConferenceOnEnter="false">denied wait room</Conference></Dial></Response>`
	hook := conferenceHook(t, "", first, second)
	a, b := startRoomNodes(t, hook.URL+"/voice", func(c *Config) { c.Fetch.DenyCIDRs = []string{"127.0.0.2/32"} })
	_, pb := waitInRoomAcrossNodes(t, a, b)
	hears(t, "the party on node B", pb.heard(0), 10, []float64{440, 660}, []float64{500})
	if logs := a.logs(); !strings.Contains(logs, "waitUrl (room leg) failed") || !strings.Contains(logs, "127.0.0.2 is in 127.0.0.2/32") {
		t.Errorf("node A does not say it refused the waitUrl:\n%s", sipptest.LastLines(logs, 20))
	}
}

// waitInRoomAcrossNodes calls node A with a 500 Hz caller, then a second later node B with a 1200 Hz
// one, waits for both calls to end, and checks that B's caller reached A's room by a leg; the peers
// hold what each heard.
func waitInRoomAcrossNodes(t *testing.T, a, b *pivotuaInstance) (pa, pb *dialPeer) {
	t.Helper()
	pa, pb = newDialPeer(t, codec.PCMU, 500), newDialPeer(t, codec.PCMU, 1200)
	ra := callNode(t, a, pa)
	time.Sleep(time.Second)
	rb := callNode(t, b, pb)
	for i, run := range []*sipptest.Running{ra, rb} {
		if err := run.Wait(20 * time.Second); err != nil {
			t.Fatalf("caller %d: %v\nA:\n%s\nB:\n%s", i, err, sipptest.LastLines(a.logs(), 30), sipptest.LastLines(b.logs(), 30))
		}
	}
	if !strings.Contains(b.logs(), "joined on another node") {
		t.Fatalf("the caller on node B did not reach the room on node A by a leg\nB:\n%s", sipptest.LastLines(b.logs(), 20))
	}
	return pa, pb
}
