package main

import (
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/pivotua/pivotua/internal/testkit/sipptest"
)

// sessionTimerData fills testdata/sipp/uac_session_timer_*.xml.
type sessionTimerData struct {
	Service        string
	RTPPort        int
	SessionExpires string // uac_session_timer_refused.xml: the offer
	Expect         int    // its expected answer
	Check          string // a regexp its answer must match
}

// TestE2ESessionTimer: SIPp callers offering RFC 4028 session timers get what they asked for.
// The interval is RFC 4028's minimum, 90 s, as on a real trunk (sip.session_timer.min_se may not go
// lower), so the subtests run side by side against one pivotua for about 66 s: a caller that
// refreshes by re-INVITE and UPDATE outlives the first deadline (60 s); one that never refreshes
// gets BYE with a Reason at 60 s, counted and logged; one that asks pivotua to refresh receives
// its UPDATE at 45 s; offers too short or malformed are refused (422 with Min-SE, 400).
func TestE2ESessionTimer(t *testing.T) {
	needE2E(t)
	hook := newWebhook(t, func(w *webhook) any {
		// About 96 s of prompt: the call lasts as long as the callers want.
		return map[string]any{"module": "play", "data": map[string]any{"id": w.URL + "/tone.wav", "loop_count": 60}}
	})
	// The callers send no RTP: no media timeout in the way.
	p := startPivotua(t, pivotFlow(hook.URL+"/voice", nil), func(c *Config) { c.RTP.MediaTimeout = "300s" })
	run := func(t *testing.T, scenario string, data sessionTimerData, within time.Duration) {
		t.Helper()
		if data.Service == "" {
			data.Service = "3004"
		}
		data.RTPPort = sipptest.NewCapture(t).Port()
		if _, err := sipptest.Run(t, sipptest.Call{Scenario: scenario, Data: data, Target: p.sipAddr(), PeerLogs: p.logs, Within: within}); err != nil {
			t.Fatal(err)
		}
	}
	t.Run("RefreshedByCaller", func(t *testing.T) {
		t.Parallel()
		run(t, "uac_session_timer_refresh.xml", sessionTimerData{}, 90*time.Second)
	})
	t.Run("CallerStopsRefreshing", func(t *testing.T) {
		t.Parallel()
		start := time.Now()
		run(t, "uac_session_timer_expire.xml", sessionTimerData{}, 90*time.Second)
		// The scenario's pause proves the BYE was not early; this that it came within the interval.
		if took := time.Since(start); took > 90*time.Second {
			t.Errorf("BYE after %v; the session expires at 90 s", took)
		}
	})
	t.Run("RefreshedByPivotua", func(t *testing.T) {
		t.Parallel()
		run(t, "uac_session_timer_uas.xml", sessionTimerData{}, 75*time.Second)
	})
	for _, tc := range []struct {
		name, offer string
		code        int
		check       string
	}{
		{"TooShort", "30;refresher=uac", 422, `Min-SE: *90`},
		{"Zero", "0", 422, `Min-SE: *90`},
		{"Negative", "-90", 400, `Session-Expires`},
		{"NotANumber", "soon;refresher=uac", 400, `Session-Expires`},
	} {
		t.Run("Offer"+tc.name, func(t *testing.T) {
			t.Parallel()
			run(t, "uac_session_timer_refused.xml", sessionTimerData{SessionExpires: tc.offer, Expect: tc.code, Check: tc.check}, 30*time.Second)
		})
	}
	t.Cleanup(func() {
		if t.Failed() {
			return
		}
		if n := scrape(t, p, "pivotua_session_timer_expired_total"); n != 1 {
			t.Errorf("pivotua_session_timer_expired_total = %v, want 1 (the caller that stopped refreshing)", n)
		}
		if !regexp.MustCompile(`session timer expired.*call_id=`).MatchString(p.logs()) {
			t.Errorf("no log line names the expired call:\n%s", lastLines(p.logs(), 20))
		}
	})
}

func lastLines(s string, n int) string { return sipptest.LastLines(strings.TrimSpace(s), n) }

// TestE2EPRACKReliableEarlyMedia: a SIPp caller that requires 100rel reaches a Dial with
// answerOnBridge whose callee (SIPp) sends 183 with early media and then 486. pivotua's 180 and its
// 183 to the caller carry Require: 100rel and an RSeq (every 18x, since the caller requires it), each
// PRACK gets 200 (RFC 3262 §3), the caller hears the early media, and the call ends refused. Before 100rel was served, such a caller
// got 420 Bad Extension.
func TestE2EPRACKReliableEarlyMedia(t *testing.T) {
	needE2E(t)
	dialEarlyMediaThenBusy(t, "uac_prack.xml", "the caller, after its PRACK,")
}
