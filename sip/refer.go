package sip

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/emiago/sipgo/sip"
)

// This file is call transfer by REFER (RFC 3515): the REFER pivotua sends to
// its caller for TwiML <Refer> and the NOTIFYs that report on it. The REFERs
// a peer sends us are refer_in.go's.

const (
	// maxReferTarget bounds a Refer-To URI: it comes from a webhook.
	maxReferTarget = 1024
	// maxReferHeaders bounds the headers a Refer-To URI carries after '?'.
	maxReferHeaders = 8
	// maxSipfragLine is how much of a sipfrag body's first line is read.
	maxSipfragLine = 256
)

// ReferResult is how a REFER of ours ended.
type ReferResult struct {
	// ReferStatus is the final response to the REFER; 0 when none came.
	ReferStatus int
	// NotifyStatus is the status line of the first final sipfrag a NOTIFY
	// carried (RFC 3515 §2.4.5); 0 when none came before the wait ended.
	NotifyStatus int
}

// referState is the call's pending REFER, which the NOTIFYs of its implicit
// subscription report to. Its own mutex: NOTIFYs arrive on sipgo goroutines.
type referState struct {
	mu      sync.Mutex
	pending *referWait
}

// referWait receives the final sipfrag status of one REFER.
type referWait struct {
	final chan int // cap 1: the first final status wins, later ones are dropped
}

func (s *referState) start() *referWait {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.pending != nil {
		return nil
	}
	s.pending = &referWait{final: make(chan int, 1)}
	return s.pending
}

func (s *referState) stop() {
	s.mu.Lock()
	s.pending = nil
	s.mu.Unlock()
}

func (s *referState) current() *referWait {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.pending
}

func (w *referWait) deliver(code int) {
	select {
	case w.final <- code:
	default:
	}
}

// CheckReferTarget returns why target cannot be sent in a Refer-To header, or
// nil. It comes from a webhook: a sip: or sips: URI with a host, at most
// maxReferTarget bytes, no control characters, nothing that ends the
// name-addr ('<', '>', '"', white space), and after '?' only X- headers and
// User-to-User (RFC 3261 §19.1.1), which the transferee copies into its
// INVITE; a Replaces or Route header would turn the transfer into something
// else.
func CheckReferTarget(target string) error {
	if len(target) > maxReferTarget {
		return fmt.Errorf("%w: %d bytes, over %d", ErrReferTarget, len(target), maxReferTarget)
	}
	if err := checkValue("Refer-To URI", target); err != nil {
		return err
	}
	if i := strings.IndexAny(target, "<>\" \t"); i >= 0 {
		return fmt.Errorf("%w: %q at byte %d", ErrReferTarget, target[i], i)
	}
	lower := strings.ToLower(target)
	if !strings.HasPrefix(lower, "sip:") && !strings.HasPrefix(lower, "sips:") {
		return fmt.Errorf("%w: not a sip: or sips: URI", ErrReferTarget)
	}
	uri, headers, _ := strings.Cut(target, "?")
	var u sip.Uri
	if err := sip.ParseUri(uri, &u); err != nil || u.Host == "" {
		return fmt.Errorf("%w: no host", ErrReferTarget)
	}
	if headers == "" {
		return nil
	}
	fields := strings.Split(headers, "&")
	if len(fields) > maxReferHeaders {
		return fmt.Errorf("%w: %d headers, over %d", ErrReferTarget, len(fields), maxReferHeaders)
	}
	for _, f := range fields {
		name, _, _ := strings.Cut(f, "=")
		if !isToken(name) || !(len(name) > 2 && strings.EqualFold(name[:2], "x-") || strings.EqualFold(name, "User-to-User")) {
			return fmt.Errorf("%w: header %q: only X- headers and User-to-User", ErrReferTarget, name)
		}
	}
	return nil
}

// ParseSipfrag reads the status code of a message/sipfrag body (RFC 3420)
// that holds a response's status line, as NOTIFYs for a REFER do (RFC 3515
// §2.4.5): "SIP/2.0 200 OK". Only the first line is read, and at most
// maxSipfragLine bytes of it.
func ParseSipfrag(body []byte) (int, error) {
	line := body
	if i := strings.IndexAny(string(line[:min(len(line), maxSipfragLine+2)]), "\r\n"); i >= 0 {
		line = line[:i]
	}
	if len(line) > maxSipfragLine {
		return 0, fmt.Errorf("sipfrag status line over %d bytes", maxSipfragLine)
	}
	s := string(line)
	rest, ok := strings.CutPrefix(s, "SIP/2.0 ")
	if !ok {
		return 0, fmt.Errorf("sipfrag is not a status line: %q", strings.Map(dropControl, s))
	}
	codeText, _, _ := strings.Cut(rest, " ")
	code, err := strconv.Atoi(codeText)
	if err != nil || len(codeText) != 3 || code < 100 || code > 699 {
		return 0, fmt.Errorf("sipfrag status code %q is not 100-699", strings.Map(dropControl, codeText))
	}
	return code, nil
}

