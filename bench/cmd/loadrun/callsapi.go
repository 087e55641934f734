package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"text/tabwriter"
	"time"
)

const (
	benchAccount = "0123456789abcdef0123456789abcdef" // the account of startPivotua's config
	benchAPIKey  = "bench-key"
	apiWorkers   = 4  // concurrent API clients while latency is measured
	apiInFlight  = 64 // at most this many calls.create requests waiting for their answer
)

// apiYAML lifts the Calls API's per-account limits above what the API mode places.
const apiYAML = `api:
  max_calls: 5000
  calls_per_second: 2000
`

// APIResult is the Calls API's figures: the setup ladder (calls.create to the callee's 200 OK) and
// the API's latency with live placed calls.
type APIResult struct {
	Setup     []APISetupStep `json:"setup"`
	Best      *APISetupStep  `json:"setup_best,omitempty"` // highest rate with every call created and answered
	Live      int            `json:"live_calls"`           // placed calls up while the latency was measured
	LiveUp    int            `json:"live_calls_in_progress"`
	Ops       []APIOpFigures `json:"ops,omitempty"`
	CPU       windowCPU      `json:"cpu_while_measured"`
	Pacing    *Pacing        `json:"callee_pacing,omitempty"` // what the callees heard meanwhile (rtpgen)
	HangupOps *APIOpFigures  `json:"hangup,omitempty"`
	Notes     []string       `json:"notes,omitempty"`
}

// APISetupStep is one rate of the ladder: each call's time from calls.create sent to the callee's
// 200 OK for its INVITE, taken from a capture on lo, and the create's own HTTP answer time.
type APISetupStep struct {
	Rate        int       `json:"rate"`
	Calls       int       `json:"calls"`
	Created     int       `json:"created_201"`
	Refused     int       `json:"refused"`
	Answered    int       `json:"answered_200"`
	CreateP50Ms float64   `json:"create_http_p50_ms"`
	CreateP99Ms float64   `json:"create_http_p99_ms"`
	InviteP50Ms float64   `json:"create_to_invite_p50_ms"`
	InviteP99Ms float64   `json:"create_to_invite_p99_ms"`
	P50Ms       float64   `json:"create_to_200_p50_ms"`
	P99Ms       float64   `json:"create_to_200_p99_ms"`
	MaxMs       float64   `json:"create_to_200_max_ms"`
	CPU         windowCPU `json:"cpu"`
	FirstError  string    `json:"first_error,omitempty"`
}

// APIOpFigures is one kind of request's answer times, measured by the client.
type APIOpFigures struct {
	Op     string  `json:"op"`
	N      int     `json:"n"`
	Errors int     `json:"errors"`
	P50Ms  float64 `json:"p50_ms"`
	P99Ms  float64 `json:"p99_ms"`
	MaxMs  float64 `json:"max_ms"`
	Error  string  `json:"first_error,omitempty"`
}

// apiClient speaks to pivotua's Calls API as the account, over kept-alive connections.
type apiClient struct {
	base string // .../2010-04-01/Accounts/AC.../Calls
	hc   *http.Client
}

func newAPIClient(httpURL string) *apiClient {
	return &apiClient{
		base: httpURL + "/2010-04-01/Accounts/AC" + benchAccount + "/Calls",
		hc: &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
			MaxIdleConns: 2 * apiInFlight, MaxIdleConnsPerHost: 2 * apiInFlight, IdleConnTimeout: time.Minute}},
	}
}

// do sends one request and decodes a JSON answer into v (nil: discarded); it returns the status.
func (c *apiClient) do(method, path string, form url.Values, v any) (int, error) {
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, c.base+path, body)
	if err != nil {
		return 0, err
	}
	req.SetBasicAuth("AC"+benchAccount, benchAPIKey)
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 8<<20))
	if err != nil {
		return resp.StatusCode, err
	}
	if resp.StatusCode >= 300 {
		return resp.StatusCode, fmt.Errorf("%s %s: %d %.200s", method, path, resp.StatusCode, b)
	}
	if v != nil {
		return resp.StatusCode, json.Unmarshal(b, v)
	}
	return resp.StatusCode, nil
}

