package flow

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"maps"
	"net/url"
	"strings"
	"time"

	"github.com/pivotua/pivotua/httpfetch"
)

const (
	// fetchGrace is how long past req_timeout_ms we wait for httpfetch before giving up ourselves.
	fetchGrace = 250 * time.Millisecond
	// maxIdleFetches bounds consecutive pivot fetches with nothing played between them, whatever
	// leads to the next fetch (a TwiML Redirect or action, a Kazoo pivot): a document that leads back
	// to itself would otherwise hammer the webhook forever.
	maxIdleFetches = 20
)

// pivotState is a call's pivot: the one whose documents run and where the next request stands.
type pivotState struct {
	action      *pivotAction // its request format, timeout, debug flag and cdr_url; nil before any
	iteration   int          // 1 for the first request of a pivot cycle, +1 per TwiML follow-up
	documentURL string       // URL of the document being run; base for relative TwiML URLs
	// parentID is set on a Dial callee running its noun's url document: the caller's Call-ID.
	parentID string

	// The fetch-loop guard (fetchLoops): Call.activity when the last fetch was made, and how many
	// fetches in a row came with no activity since the one before.
	fetched         bool // a pivot fetch was made
	activityAtFetch int
	idleFetches     int
}

// pivotAction fetches the developer's voice_url and runs what comes back (module "pivot").
type pivotAction struct {
	voiceURL   string
	method     string // GET or POST
	format     string // kazoo or twiml: the request parameter naming
	bodyFormat string // form or json (POST only)
	timeout    time.Duration
	debug      bool
	cdrURL     string
	// inline is a document given with the request that starts the cycle (the Calls API's Twiml): it
	// runs first, without a fetch, and its Redirects and actions fetch as usual.
	inline *TwiML
}

func parsePivot(d *dataReader) kazooAction {
	a := &pivotAction{}
	if d.required("voice_url") {
		a.voiceURL = d.httpURL("voice_url")
	}
	a.method = strings.ToUpper(d.enum("method", "get", "get", "post"))
	a.format = d.enum("req_format", "kazoo", "kazoo", "twiml")
	a.bodyFormat = d.enum("req_body_format", "form", "form", "json")
	a.timeout = time.Duration(d.integer("req_timeout_ms", 5000, 1, 30000)) * time.Millisecond
	a.debug = d.boolean("debug", false)
	a.cdrURL = d.httpURL("cdr_url")
	return a
}

// pivotDocument is a fetched, parsed and validated response: exactly one field is set.
type pivotDocument struct {
	kazoo *Node
	twiml *TwiML
}

// run is one pivot cycle: the first request (iteration 1) and the TwiML follow-ups it leads to. A Kazoo
// document replaces the running flow; any failure takes the "_" child.
func (a *pivotAction) run(ctx context.Context, c *Call, n *Node) kazooOutcome {
	target, method, inline := a.voiceURL, a.method, a.inline
	c.pivot.iteration = 0
	c.pivot.action = a
	c.events.debug = a.debug // events follow the flag of the pivot whose documents run
	final := false           // the caller hung up: the request is still made (Twilio does), its document not run
	for {
		c.pivot.iteration++
		fctx := ctx
		if final {
			fctx = context.WithoutCancel(ctx)
		}
		var doc pivotDocument
		var err error
		if inline != nil {
			doc, inline = pivotDocument{twiml: inline}, nil
		} else {
			doc, err = c.fetchPivotDocument(fctx, a, target, method)
		}
		if final || ctx.Err() != nil || c.ended() {
			return stopFlow()
		}
		if err != nil {
			return c.pivotFailover(n, err)
		}
		if doc.kazoo != nil {
			return replaceFlow(doc.kazoo)
		}
		out := c.runTwiML(ctx, doc.twiml)
		if out.stop {
			return stopFlow()
		}
		target, method, final = out.redirect, out.method, out.final
	}
}

// pivotFailover continues with the pivot node's "_" child, or ends the call when there is none.
func (c *Call) pivotFailover(n *Node, reason error) kazooOutcome {
	if n.Children["_"] != nil {
		c.log.Warn("pivot failed, continuing with the _ child", "iteration", c.pivot.iteration, "reason", reason)
		return continueWith("_")
	}
	c.log.Warn("pivot failed and there is no _ child, ending the call", "iteration", c.pivot.iteration, "reason", reason)
	c.endCall()
	return stopFlow()
}