// Refer asks the caller to call target instead (RFC 3515: blind transfer)
// and waits for the outcome: the final response to the REFER and, when it
// was accepted, the first final status a NOTIFY reports. The wait ends with
// ctx (bound it: a peer may never NOTIFY) or the call. One REFER at a time.
func (c *InboundCall) Refer(ctx context.Context, target string) (ReferResult, error) {
	if err := CheckReferTarget(target); err != nil {
		return ReferResult{}, err
	}
	if !c.Answered() {
		return ReferResult{}, ErrNotAnswered
	}
	w := c.refer.start()
	if w == nil {
		return ReferResult{}, ErrReferPending
	}
	defer c.refer.stop()

	inv := c.dlg.InviteRequest
	req := sip.NewRequest(sip.REFER, inv.Contact().Address)
	req.SetTransport(inv.Transport())
	if dest, ok := c.srv.invitesConnection(inv); ok {
		req.SetDestination(dest)
	}
	req.AppendHeader(sip.NewHeader("Refer-To", "<"+target+">"))
	rctx, cancel := context.WithTimeout(ctx, 32*time.Second) // 64*T1: the transaction's own bound
	res, err := c.dlg.Do(rctx, req)
	cancel()
	if err != nil {
		return ReferResult{}, c.ended(fmt.Errorf("REFER: %w", err))
	}
	out := ReferResult{ReferStatus: res.StatusCode}
	if !res.IsSuccess() {
		return out, nil
	}
	select {
	case out.NotifyStatus = <-w.final:
		return out, nil
	case <-ctx.Done():
		return out, nil
	case <-c.Done():
		return out, nil
	}
}

// handleNotify answers a NOTIFY in the call's dialog: the implicit
// subscription of our pending REFER (RFC 3515 §2.4.4) takes its sipfrag; any
// other NOTIFY names a subscription we do not have (RFC 6665 §4.1.3: 481).
func (c *InboundCall) handleNotify(req *sip.Request, tx sip.ServerTransaction) {
	if err := c.dlg.ReadRequest(req, tx); err != nil {
		c.srv.respond(req, tx, 500, "Server Internal Error", sip.NewHeader("Retry-After", "1"))
		return
	}
	w := c.refer.current()
	if w == nil || !isReferEvent(req) {
		c.srv.respond(req, tx, 481, "Subscription Does Not Exist")
		return
	}
	code, err := ParseSipfrag(req.Body())
	if err != nil {
		c.srv.log.Debug("NOTIFY with an unusable sipfrag", "call_id", c.info.CallID, "err", err)
		c.srv.respond(req, tx, 400, "Bad Request", sip.NewHeader("Warning", warningValue(err.Error())))
	} else {
		c.srv.respond(req, tx, 200, "OK")
	}
	switch {
	case err == nil && code >= 200:
		w.deliver(code)
	case subscriptionTerminated(req):
		// RFC 6665 §4.1.3: the subscription ended; no final status will follow (0: none known).
		if err != nil {
			code = 0
		}
		w.deliver(code)
	}
}

// subscriptionTerminated reports whether a NOTIFY ends its subscription.
func subscriptionTerminated(req *sip.Request) bool {
	st := req.GetHeader("Subscription-State")
	if st == nil {
		return false
	}
	state, _, _ := strings.Cut(st.Value(), ";")
	return strings.EqualFold(strings.TrimSpace(state), "terminated")
}

// isReferEvent reports whether a NOTIFY's Event is "refer" (RFC 3515 §2.4.4;
// its ;id= parameter names the REFER, and pivotua has one at a time).
func isReferEvent(req *sip.Request) bool {
	h := req.GetHeader("Event")
	if h == nil {
		return false
	}
	pkg, _, _ := strings.Cut(h.Value(), ";")
	return strings.EqualFold(strings.TrimSpace(pkg), "refer")
}

// onNotify hands a NOTIFY to its call; one outside our dialogs gets 481.
func (s *Server) onNotify(req *sip.Request, tx sip.ServerTransaction) {
	if c := s.lookup(req); c != nil {
		c.handleNotify(req, tx)
		return
	}
	s.respond(req, tx, 481, "Subscription Does Not Exist")
}