// placed is one calls.create: when it was sent, its answer, its sid.
type placed struct {
	user   string // the To user: finds the call's INVITE in the capture
	sentAt time.Time
	httpMs float64
	sid    string
	err    error
}

// create places n calls at rate a second, To sip:<prefix><i>@callee, each running twiml, and
// returns them once every request was answered.
func (c *apiClient) create(ctx context.Context, n, rate int, prefix, twiml string) []placed {
	out := make([]placed, n)
	sem := make(chan struct{}, apiInFlight)
	var wg sync.WaitGroup
	t0 := time.Now()
	for i := range n {
		if ctx.Err() != nil {
			out[i].err = ctx.Err()
			continue
		}
		time.Sleep(time.Until(t0.Add(time.Duration(float64(i) / float64(rate) * float64(time.Second)))))
		out[i].user = fmt.Sprintf("%s%d", prefix, i)
		sem <- struct{}{}
		wg.Add(1)
		go func(p *placed) {
			defer wg.Done()
			defer func() { <-sem }()
			form := url.Values{"To": {fmt.Sprintf("sip:%s@%s:%d", p.user, sippIP, calleePort)}, "From": {"+15550100"}, "Twiml": {twiml}}
			var call struct {
				Sid string `json:"sid"`
			}
			p.sentAt = time.Now()
			_, p.err = c.do("POST", ".json", form, &call)
			p.httpMs = float64(time.Since(p.sentAt).Microseconds()) / 1000
			p.sid = call.Sid
		}(&out[i])
	}
	wg.Wait()
	return out
}

func runCallsAPI(ctx context.Context, o options, bin, genBin, work, resDir string) (*APIResult, error) {
	dir := filepath.Join(work, "calls-api")
	total := o.apiLive
	for _, r := range o.apiRates {
		total += r * int(o.rateDur.Seconds())
	}
	bound := time.Duration(len(o.apiRates))*(o.rateDur+30*time.Second) + 4*time.Minute
	rg, err := startRig(ctx, o, bin, genBin, dir, bound+time.Minute, apiYAML)
	if err != nil {
		return nil, err
	}
	defer rg.stop()
	gen, hook, ua := rg.gen, rg.hook, rg.ua
	callee, err := startSIPp(o.repo, filepath.Join(dir, "callee"), sippArgs{callee: true, calls: total, timeout: bound, prio: o.peerPrio})
	if err != nil {
		return nil, err
	}
	defer live.stop(callee.cmd, 3*time.Second, callee.done)
	time.Sleep(time.Second)
	api := newAPIClient(ua.httpURL)
	res := &APIResult{}

	// The setup ladder: short calls (a second of silence, then the document hangs up).
	short := `<Response><Pause length="1"/><Hangup/></Response>`
	for _, rate := range o.apiRates {
		if ctx.Err() != nil {
			return res, ctx.Err()
		}
		step, err := apiSetupStep(ctx, o, api, ua, dir, rate, short)
		if err != nil {
			return res, err
		}
		res.Setup = append(res.Setup, *step)
		fmt.Printf("   %4d creates/s: %d created, %d refused, %d answered; create->200 p50 %.2f ms p99 %.2f ms (create->INVITE p99 %.2f ms), pivotua %.1f %% core\n",
			rate, step.Created, step.Refused, step.Answered, step.P50Ms, step.P99Ms, step.InviteP99Ms, step.CPU.UACorePct)
		if step.Created < step.Calls || step.Answered < step.Calls {
			break
		}
		best := *step
		res.Best = &best
		time.Sleep(2 * time.Second) // the last calls' second of silence and BYE
	}

	// The live calls: each plays the prompt until it is hung up.
	res.Live = o.apiLive
	rate := 100
	if res.Best != nil {
		rate = min(rate, res.Best.Rate)
	}
	fmt.Printf("   placing %d calls at %d/s that play until hung up\n", o.apiLive, rate)
	play := fmt.Sprintf(`<Response><Play loop="0">%s/prompt.wav</Play></Response>`, hook.url)
	calls := api.create(ctx, o.apiLive, rate, "live", play)
	var sids []string
	for _, p := range calls {
		if p.err == nil && p.sid != "" {
			sids = append(sids, p.sid)
		} else if p.err != nil && len(res.Notes) < 3 {
			res.Notes = append(res.Notes, "create: "+p.err.Error())
		}
	}
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) && ctx.Err() == nil {
		res.LiveUp = api.inProgress()
		if res.LiveUp >= len(sids) {
			break
		}
		time.Sleep(500 * time.Millisecond)
	}
	if len(sids) == 0 {
		return res, fmt.Errorf("no call was placed: %v", res.Notes)
	}
	fmt.Printf("   %d of %d placed calls in progress; measuring the API\n", res.LiveUp, o.apiLive)
	time.Sleep(2 * time.Second) // their documents' first fetches and prompts settle
	if _, err := gen.mark(); err != nil {
		return res, err
	}
	a := takeSnapshot(ua.pid(), callee.pid(), gen.pid(), 0)
	res.Ops = measureAPI(api, sids, play)
	b := takeSnapshot(ua.pid(), callee.pid(), gen.pid(), 0)
	res.CPU = cpuBetween(a, b)
	if gw, err := gen.mark(); err == nil {
		res.Pacing = genPacing(gw)
	}
	// Hang every placed call up through the API, timed too.
	h := runOps(sids, 2*apiWorkers, func(sid string) (string, error) {
		_, err := api.do("POST", "/"+sid+".json", url.Values{"Status": {"completed"}}, nil)
		return "hangup", err
	})
	if len(h) > 0 {
		res.HangupOps = &h[0]
	}
	printAPI(&Result{API: res})
	return res, nil
}

