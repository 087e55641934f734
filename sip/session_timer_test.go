package sip

import (
	"errors"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"
)

func sessionInvite(hdrs ...string) *sip.Request {
	req := sip.NewRequest(sip.INVITE, sip.Uri{User: "3004", Host: "127.0.0.1"})
	for _, h := range hdrs {
		name, value, _ := strings.Cut(h, ":")
		req.AppendHeader(sip.NewHeader(name, strings.TrimSpace(value)))
	}
	return req
}

func TestSessionTimerNegotiation(t *testing.T) {
	cfg := SessionTimerConfig{MinSE: 90 * time.Second, Expires: 1800 * time.Second}
	for _, tc := range []struct {
		name      string
		hdrs      []string
		interval  time.Duration
		refresher string
		require   bool
		code      int
	}{
		{name: "caller refreshes", hdrs: []string{"Supported: timer", "Session-Expires: 90;refresher=uac"}, interval: 90 * time.Second, refresher: "uac", require: true},
		{name: "caller asks us to refresh", hdrs: []string{"Supported: timer", "Session-Expires: 120;refresher=uas"}, interval: 120 * time.Second, refresher: "uas", require: true},
		{name: "no refresher, caller supports timer", hdrs: []string{"Supported: 100rel, timer", "Session-Expires: 600"}, interval: 600 * time.Second, refresher: "uac", require: true},
		{name: "no refresher, caller without timer", hdrs: []string{"Session-Expires: 600"}, interval: 600 * time.Second, refresher: "uas"},
		{name: "uac without support becomes uas", hdrs: []string{"Session-Expires: 600;refresher=uac"}, interval: 600 * time.Second, refresher: "uas"},
		{name: "no UPDATE, caller without timer: we refresh by re-INVITE", hdrs: []string{"Session-Expires: 600"}, interval: 600 * time.Second, refresher: "uas"},
		{name: "no UPDATE, asked to refresh: we do, by re-INVITE", hdrs: []string{"Supported: timer", "Session-Expires: 90;refresher=uas"}, interval: 90 * time.Second, refresher: "uas", require: true},
		{name: "compact form", hdrs: []string{"k: timer", "x: 300;refresher=uac"}, interval: 300 * time.Second, refresher: "uac", require: true},
		{name: "long offer lowered", hdrs: []string{"Supported: timer", "Session-Expires: 86400"}, interval: 1800 * time.Second, refresher: "uac", require: true},
		{name: "huge offer lowered", hdrs: []string{"Supported: timer", "Session-Expires: 99999999999999999999999999999999"}, interval: 1800 * time.Second, refresher: "uac", require: true},
		{name: "their Min-SE above our max", hdrs: []string{"Supported: timer", "Session-Expires: 7200", "Min-SE: 3600"}, interval: 3600 * time.Second, refresher: "uac", require: true},
		{name: "no header, supported: we ask", hdrs: []string{"Supported: timer"}, interval: 1800 * time.Second, refresher: "uac", require: true},
		{name: "no header, no support: none", hdrs: nil},
		{name: "zero", hdrs: []string{"Session-Expires: 0"}, code: 422},
		{name: "below min", hdrs: []string{"Supported: timer", "Session-Expires: 89"}, code: 422},
		{name: "negative", hdrs: []string{"Session-Expires: -90"}, code: 400},
		{name: "not a number", hdrs: []string{"Session-Expires: soon"}, code: 400},
		{name: "empty", hdrs: []string{"Session-Expires: ;refresher=uac"}, code: 400},
		{name: "odd refresher", hdrs: []string{"Session-Expires: 90;refresher=both"}, code: 400},
		{name: "twice", hdrs: []string{"Session-Expires: 90", "x: 1800"}, code: 400},
		{name: "bad Min-SE", hdrs: []string{"Session-Expires: 90", "Min-SE: 1e9"}, code: 400},
	} {
		t.Run(tc.name, func(t *testing.T) {
			terms, ref := cfg.negotiate(sessionInvite(tc.hdrs...), sessionTerms{})
			if tc.code != 0 {
				if ref == nil || ref.code != tc.code {
					t.Fatalf("got %+v, %+v; want a %d", terms, ref, tc.code)
				}
				if tc.code == 422 && (len(ref.hdrs) != 1 || ref.hdrs[0].Value() != "90") {
					t.Fatalf("422 must carry Min-SE: 90, got %v", ref.hdrs)
				}
				return
			}
			if ref != nil {
				t.Fatalf("refused %d %s", ref.code, ref.reason)
			}
			if terms.interval != tc.interval || terms.refresher != tc.refresher || terms.peerTimer != tc.require {
				t.Fatalf("got %+v; want %v refresher=%s require=%v", terms, tc.interval, tc.refresher, tc.require)
			}
		})
	}
}