// fetchLoops notes a pivot fetch about to be made and reports whether it is one too many: the
// maxIdleFetches before it each came right after another fetch, with nothing played in between. One
// count for both formats and across pivot cycles, so a Kazoo pivot to itself is bounded like a TwiML
// Redirect loop, and so is TwiML that leads to Kazoo JSON that leads back.
func (c *Call) fetchLoops() bool {
	if c.pivot.fetched && c.activity == c.pivot.activityAtFetch {
		c.pivot.idleFetches++
	} else {
		c.pivot.idleFetches = 0
	}
	c.pivot.fetched, c.pivot.activityAtFetch = true, c.activity
	return c.pivot.idleFetches >= maxIdleFetches
}

// fetchPivotDocument sends one pivot request and parses and validates the response.
//
// The request (half a kilobyte of parameters) is on the heap and the response is read in a frame
// of its own: this one is under the request's building and the document's parsing, which must fit
// the 4 KB stack a call starts with (takeCall).
func (c *Call) fetchPivotDocument(ctx context.Context, a *pivotAction, target, method string) (pivotDocument, error) {
	c.flushTypeAhead()
	req := new(httpfetch.PivotRequest)
	c.fillPivotRequest(req, a, target, method)
	if c.fetchLoops() {
		return c.refuseFetchLoop(a, req, target)
	}
	start := time.Now()
	got := c.fetchWithRing(ctx, req)
	return c.readPivotDocument(a, req, target, got, time.Since(start))
}

// refuseFetchLoop is what fetchPivotDocument returns when the fetch would be one too many in a row.
func (c *Call) refuseFetchLoop(a *pivotAction, req *httpfetch.PivotRequest, target string) (pivotDocument, error) {
	err := fmt.Errorf("%w: %d fetches in a row played nothing; %s not requested", ErrFetchLoop, maxIdleFetches, target)
	c.report(a, Exchange{CallID: c.info.CallID, Iteration: c.pivot.iteration, Method: req.Method, URL: req.URL, Err: err})
	return pivotDocument{}, err
}

// readPivotDocument takes the document fetched for req (or notes that none came), and reports the
// exchange.
func (c *Call) readPivotDocument(a *pivotAction, req *httpfetch.PivotRequest, target string, got fetched, elapsed time.Duration) (pivotDocument, error) {
	if c.deps.Observer != nil {
		c.deps.Observer.PivotRequest(pivotStatus(got.resp, got.err), elapsed)
	}
	clear(c.keys.digits)           // Kazoo erases collected digits once a request has been sent
	c.rec.last = recordingResult{} // and a recording is reported once
	c.dial.last = dialResult{}     // and so is a Dial's result
	c.refer = referState{}         // and a <Refer>'s
	c.heard = heardState{}         // and what speech input heard
	err := got.err
	if err == nil && got.resp == nil {
		err = ErrEmptyDocument
	}
	if err != nil {
		c.reportFetch(a, req, got.resp, elapsed, err, false)
		return pivotDocument{}, err
	}
	c.pivot.documentURL = documentBase(target, got.resp.URL)
	c.reportFetch(a, req, got.resp, elapsed, got.parseErr, true)
	return got.doc, got.parseErr
}

// reportFetch reports a pivot exchange (report): err is why it failed, parsing the document when
// parsed.
func (c *Call) reportFetch(a *pivotAction, req *httpfetch.PivotRequest, resp *httpfetch.Document, elapsed time.Duration, err error, parsed bool) {
	if !c.reports(a, err) {
		return
	}
	ex := c.exchange(req, resp, elapsed)
	ex.Err = err
	if err != nil && parsed {
		ex.ErrorKind, ex.Errors = classifyDocumentError(err)
	}
	c.report(a, ex)
}

// documentBase is the URL relative URLs in a document resolve against (RFC 3986 §5.2): where the
// document came from, which differs from the URL requested when the server redirected (http to
// https, /ivr to /ivr/). It keeps the requested URL's own query (the one written in voice_url or an
// action, without the parameters a GET appended) and its credentials while on the same host.
func documentBase(requested, final string) string {
	if sameDocument(requested, final) {
		return requested
	}
	return parsedDocumentBase(requested, final)
}