// inProgress counts the account's calls in progress (one page of up to 1000).
func (c *apiClient) inProgress() int {
	var page struct {
		Calls []json.RawMessage `json:"calls"`
	}
	if _, err := c.do("GET", ".json?Status=in-progress&PageSize=1000", nil, &page); err != nil {
		return 0
	}
	return len(page.Calls)
}

// apiSetupStep places rate*rateDur short calls at rate a second and times each from its create to
// the callee's 200 OK on the wire.
func apiSetupStep(ctx context.Context, o options, api *apiClient, ua *pivotua, dir string, rate int, twiml string) (*APISetupStep, error) {
	n := rate * int(o.rateDur.Seconds())
	capPath := filepath.Join(dir, fmt.Sprintf("api-sip-%d.pcapng", rate))
	capDone := make(chan error, 1)
	go func() {
		_, err := captureFilter(ctx, o.peerPrio, capPath, o.rateDur+4*time.Second,
			fmt.Sprintf("udp and host %s and port %d", sippIP, calleePort), 0)
		capDone <- err
	}()
	time.Sleep(700 * time.Millisecond) // dumpcap listening
	a := takeSnapshot(ua.pid(), 0, 0, 0)
	calls := api.create(ctx, n, rate, fmt.Sprintf("r%dn", rate), twiml)
	b := takeSnapshot(ua.pid(), 0, 0, 0)
	s := &APISetupStep{Rate: rate, Calls: n, CPU: cpuBetween(a, b)}
	var httpMs []float64
	for _, p := range calls {
		if p.err != nil {
			s.Refused++
			if s.FirstError == "" {
				s.FirstError = p.err.Error()
			}
			continue
		}
		s.Created++
		httpMs = append(httpMs, p.httpMs)
	}
	sort.Float64s(httpMs)
	s.CreateP50Ms, s.CreateP99Ms = round(pct(httpMs, 50), 2), round(pct(httpMs, 99), 2)
	if err := <-capDone; err != nil {
		return s, fmt.Errorf("capture: %w", err)
	}
	invites, oks, err := calleeTimes(ctx, capPath)
	if err != nil {
		return s, err
	}
	var toInvite, to200 []float64
	for _, p := range calls {
		if p.err != nil {
			continue
		}
		t0 := float64(p.sentAt.UnixNano()) / 1e9
		if t, ok := invites[p.user]; ok {
			toInvite = append(toInvite, (t-t0)*1000)
		}
		if t, ok := oks[p.user]; ok {
			to200 = append(to200, (t-t0)*1000)
		}
	}
	s.Answered = len(to200)
	sort.Float64s(toInvite)
	sort.Float64s(to200)
	s.InviteP50Ms, s.InviteP99Ms = round(pct(toInvite, 50), 2), round(pct(toInvite, 99), 2)
	s.P50Ms, s.P99Ms = round(pct(to200, 50), 2), round(pct(to200, 99), 2)
	if len(to200) > 0 {
		s.MaxMs = round(to200[len(to200)-1], 2)
	}
	if !o.keepWork {
		_ = os.Remove(capPath)
	}
	return s, nil
}

