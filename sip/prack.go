package sip

import (
	"crypto/rand"
	"encoding/binary"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/emiago/sipgo/sip"
)

// reliableProvisional is an inbound call's RFC 3262 state: the RSeq of our
// reliable 18x and the one waiting for its PRACK.
type reliableProvisional struct {
	send sync.Mutex // one reliable 18x at a time (§3: the next waits for the PRACK)
	// mu guards the fields below; handlePrack reads them on a sipgo goroutine.
	mu      sync.Mutex
	rseq    uint32        // the RSeq of the last reliable 18x; 0 before the first
	pending chan struct{} // closed by its PRACK; nil when none is waiting
	acked   uint32        // the RSeq last PRACKed, so a retransmitted PRACK gets 200 again
}

// peerReliable says how the caller's INVITE stands on 100rel (RFC 3262 §3):
// required (every 18x must be reliable) or supported (we may send them so).
func peerReliable(req *sip.Request) (required, supported bool) {
	required = hasOptionTag(req, "100rel", "Require")
	return required, required || hasOptionTag(req, "100rel", "Supported", "k")
}

// provisional sends a 18x, reliably when the caller supports 100rel and
// reliable is asked for, or when it requires 100rel (RFC 3262 §3), and then
// waits for its PRACK: retransmitted from T1, doubling, for 64*T1. A reliable
// 18x never PRACKed rejects the call with 500, as §3 recommends.
func (c *InboundCall) provisional(code int, reason string, body []byte, reliable bool) error {
	required, supported := peerReliable(c.dlg.InviteRequest)
	if !required && !(reliable && supported) {
		var hdrs []sip.Header
		if body != nil {
			hdrs = append(hdrs, sip.NewHeader("Content-Type", "application/sdp"))
		}
		return c.dlg.Respond(code, reason, body, hdrs...)
	}
	rp := &c.reliable
	rp.send.Lock()
	defer rp.send.Unlock()
	rp.mu.Lock()
	if rp.rseq == 0 {
		// §3: the first RSeq is random, 1 to 2^31-1.
		var b [4]byte
		_, _ = rand.Read(b[:])
		rp.rseq = binary.BigEndian.Uint32(b[:])&(1<<31-1) | 1
	} else {
		rp.rseq++
	}
	rseq, prack := rp.rseq, make(chan struct{})
	rp.pending = prack
	rp.mu.Unlock()

	res := sip.NewResponseFromRequest(c.dlg.InviteRequest, code, reason, body)
	if body != nil {
		res.AppendHeader(sip.NewHeader("Content-Type", "application/sdp"))
	}
	res.AppendHeader(sip.NewHeader("Require", "100rel"))
	res.AppendHeader(sip.NewHeader("RSeq", strconv.FormatUint(uint64(rseq), 10)))
	if err := c.dlg.WriteResponse(res); err != nil {
		return err
	}
	interval := sip.T1
	timer := time.NewTimer(interval)
	defer timer.Stop()
	deadline := time.NewTimer(64 * sip.T1)
	defer deadline.Stop()
	for {
		select {
		case <-prack:
			return nil
		case <-timer.C:
			if err := c.dlg.WriteResponse(res); err != nil {
				return err
			}
			interval *= 2
			timer.Reset(interval)
		case <-deadline.C:
			c.srv.log.Info("reliable provisional response never PRACKed; rejecting the call", "call_id", c.info.CallID, "status", code)
			_ = c.Reject(500, "Server Internal Error")
			return ErrNoPrack
		case <-c.Done():
			return fmt.Errorf("%w: caller gone before PRACK", ErrCallEnded)
		}
	}
}

// handlePrack answers a PRACK (RFC 3262 §3): 200 when its RAck names our
// pending (or last acknowledged) reliable 18x of this INVITE, else 481.
func (c *InboundCall) handlePrack(req *sip.Request, tx sip.ServerTransaction) {
	rseq, cseq, method, ok := parseRAck(req)
	inv := c.dlg.InviteRequest.CSeq()
	if !ok || inv == nil || cseq != inv.SeqNo || !strings.EqualFold(method, string(sip.INVITE)) {
		c.srv.respond(req, tx, 481, "Call/Transaction Does Not Exist", sip.NewHeader("Warning", warningValue("RAck matches no reliable response")))
		return
	}
	rp := &c.reliable
	rp.mu.Lock()
	switch {
	case rp.pending != nil && rseq == rp.rseq:
		close(rp.pending)
		rp.pending, rp.acked = nil, rseq
	case rseq != 0 && rseq == rp.acked:
		// a retransmitted PRACK: answer it again
	default:
		rp.mu.Unlock()
		c.srv.respond(req, tx, 481, "Call/Transaction Does Not Exist", sip.NewHeader("Warning", warningValue("RAck matches no reliable response")))
		return
	}
	rp.mu.Unlock()
	c.srv.respond(req, tx, 200, "OK")
}

// parseRAck reads "RAck: response-num CSeq-num Method" (RFC 3262 §7.2).
func parseRAck(req *sip.Request) (rseq, cseq uint32, method string, ok bool) {
	h := req.GetHeader("RAck")
	if h == nil {
		return 0, 0, "", false
	}
	f := strings.Fields(h.Value())
	if len(f) != 3 {
		return 0, 0, "", false
	}
	r, err1 := strconv.ParseUint(f[0], 10, 32)
	c, err2 := strconv.ParseUint(f[1], 10, 32)
	if err1 != nil || err2 != nil {
		return 0, 0, "", false
	}
	return uint32(r), uint32(c), f[2], true
}

func (s *Server) onPrack(req *sip.Request, tx sip.ServerTransaction) {
	c := s.lookup(req)
	if c == nil {
		if !s.outboundInDialog(req, tx) {
			s.respond(req, tx, 481, "Call/Transaction Does Not Exist")
		}
		return
	}
	c.handlePrack(req, tx)
}
