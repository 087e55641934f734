package main

import (
	"io"
	"net/http"
	"regexp"
	"strconv"
	"testing"

	"github.com/pivotua/pivotua/internal/testkit"
	"github.com/pivotua/pivotua/internal/testkit/sipptest"
)

// scrape reads one series' value from pivotua's /metrics (0 when absent).
func scrape(t *testing.T, p *pivotuaInstance, series string) float64 {
	t.Helper()
	res, err := http.Get(p.httpURL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	m := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(series) + ` ([0-9.e+]+)$`).FindSubmatch(body)
	if m == nil {
		return 0
	}
	v, _ := strconv.ParseFloat(string(m[1]), 64)
	return v
}

func TestE2EMetricsCountRealCalls(t *testing.T) {
	needE2E(t)
	hook := newWebhook(t, collectThenReport)
	p := startPivotua(t, pivotFlow(hook.URL+"/voice", nil))
	if err := runSIPp(t, p, "uac_info.xml", sipptest.Data{RTPPort: testkit.FreePort(t), Codec: 0}); err != nil {
		t.Fatal(err)
	}
	if err := runSIPp(t, p, "uac_refused.xml", sipptest.Data{Service: "5555", RTPPort: 9, Expect: 404}); err != nil {
		t.Fatal(err)
	}
	for series, want := range map[string]float64{
		`pivotua_calls_total{outcome="completed"}`:                   1,
		`pivotua_calls_total{outcome="rejected"}`:                    1,
		`pivotua_pivot_requests_total{status="200"}`:                 2,
		`pivotua_pivot_request_duration_seconds_count{status="200"}`: 2,
		`pivotua_dtmf_events_total{source="sip-info"}`:               4,
		`pivotua_calls_active`:                                       0,
	} {
		if got := scrape(t, p, series); got != want {
			t.Errorf("%s = %v, want %v", series, got, want)
		}
	}
	if sent := scrape(t, p, "pivotua_rtp_packets_sent_total"); sent < 10 {
		t.Errorf("pivotua_rtp_packets_sent_total = %v, want the answered call's packets", sent)
	}
}