// calleeTimes reads a capture of the callee's SIP: per Request-URI user, when its first INVITE went
// out and when the first 200 OK to it came back (Unix seconds).
func calleeTimes(ctx context.Context, path string) (invites, oks map[string]float64, err error) {
	pkts, err := sipPackets(ctx, path, calleePort)
	if err != nil {
		return nil, nil, err
	}
	user := map[string]string{} // Call-ID -> Request-URI user of its INVITE
	invites, oks = map[string]float64{}, map[string]float64{}
	for _, p := range pkts {
		switch {
		case p.method == "INVITE" && p.ruriUser != "":
			if _, ok := user[p.callID]; !ok {
				user[p.callID] = p.ruriUser
				invites[p.ruriUser] = p.t
			}
		case p.status == "200" && p.cseqMethod == "INVITE":
			if u, ok := user[p.callID]; ok {
				if _, seen := oks[u]; !seen {
					oks[u] = p.t
				}
			}
		}
	}
	return invites, oks, nil
}

// measureAPI times, with apiWorkers clients at once, fetches of live calls, the first page of the
// list, the whole list of calls in progress, and updates that redirect a live call to a new document.
func measureAPI(api *apiClient, sids []string, twiml string) []APIOpFigures {
	type job struct{ op, sid string }
	var jobs []job
	for i := range 1000 {
		jobs = append(jobs, job{"fetch", sids[i%len(sids)]})
	}
	for range 200 {
		jobs = append(jobs, job{"list", ""})
	}
	for range 50 {
		jobs = append(jobs, job{"list in-progress (all)", ""})
	}
	for i := range 200 {
		jobs = append(jobs, job{"update (Twiml)", sids[(i*7)%len(sids)]})
	}
	rand.Shuffle(len(jobs), func(i, j int) { jobs[i], jobs[j] = jobs[j], jobs[i] })
	keys := make([]string, len(jobs))
	byKey := map[string]job{}
	for i, j := range jobs {
		keys[i] = strconv.Itoa(i)
		byKey[keys[i]] = j
	}
	return runOps(keys, apiWorkers, func(k string) (string, error) {
		j := byKey[k]
		var err error
		switch j.op {
		case "fetch":
			_, err = api.do("GET", "/"+j.sid+".json", nil, nil)
		case "list":
			_, err = api.do("GET", ".json", nil, nil)
		case "list in-progress (all)":
			_, err = api.do("GET", ".json?Status=in-progress&PageSize=1000", nil, nil)
		default:
			_, err = api.do("POST", "/"+j.sid+".json", url.Values{"Twiml": {twiml}}, nil)
		}
		return j.op, err
	})
}

