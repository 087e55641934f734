package main

// End-to-end tests of hostile documents: a webhook that tries to write SIP headers into the outbound
// INVITE, a Kazoo document that pivots to itself, and a Dial through a trunk the account may not use.
// The real binary runs the documents; SIPp is the caller and, where a Dial could reach one, the callee.

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pivotua/pivotua/internal/testkit"
	"github.com/pivotua/pivotua/internal/testkit/sipptest"
)

// fallbackFlow is a pivot of voiceURL with debug records and a "_" child that refuses the call with
// 480, which only a failover produces.
func fallbackFlow(voiceURL string) map[string]any {
	f := pivotFlow(voiceURL, map[string]any{"module": "response", "data": map[string]any{"code": 480, "message": "Fallback"}})
	f["data"].(map[string]any)["debug"] = true
	return f
}

// watchingUAS is a SIPp callee that answers one INVITE with 486 and keeps every message it got.
type watchingUAS struct {
	port int
	dir  string
	cmd  *exec.Cmd
	done chan struct{}
}

func startWatchingUAS(t *testing.T) *watchingUAS {
	t.Helper()
	dir := t.TempDir()
	scen := sipptest.RenderScenario(t, dir, "uas_busy.xml", uasData{})
	u := &watchingUAS{port: testkit.FreePort(t), dir: dir, done: make(chan struct{})}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	u.cmd = exec.CommandContext(ctx, "sipp", "-sf", scen, "-m", "1", "-i", "127.0.0.1", "-p", strconv.Itoa(u.port),
		"-mp", strconv.Itoa(testkit.FreeMediaPort(t)), "-nostdin", "-trace_msg", "-trace_err")
	u.cmd.Dir = dir
	if err := u.cmd.Start(); err != nil {
		cancel()
		t.Fatal(err)
	}
	go func() { _ = u.cmd.Wait(); cancel(); close(u.done) }()
	t.Cleanup(func() { _ = u.cmd.Process.Kill(); <-u.done })
	time.Sleep(300 * time.Millisecond) // SIPp binds its socket
	return u
}

// received stops the callee (at once if it is still waiting for an INVITE) and returns what it got.
func (u *watchingUAS) received(t *testing.T) string {
	t.Helper()
	select {
	case <-u.done:
	case <-time.After(time.Second):
		_ = u.cmd.Process.Kill()
		<-u.done
	}
	logs, _ := filepath.Glob(filepath.Join(u.dir, "*_messages.log"))
	var all strings.Builder
	for _, l := range logs {
		b, _ := os.ReadFile(l)
		all.Write(b)
	}
	return all.String()
}

