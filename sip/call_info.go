package sip

import (
	"strings"
	"sync"

	"github.com/emiago/sipgo/sip"
)

// infoDigits is where one dialog's DTMF keys sent by SIP INFO go.
type infoDigits struct {
	mu sync.Mutex
	fn func(key byte)
}

func (d *infoDigits) set(fn func(key byte)) {
	d.mu.Lock()
	d.fn = fn
	d.mu.Unlock()
}

// handle answers an in-dialog INFO. DTMF comes as application/dtmf-relay
// ("Signal=5\r\nDuration=160") or application/dtmf ("5"); other INFO bodies
// are acknowledged and ignored, as some phones send INFO as keepalives.
func (d *infoDigits) handle(s *Server, req *sip.Request, tx sip.ServerTransaction) {
	key, ok := parseDTMFInfo(req)
	s.respond(req, tx, 200, "OK")
	if !ok {
		return
	}
	d.mu.Lock()
	fn := d.fn
	d.mu.Unlock()
	if fn != nil {
		fn(key)
	}
}

// OnDigit registers fn to be called (on a sipgo goroutine) for each DTMF key
// the caller sends by SIP INFO.
func (c *InboundCall) OnDigit(fn func(key byte)) { c.infoDigits.set(fn) }

// OnDigit registers fn to be called (on a sipgo goroutine) for each DTMF key
// the callee sends by SIP INFO.
func (oc *OutboundCall) OnDigit(fn func(key byte)) { oc.infoDigits.set(fn) }

// parseDTMFInfo reads the key of a DTMF INFO body.
func parseDTMFInfo(req *sip.Request) (byte, bool) {
	ct := req.ContentType()
	if ct == nil {
		return 0, false
	}
	mediaType := strings.ToLower(strings.TrimSpace(strings.Split(ct.Value(), ";")[0]))
	body := string(req.Body())
	var signal string
	switch mediaType {
	case "application/dtmf-relay":
		for _, line := range strings.Split(body, "\n") {
			name, value, ok := strings.Cut(line, "=")
			if ok && strings.EqualFold(strings.TrimSpace(name), "signal") {
				signal = strings.TrimSpace(value)
				break
			}
		}
	case "application/dtmf":
		signal = strings.TrimSpace(body)
	default:
		return 0, false
	}
	if len(signal) == 2 && signal == "10" {
		return '*', true // some phones send the RFC 4733 event number
	}
	if len(signal) == 2 && signal == "11" {
		return '#', true
	}
	if len(signal) != 1 {
		return 0, false
	}
	k := signal[0]
	switch {
	case k >= '0' && k <= '9', k == '*', k == '#':
		return k, true
	case k >= 'A' && k <= 'D':
		return k, true
	case k >= 'a' && k <= 'd':
		return k - 'a' + 'A', true
	}
	return 0, false
}