// runOps runs f over items with workers at once and returns each op's answer times.
func runOps(items []string, workers int, f func(string) (string, error)) []APIOpFigures {
	type sample struct {
		op  string
		ms  float64
		err error
	}
	ch := make(chan string)
	out := make(chan sample, len(items))
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for it := range ch {
				t0 := time.Now()
				op, err := f(it)
				out <- sample{op, float64(time.Since(t0).Microseconds()) / 1000, err}
			}
		}()
	}
	for _, it := range items {
		ch <- it
	}
	close(ch)
	wg.Wait()
	close(out)
	byOp := map[string]*APIOpFigures{}
	ms := map[string][]float64{}
	var order []string
	for s := range out {
		fg := byOp[s.op]
		if fg == nil {
			fg = &APIOpFigures{Op: s.op}
			byOp[s.op] = fg
			order = append(order, s.op)
		}
		fg.N++
		if s.err != nil {
			fg.Errors++
			if fg.Error == "" {
				fg.Error = s.err.Error()
			}
			continue
		}
		ms[s.op] = append(ms[s.op], s.ms)
	}
	sort.Strings(order)
	var figs []APIOpFigures
	for _, op := range order {
		fg := byOp[op]
		v := ms[op]
		sort.Float64s(v)
		fg.P50Ms, fg.P99Ms = round(pct(v, 50), 2), round(pct(v, 99), 2)
		if len(v) > 0 {
			fg.MaxMs = round(v[len(v)-1], 2)
		}
		figs = append(figs, *fg)
	}
	return figs
}

func printAPI(res *Result) {
	r := res.API
	if r == nil {
		return
	}
	w := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(w, "creates/s\tcalls\tcreated\trefused\tanswered\tcreate HTTP p50/p99 ms\tcreate->INVITE p50/p99 ms\tcreate->200 p50/p99/max ms\tcore %\tother %\t")
	for _, s := range r.Setup {
		fmt.Fprintf(w, "%d\t%d\t%d\t%d\t%d\t%.2f/%.2f\t%.2f/%.2f\t%.2f/%.2f/%.2f\t%.1f\t%.1f\t\n", s.Rate, s.Calls, s.Created, s.Refused, s.Answered,
			s.CreateP50Ms, s.CreateP99Ms, s.InviteP50Ms, s.InviteP99Ms, s.P50Ms, s.P99Ms, s.MaxMs, s.CPU.UACorePct, s.CPU.OtherPct)
	}
	w.Flush()
	for _, s := range r.Setup {
		if s.FirstError != "" {
			fmt.Printf("  %d/s first refusal: %s\n", s.Rate, s.FirstError)
		}
	}
	if r.Best != nil {
		fmt.Printf("highest create rate with every call placed and answered: %d/s (create->200 p50 %.2f ms, p99 %.2f ms)\n", r.Best.Rate, r.Best.P50Ms, r.Best.P99Ms)
	}
	if len(r.Ops) == 0 {
		fmt.Println()
		return
	}
	fmt.Printf("API answer times with %d placed calls live (%d in progress), %d clients at once; pivotua %.1f %% core meanwhile:\n", r.Live, r.LiveUp, apiWorkers, r.CPU.UACorePct)
	w = tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(w, "request\tn\terrors\tp50 ms\tp99 ms\tmax ms\t")
	ops := r.Ops
	if r.HangupOps != nil {
		ops = append(append([]APIOpFigures(nil), ops...), *r.HangupOps)
	}
	for _, op := range ops {
		fmt.Fprintf(w, "%s\t%d\t%d\t%.2f\t%.2f\t%.2f\t\n", op.Op, op.N, op.Errors, op.P50Ms, op.P99Ms, op.MaxMs)
	}
	w.Flush()
	for _, op := range ops {
		if op.Error != "" {
			fmt.Printf("  %s first error: %s\n", op.Op, op.Error)
		}
	}
	if p := r.Pacing; p != nil {
		fmt.Printf("the callees' audio meanwhile (rtpgen): loss %d/%d, p50/p99/p99.9 dev %.3f/%.3f/%.3f ms, max Δ %.2f ms\n",
			p.Lost, p.Expected, p.DevP50Ms, p.DevP99Ms, p.DevP999Ms, p.MaxDeltaMs)
	}
	fmt.Println()
}