// debugRecords returns the account's debug records of callID as JSON text, once they hold want
// (they are written asynchronously), or fails.
func debugRecords(t *testing.T, p *pivotuaInstance, callID, want string) string {
	t.Helper()
	code, env := crossbar(t, "PUT", p.httpURL+"/v2/api_auth", "", map[string]any{"data": map[string]any{"api_key": "e2e-key"}})
	token, _ := env["auth_token"].(string)
	if code != 201 || token == "" {
		t.Fatalf("api_auth: %d %v", code, env)
	}
	target := fmt.Sprintf("%s/v2/accounts/%s/pivot/debug/%s", p.httpURL, e2eAccount, url.PathEscape(callID))
	var text string
	for range 50 {
		code, env = crossbar(t, "GET", target, token, nil)
		b, _ := json.Marshal(env["data"])
		if text = string(b); code == 200 && strings.Contains(text, want) {
			return text
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("debug records of %s never held %q: %d %s", callID, want, code, text)
	return ""
}

// TestE2EHostileFlowHeaderInjectionNeverReachesTheCallee: documents that put CR/LF into the caller ID
// or the URI of a Dial would add header lines to the INVITE. They are schema errors: the callee never
// gets an INVITE, the call fails over to the "_" child, and the debug records name the attribute.
func TestE2EHostileFlowHeaderInjectionNeverReachesTheCallee(t *testing.T) {
	needE2E(t)
	t.Run("TwiML callerId", func(t *testing.T) {
		uas := startWatchingUAS(t)
		hook := newTwiMLHook(t, map[string]string{
			"/voice": fmt.Sprintf(`<Response><Dial answerOnBridge="true" timeout="5" callerId="1&#13;&#10;P-Asserted-Identity: &lt;sip:boss@evil.example&gt;">`+
				`<Sip>sip:bob@127.0.0.1:%d</Sip></Dial></Response>`, uas.port),
		})
		p := startPivotua(t, fallbackFlow(hook.URL+"/voice"))
		if err := runSIPp(t, p, "uac_refused.xml", sipptest.Data{RTPPort: testkit.FreePort(t), Codec: 0, Expect: 480}); err != nil {
			t.Fatal(err)
		}
		if got := uas.received(t); strings.Contains(got, "INVITE") {
			t.Errorf("the callee got an INVITE from the hostile document:\n%s", got)
		}
		reqs := hook.Forms("/voice")
		if len(reqs) != 1 {
			t.Fatalf("%d requests to the webhook, want 1", len(reqs))
		}
		recs := debugRecords(t, p, reqs[0].Get("Call-ID"), "Response/Dial[1]@callerId")
		if !strings.Contains(recs, "control characters") {
			t.Errorf("the schema error does not say what is wrong: %s", recs)
		}
	})
	t.Run("Kazoo sip_uri", func(t *testing.T) {
		uas := startWatchingUAS(t)
		hook := newWebhook(t, func(*webhook) any {
			return map[string]any{"module": "sip_uri", "data": map[string]any{
				"uri": fmt.Sprintf("sip:bob@127.0.0.1:%d;x=1\r\nP-Asserted-Identity: <sip:boss@evil.example>", uas.port), "timeout": 5}}
		})
		p := startPivotua(t, fallbackFlow(hook.URL+"/voice"))
		if err := runSIPp(t, p, "uac_refused.xml", sipptest.Data{RTPPort: testkit.FreePort(t), Codec: 0, Expect: 480}); err != nil {
			t.Fatal(err)
		}
		if got := uas.received(t); strings.Contains(got, "INVITE") {
			t.Errorf("the callee got an INVITE from the hostile document:\n%s", got)
		}
		reqs := hook.received()
		if len(reqs) != 1 {
			t.Fatalf("%d requests to the webhook, want 1", len(reqs))
		}
		recs := debugRecords(t, p, reqs[0].Get("Call-ID"), "data.uri")
		if !strings.Contains(recs, "control characters") {
			t.Errorf("the schema error does not say what is wrong: %s", recs)
		}
	})
}

// TestE2EHostileFlowKazooSelfPivotIsBounded: a Kazoo document that pivots back to its own URL plays
// nothing; pivotua stops after 20 such fetches, refuses the unanswered call with 503, and the debug
// records and the log say why.
func TestE2EHostileFlowKazooSelfPivotIsBounded(t *testing.T) {
	needE2E(t)
	hook := newWebhook(t, func(w *webhook) any {
		return map[string]any{"module": "pivot", "data": map[string]any{"voice_url": w.URL + "/voice", "debug": true}}
	})
	flow := pivotFlow(hook.URL+"/voice", nil)
	flow["data"].(map[string]any)["debug"] = true
	p := startPivotua(t, flow)
	start := time.Now()
	if err := runSIPp(t, p, "uac_refused.xml", sipptest.Data{RTPPort: testkit.FreePort(t), Codec: 0, Expect: 503}); err != nil {
		t.Fatal(err)
	}
	t.Logf("the loop ended after %v", time.Since(start).Round(time.Millisecond))
	time.Sleep(300 * time.Millisecond) // a fetch after the 503 would show here
	reqs := hook.received()
	if len(reqs) != 20 {
		t.Errorf("the webhook got %d requests, want 20", len(reqs))
	}
	if len(reqs) == 0 {
		t.FailNow()
	}
	debugRecords(t, p, reqs[0].Get("Call-ID"), "played nothing")
	if !strings.Contains(p.logs(), "played nothing") {
		t.Errorf("the log does not say why the call ended:\n%s", sipptest.LastLines(p.logs(), 20))
	}
}

// TestE2EHostileFlowTrunkClosedToTheAccount: a trunk open to another account only is not dialled for
// this one: the callee behind it gets no INVITE, the action URL hears DialCallStatus=failed and the log
// says why.
func TestE2EHostileFlowTrunkClosedToTheAccount(t *testing.T) {
	needE2E(t)
	uas := startWatchingUAS(t)
	hook := newTwiMLHook(t, map[string]string{
		"/voice": `<Response><Dial trunk="carrier" action="/after" timeout="5">+14155550100</Dial></Response>`,
		"/after": `<Response><Hangup/></Response>`,
	})
	const other = "0123456789abcdef0123456789abcdef"
	p := startPivotua(t, dialTwiMLFlow(hook.URL+"/voice"), func(c *Config) {
		c.Accounts = append(c.Accounts, AccountConfig{ID: other, Name: "other", APIKey: "other-key"})
		c.Trunks = []TrunkConfig{{Name: "carrier", URI: fmt.Sprintf("sip:127.0.0.1:%d", uas.port), Accounts: []string{other}}}
	})
	// With no target left the Dial fails before answering the caller; the <Hangup> then refuses it.
	if err := runSIPp(t, p, "uac_refused.xml", sipptest.Data{RTPPort: testkit.FreePort(t), Codec: 0, Expect: 480}); err != nil {
		t.Fatal(err)
	}
	if got := uas.received(t); strings.Contains(got, "INVITE") {
		t.Errorf("the callee behind the closed trunk got an INVITE:\n%s", got)
	}
	after := hook.Forms("/after")
	if len(after) != 1 || after[0].Get("DialCallStatus") != "failed" {
		t.Fatalf("action requests %v, want one with DialCallStatus=failed", after)
	}
	if want := fmt.Sprintf(`trunk \"carrier\" is not open to account %s`, e2eAccount); !strings.Contains(p.logs(), want) {
		t.Errorf("the log does not say %s:\n%s", want, sipptest.LastLines(p.logs(), 20))
	}
}