func TestSessionTimerHeadersAndDeadline(t *testing.T) {
	terms := sessionTerms{interval: 90 * time.Second, refresher: "uac", peerTimer: true}
	hs := terms.headers()
	if len(hs) != 2 || hs[0].Value() != "90;refresher=uac" || hs[1].Name() != "Require" {
		t.Fatalf("headers %v", hs)
	}
	// RFC 4028 §10: BYE at interval - min(32 s, interval/3).
	if got := terms.byeAt(); got != 60*time.Second {
		t.Fatalf("BYE at %v, want 60s", got)
	}
	if got := (sessionTerms{interval: 1800 * time.Second}).byeAt(); got != 1768*time.Second {
		t.Fatalf("BYE at %v, want 1768s", got)
	}
	if (sessionTerms{}).headers() != nil {
		t.Fatal("no timer, no headers")
	}
}

func TestSessionTimerRefreshWithoutHeaderKeepsTerms(t *testing.T) {
	cfg := SessionTimerConfig{MinSE: 90 * time.Second, Expires: 1800 * time.Second}
	cur := sessionTerms{interval: 90 * time.Second, refresher: "uac", peerTimer: true}
	got, ref := cfg.negotiate(sessionInvite(), cur)
	if ref != nil || got != cur {
		t.Fatalf("got %+v %+v; want %+v kept", got, ref, cur)
	}
}

func TestSessionTimerOffIgnoresHeaders(t *testing.T) {
	got, ref := SessionTimerConfig{}.negotiate(sessionInvite("Session-Expires: soon"), sessionTerms{})
	if ref != nil || got.interval != 0 {
		t.Fatalf("off: got %+v %+v", got, ref)
	}
}

func TestParseSessionSecondsNamesTheHeader(t *testing.T) {
	_, _, err := parseSessionSeconds("Min-SE", "12a")
	if !errors.Is(err, ErrSessionExpires) || !strings.Contains(err.Error(), "Min-SE") {
		t.Fatalf("err = %v", err)
	}
}

func FuzzSessionTimerNegotiation(f *testing.F) {
	for _, s := range []string{"90;refresher=uac", "0", "-1", "99999999999999999999", "x;refresher=", ";;;"} {
		f.Add(s, "90")
	}
	cfg := SessionTimerConfig{MinSE: 90 * time.Second, Expires: 1800 * time.Second}
	f.Fuzz(func(t *testing.T, se, minSE string) {
		terms, ref := cfg.negotiate(sessionInvite("Supported: timer", "Session-Expires: "+se, "Min-SE: "+minSE), sessionTerms{})
		if ref == nil && terms.interval != 0 && (terms.interval < cfg.MinSE || terms.interval > maxDeltaSeconds*time.Second) {
			t.Fatalf("interval %v out of bounds", terms.interval)
		}
	})
}

// TestGuardLetsRequireTimerThrough: RFC 4028 §7.1 lets a refresher send
// Require: timer; any other extension still gets 420.
func TestGuardLetsRequireTimerThrough(t *testing.T) {
	for require, want := range map[string]int{"timer": 0, "Timer, timer": 0, "100rel": 0, "timer, foo": 420, "foo": 420} {
		msg := "UPDATE sip:pivotua@127.0.0.1:5060 SIP/2.0\r\n" +
			"Via: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK-st1\r\n" +
			"From: <sip:1000@127.0.0.1>;tag=a\r\nTo: <sip:3004@127.0.0.1>;tag=b\r\n" +
			"Call-ID: st1\r\nCSeq: 2 UPDATE\r\nMax-Forwards: 70\r\n" +
			"Require: " + require + "\r\nSession-Expires: 90;refresher=uac\r\nContent-Length: 0\r\n\r\n"
		h, err := scanRequest([]byte(msg), 100)
		if err != nil {
			t.Fatal(err)
		}
		got := 0
		if f := checkRequest(h); f != nil {
			got = f.code
		}
		if got != want {
			t.Errorf("Require: %s: %d, want %d", require, got, want)
		}
	}
}

// TestSessionRefreshFloodCostsOneTimer: a caller's refreshes (UPDATE or
// re-INVITE, exempt from the rate limit as in-dialog requests) only reset the
// dialog's one timer: ten thousand of them start no goroutine and no timer.
func TestSessionRefreshFloodCostsOneTimer(t *testing.T) {
	fired := make(chan struct{}, 1)
	st := &sessionTimer{terms: sessionTerms{interval: 90 * time.Second, refresher: "uac"}}
	st.timer = time.AfterFunc(time.Hour, func() { fired <- struct{}{} })
	defer st.timer.Stop()
	before := runtime.NumGoroutine()
	for range 10000 {
		st.refreshed(sessionTerms{interval: 90 * time.Second, refresher: "uac", peerTimer: true})
	}
	if after := runtime.NumGoroutine(); after > before {
		t.Fatalf("goroutines %d -> %d after a refresh flood", before, after)
	}
	select {
	case <-fired:
		t.Fatal("a refresh fired the timer")
	default:
	}
	if got := st.current(); got.interval != 90*time.Second || !got.peerTimer {
		t.Fatalf("terms %+v", got)
	}
}