// parsedDocumentBase is documentBase found by parsing both URLs, whatever they are.
func parsedDocumentBase(requested, final string) string {
	req, err1 := url.Parse(requested)
	fin, err2 := url.Parse(final)
	if final == "" || err1 != nil || err2 != nil {
		return requested
	}
	if fin.Scheme == req.Scheme && fin.Host == req.Host && fin.Path == req.Path {
		return requested
	}
	fin.RawQuery, fin.Fragment = req.RawQuery, ""
	if fin.Host == req.Host {
		fin.User = req.User
	}
	return fin.String()
}

// sameDocument reports, without parsing either URL, what documentBase finds by parsing both when a
// request was not redirected: final is requested with the GET's parameters joined to its query, so
// its scheme, host and path are requested's (both end before the first "?", and requested has no
// fragment to end at instead).
func sameDocument(requested, final string) bool {
	rest, ok := strings.CutPrefix(final, requested)
	switch {
	case !ok || strings.Contains(requested, "#"):
		return false
	case rest == "":
		return true
	case rest[0] == '?':
		return !strings.Contains(requested, "?")
	case rest[0] == '&':
		return strings.Contains(requested, "?")
	}
	return false
}

func (c *Call) pivotRequest(a *pivotAction, target, method string) httpfetch.PivotRequest {
	var req httpfetch.PivotRequest
	c.fillPivotRequest(&req, a, target, method)
	return req
}

// fillPivotRequest sets req to the request of a pivot: a's format, timeout and key, the call's
// parameters.
func (c *Call) fillPivotRequest(req *httpfetch.PivotRequest, a *pivotAction, target, method string) {
	status := "ringing"
	switch {
	case c.ended():
		status = "completed"
	case c.answered:
		status = "in-progress"
	}
	recURL, recDuration := c.rec.last.params()
	direction, sid := "", c.info.CallID
	if c.pivot.parentID != "" {
		direction = "outbound-dial"
	}
	if c.ctl != nil && c.ctl.direction == DirectionOutboundAPI {
		// Set before the call ran and never changed: the API's sid is the call's CallSid.
		direction, sid = DirectionOutboundAPI, c.ctl.sid
	}
	*req = httpfetch.PivotRequest{
		URL:        target,
		Method:     method,
		Format:     a.format,
		BodyFormat: a.bodyFormat,
		Timeout:    a.timeout,
		SigningKey: c.signingKey,
		Params: httpfetch.CallParams{
			AccountID:             c.accountID,
			CallID:                sid,
			Direction:             direction,
			ParentCallID:          c.pivot.parentID,
			CallerIDName:          c.info.CallerIDName,
			CallerIDNumber:        c.info.CallerIDNumber,
			From:                  c.info.From,
			FromRealm:             c.info.FromRealm,
			To:                    c.info.To,
			ToRealm:               c.info.ToRealm,
			Request:               c.info.Request,
			RequestRealm:          c.info.RequestRealm,
			Language:              "en-us",
			CallStatus:            status,
			CustomSIPHeaders:      c.info.CustomSIPHeaders, // the INVITE's, never written: no copy per request
			CustomApplicationVars: nilIfEmpty(c.vars.cavs),
			Digits:                nilIfEmpty(c.keys.digits),
			RecordingURL:          recURL,
			RecordingDuration:     recDuration,
			DialCallStatus:        c.dial.last.status,
			DialCallSid:           c.dial.last.sid,
			DialCallDuration:      c.dial.last.durationParam(),
			ReferCallStatus:       c.refer.status,
			ReferSipResponseCode:  c.refer.code,
			Variables:             c.heard.withVariables(c.vars.twiml),
		},
	}
}

func nilIfEmpty(m map[string]string) map[string]string {
	if len(m) == 0 {
		return nil
	}
	return maps.Clone(m)
}

// fetched is a pivot request's outcome: the response, and the document it holds parsed and
// validated.
type fetched struct {
	resp     *httpfetch.Document
	err      error // no response (or a failed one)
	doc      pivotDocument
	parseErr error // the response's body is no valid document
}

