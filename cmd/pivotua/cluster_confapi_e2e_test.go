package main

// The conference APIs on every node: a room hosted on node A is listed, read and steered through node
// B, which asks A's API (debugapi/forward.go), as an app behind an HTTP load balancer would find it.
// The callers reach node A straight (no Kamailio), so which node hosts the room is known.

import (
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/pivotua/pivotua/codec"
	"github.com/pivotua/pivotua/debugapi"
	"github.com/pivotua/pivotua/internal/testkit/sipptest"
)

// apiRequestWith is a Conferences API request to p with the given credentials (none when user is
// "") and extra headers; it returns the status and the raw body.
func apiRequestWith(t *testing.T, p *pivotuaInstance, method, path, user, pass string, form url.Values, hdr map[string]string) (int, string) {
	t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, _ := http.NewRequest(method, p.httpURL+"/2010-04-01/Accounts/"+e2eAccount+path, body)
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	if user != "" {
		req.SetBasicAuth(user, pass)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(raw)
}

// TestE2EClusterConfAPIRoomOnNodeAControlledThroughNodeB: two SIPp parties (500 and 800 Hz) talk in
// a room on node A. Through node B: Conferences.json lists it (once, as node A's list does), its
// fetch and Participants.json show both parties, a mute silences the muted party for the other
// within 200 ms, a DELETE takes the other out (its call goes on with its action: a Hangup, so SIPp
// gets BYE), and Kazoo's conferences API lists the room and its participants. Hostile: the loop
// header without credentials or with wrong ones is 401 (it is no credential), with good ones B answers
// from its own rooms only (404: a marked request is never forwarded again), and an unknown sid is
// 404 on B as before.
func TestE2EClusterConfAPIRoomOnNodeAControlledThroughNodeB(t *testing.T) {
	needE2E(t)
	const doc = `<Response><Dial action="/after" timeLimit="9"><Conference beep="false" waitUrl="">shared room</Conference></Dial></Response>`
	hook := conferenceHook(t, "", doc)
	a, b := startRoomNodes(t, hook.URL+"/voice")
	pa, pb := newDialPeer(t, codec.PCMU, 500), newDialPeer(t, codec.PCMA, 800)
	runs := []*sipptest.Running{callNode(t, a, pa)}
	time.Sleep(800 * time.Millisecond)
	runs = append(runs, callNode(t, a, pb))
	time.Sleep(2 * time.Second) // both in the room on A, talking

	status, body := apiRequest(t, b, "GET", "/Conferences.json?FriendlyName=shared+room", nil)
	confs, _ := body["conferences"].([]any)
	if status != 200 || len(confs) != 1 {
		t.Fatalf("node B's conferences list: %d %v\nB:\n%s", status, body, sipptest.LastLines(b.logs(), 20))
	}
	sid, _ := confs[0].(map[string]any)["sid"].(string)
	for _, p := range []*pivotuaInstance{a, b} {
		status, body := apiRequest(t, p, "GET", "/Conferences.json", nil)
		if all, _ := body["conferences"].([]any); status != 200 || len(all) != 1 || all[0].(map[string]any)["sid"] != sid {
			t.Errorf("the unfiltered list of %s: %d %v, want the one room", p.httpURL, status, body)
		}
	}
	if status, body := apiRequest(t, b, "GET", "/Conferences/"+sid+".json", nil); status != 200 || body["friendly_name"] != "shared room" {
		t.Errorf("fetch through node B: %d %v", status, body)
	}
	status, body = apiRequest(t, b, "GET", "/Conferences/"+sid+"/Participants.json", nil)
	parts, _ := body["participants"].([]any)
	if status != 200 || len(parts) != 2 {
		t.Fatalf("participants through node B: %d %v", status, body)
	}
	aSid, bSid := parts[0].(map[string]any)["call_sid"].(string), parts[1].(map[string]any)["call_sid"].(string)

	// Kazoo's conferences API through node B, with a token node B issued.
	token := channelsToken(t, b, "e2e-key")
	code, env := crossbar(t, "GET", kazooConferences(b, e2eAccount, ""), token, nil)
	rows, _ := env["data"].([]any)
	if code != 200 || len(rows) != 1 || rows[0].(map[string]any)["id"] != "shared room" || rows[0].(map[string]any)["members"] != float64(2) {
		t.Errorf("Kazoo's conferences list through node B: %d %v", code, env)
	}
	code, env = crossbar(t, "GET", kazooConferences(b, e2eAccount, "/"+url.PathEscape("shared room")+"/participants"), token, nil)
	if kp, _ := env["data"].([]any); code != 200 || len(kp) != 2 {
		t.Errorf("Kazoo's participants through node B: %d %v", code, env)
	}

	// Hostile, through node B.
	fwd := map[string]string{debugapi.ForwardedHeader: "pivotua-a"}
	for _, tc := range []struct {
		what, method, path, user, pass string
		form                           url.Values
		want                           int
	}{
		{"the loop header without credentials", "GET", "/Conferences/" + sid + "/Participants.json", "", "", nil, 401},
		{"the loop header with a wrong key", "POST", "/Conferences/" + sid + "/Participants/" + aSid + ".json", e2eAccount, "wrong", url.Values{"Muted": {"true"}}, 401},
		{"the loop header with good credentials: B's own rooms only", "GET", "/Conferences/" + sid + ".json", e2eAccount, "e2e-key", nil, 404},
	} {
		if status, raw := apiRequestWith(t, b, tc.method, tc.path, tc.user, tc.pass, tc.form, fwd); status != tc.want {
			t.Errorf("%s: %d %s, want %d", tc.what, status, raw, tc.want)
		}
	}
	const unknown = "/Conferences/CF00000000000000000000000000000000"
	for path, form := range map[string]url.Values{unknown + ".json": {"Status": {"completed"}}, unknown + "/Participants/" + aSid + ".json": {"Muted": {"true"}}} {
		if status, raw := apiRequestWith(t, b, "POST", path, e2eAccount, "e2e-key", form, nil); status != 404 || !strings.Contains(raw, "20404") {
			t.Errorf("an unknown sid through node B: %d %s, want 404", status, raw)
		}
	}
	if status, raw := apiRequestWith(t, b, "GET", "/Conferences/"+sid+".json", e2eAccount, "wrong", nil, nil); status != 401 {
		t.Errorf("a wrong key through node B: %d %s, want 401", status, raw)
	}

	muted := time.Now()
	if status, body := apiRequest(t, b, "POST", "/Conferences/"+sid+"/Participants/"+aSid+".json", url.Values{"Muted": {"true"}}); status != 200 || body["muted"] != true {
		t.Fatalf("mute through node B: %d %v", status, body)
	}
	time.Sleep(1500 * time.Millisecond)
	kicked := time.Now()
	if status, body := apiRequest(t, b, "DELETE", "/Conferences/"+sid+"/Participants/"+bSid+".json", nil); status != 204 {
		t.Fatalf("delete through node B: %d %v", status, body)
	}
	// The removed party's call goes on with its action (a Hangup): SIPp gets BYE and ends well before
	// the room's timeLimit.
	if err := runs[1].Wait(6 * time.Second); err != nil {
		t.Fatalf("the removed party: %v\nA:\n%s", err, sipptest.LastLines(a.logs(), 30))
	}
	if err := runs[0].Wait(20 * time.Second); err != nil {
		t.Fatalf("the muted party: %v", err)
	}
	if pb.lastToneAt(500).IsZero() || pa.lastToneAt(800).IsZero() {
		t.Fatal("the parties never heard each other")
	}
	if heard := pb.lastToneAt(500).Sub(muted); heard > 200*time.Millisecond {
		t.Errorf("the other party heard the muted one %v after the mute was asked of node B, want under 200 ms", heard)
	} else {
		t.Logf("the muted party was last heard %v after the mute was asked of node B", heard)
	}
	if heard := pa.lastToneAt(800).Sub(kicked); heard > 200*time.Millisecond {
		t.Errorf("the remaining party heard the removed one %v after the DELETE to node B, want under 200 ms", heard)
	} else {
		t.Logf("the removed party was last heard %v after the DELETE was sent to node B", heard)
	}
	if after := hook.Forms("/after"); len(after) != 2 || after[0].Get("CallSid") != bSid {
		t.Errorf("actions: %d, want the removed party's (%s) first", len(after), bSid)
	}
}
