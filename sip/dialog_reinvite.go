package sip

import (
	"strings"
	"sync"
	"time"

	"github.com/emiago/sipgo/sip"
)

// dialogMedia is the part of a dialog a re-INVITE changes, shared by inbound
// and outbound calls. The owner's mutex guards it.
type dialogMedia struct {
	mu       *sync.Mutex
	local    *localSDP
	media    *MediaDesc
	onMedia  *func(MediaDesc)
	reinvite *chan *sip.Request // ACKs for a pending re-INVITE 200; nil when none pending
	headers  []sip.Header       // more headers for the 200 (a session refresh's, RFC 4028 §9)
}

// answerReinvite answers a re-INVITE on an established dialog (RFC 3261 §14.2):
// the offer's direction is complemented (RFC 3264 §6.1), so a hold (sendonly)
// is answered recvonly; a re-INVITE without SDP gets our offer and its answer
// is read from the ACK. The new media goes to the owner's OnMediaChange.
func (s *Server) answerReinvite(d dialogMedia, req *sip.Request, tx sip.ServerTransaction, contact sip.ContactHeader, done <-chan struct{}) {
	var md MediaDesc
	var body []byte
	var err error
	d.mu.Lock()
	if len(req.Body()) > 0 {
		var off remoteOffer
		if off, err = parseRemoteSDP(req.Body()); err == nil {
			md, err = d.local.accept(off)
		}
		if err != nil {
			d.mu.Unlock()
			s.respond(req, tx, 488, "Not Acceptable Here", sip.NewHeader("Warning", warningValue(err.Error())))
			return
		}
		d.local.version++
		body, err = d.local.answer(md)
	} else {
		d.local.version++
		body, err = d.local.offer()
	}
	if err != nil {
		d.mu.Unlock()
		s.respond(req, tx, 500, "Server Internal Error")
		return
	}
	acks := make(chan *sip.Request, 1)
	*d.reinvite = acks
	d.mu.Unlock()

	res := sip.NewSDPResponseFromRequest(req, body)
	res.AppendHeader(sip.HeaderClone(&contact))
	for _, h := range d.headers {
		res.AppendHeader(h)
	}
	ack := respond2xxUntilAck(tx, res, acks, done)
	d.mu.Lock()
	*d.reinvite = nil
	d.mu.Unlock()
	if len(req.Body()) == 0 {
		// We offered in the 200; the answer came in the ACK (or never did: nothing changes).
		if ack == nil {
			return
		}
		off, err := parseRemoteSDP(ack.Body())
		if err == nil {
			d.mu.Lock()
			md, err = d.local.acceptAnswer(off)
			d.mu.Unlock()
		}
		if err != nil {
			// The peer can repeat this at will: a line each at debug, a summary at warning.
			s.log.Debug("re-INVITE answer in ACK not usable", "call_id", callID(req), "error", err)
			s.guard.summary.tally("unusable-ack-answer", ack.Source())
			return
		}
	}
	d.mu.Lock()
	*d.media = md
	fn := *d.onMedia
	d.mu.Unlock()
	if fn != nil {
		fn(md)
	}
}

// respond2xxUntilAck sends a 2xx and retransmits it with T1 doubling to T2
// until its ACK arrives (RFC 3261 §13.3.1.4), for at most 64*T1.
func respond2xxUntilAck(tx sip.ServerTransaction, res *sip.Response, acks <-chan *sip.Request, done <-chan struct{}) *sip.Request {
	if err := tx.Respond(res); err != nil {
		return nil
	}
	interval := sip.T1
	timer := time.NewTimer(interval)
	defer timer.Stop()
	deadline := time.After(64 * sip.T1)
	for {
		select {
		case ack := <-acks:
			return ack
		case <-timer.C:
			if strings.EqualFold(res.Transport(), "udp") || res.Transport() == "" {
				_ = tx.Respond(res)
			}
			interval = min(2*interval, sip.T2)
			timer.Reset(interval)
		case <-deadline:
			return nil
		case <-done:
			return nil
		}
	}
}