// fetchWithRing fetches the document and parses it on a goroutine of its own, sending 180 Ringing
// from this goroutine (the call's owner) when the fetch takes longer than ringDelay on an unanswered
// call. Parsing there keeps its depth (a TwiML document's XML decoder above all) off the stack the
// call keeps for its life (takeCall).
func (c *Call) fetchWithRing(ctx context.Context, req *httpfetch.PivotRequest) fetched {
	if c.deps.Documents == nil {
		return fetched{err: errors.New("no document fetcher configured")}
	}
	fctx, cancel := context.WithTimeout(ctx, req.Timeout+fetchGrace)
	defer cancel()
	done := make(chan fetched, 1)
	go func() {
		var got fetched
		got.resp, got.err = c.deps.Documents.FetchDocument(fctx, *req)
		if got.err == nil && got.resp != nil {
			got.doc, got.parseErr = parsePivotDocument(documentType(got.resp), got.resp.Body)
		}
		done <- got
	}()
	ring := time.NewTimer(ringDelay)
	defer ring.Stop()
	for {
		select {
		case got := <-done:
			return got
		case <-ring.C:
			if !c.answered {
				if err := c.ch.Ring(); err != nil && !c.ended() {
					c.log.Warn("ringing failed", "err", err)
				}
			}
		}
	}
}

// documentType is the media type resp says its body is.
func documentType(resp *httpfetch.Document) string {
	if resp.ContentType == "" && resp.Header != nil {
		return resp.Header.Get("Content-Type")
	}
	return resp.ContentType
}

func (c *Call) exchange(req *httpfetch.PivotRequest, resp *httpfetch.Document, elapsed time.Duration) Exchange {
	return newExchange(c.info.CallID, c.pivot.iteration, req, resp, elapsed)
}

// newExchange is the debug record of one request of call callID's pivot iteration iteration.
func newExchange(callID string, iteration int, req *httpfetch.PivotRequest, resp *httpfetch.Document, elapsed time.Duration) Exchange {
	ex := Exchange{CallID: callID, Iteration: iteration, Method: req.Method, URL: req.URL, Elapsed: elapsed}
	if resp == nil {
		return ex
	}
	if resp.RequestMethod != "" {
		ex.Method = resp.RequestMethod
	}
	if resp.RequestURL != "" {
		ex.URL = resp.RequestURL
	}
	if resp.Elapsed > 0 {
		ex.Elapsed = resp.Elapsed
	}
	ex.RequestHeader, ex.RequestBody = resp.RequestHeader, resp.RequestBody
	ex.Status, ex.ResponseHeader, ex.ResponseBody = resp.Status, resp.Header, resp.Body
	return ex
}

// reports says whether an exchange that failed with err (nil: did not) goes to the debug hook:
// failures are always kept, so a failover can be explained; successes only with debug: true.
func (c *Call) reports(a *pivotAction, err error) bool {
	return c.deps.Debug != nil && (a.debug || err != nil)
}

// report hands an exchange to the debug hook: always for a failed one, otherwise when debug is on.
func (c *Call) report(a *pivotAction, ex Exchange) {
	if !c.reports(a, ex.Err) {
		return
	}
	ex.AccountID, ex.Debug = c.accountID, a.debug
	c.events.reported = true
	c.deps.Debug(ex)
}

// parsePivotDocument picks the interpreter by Content-Type (product.md "The response") and parses and
// validates the whole document.
func parsePivotDocument(contentType string, body []byte) (pivotDocument, error) {
	if len(bytes.TrimSpace(body)) == 0 {
		return pivotDocument{}, ErrEmptyDocument
	}
	mediaType, _, _ := strings.Cut(contentType, ";")
	switch strings.ToLower(strings.TrimSpace(mediaType)) {
	case "application/json":
		return parseKazooDocument(body)
	case "", "text/xml", "application/xml":
		return parseTwiMLDocument(body)
	}
	if looksLikeTwiML(body) {
		return parseTwiMLDocument(body)
	}
	return parseKazooDocument(body)
}

func parseKazooDocument(body []byte) (pivotDocument, error) {
	n, err := ParseNode(body, "")
	if err != nil {
		return pivotDocument{}, err
	}
	if errs := compileFlow(n, ""); len(errs) > 0 { // the call's own: compiled once, run as compiled
		return pivotDocument{}, errors.Join(errs...)
	}
	return pivotDocument{kazoo: n}, nil
}

func parseTwiMLDocument(body []byte) (pivotDocument, error) {
	t, err := ParseTwiML(body)
	if err != nil {
		return pivotDocument{}, err
	}
	return pivotDocument{twiml: t}, nil
}
