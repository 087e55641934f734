package sip

import (
	"net/netip"
)

// EarlyMedia sends 183 Session Progress with our SDP answer for local, so
// the caller hears a bridged callee's ringback or announcements before the
// call is answered (Dial answerOnBridge). The later Answer sends the same
// SDP in its 200. It needs an INVITE with an offer (ErrNoSDP for a
// delayed-offer INVITE) and fails with ErrAlreadyAnswered after a final
// response.
func (c *InboundCall) EarlyMedia(local netip.AddrPort) (MediaDesc, error) {
	if c.offer == nil {
		return MediaDesc{}, ErrNoSDP
	}
	c.mu.Lock()
	if c.final {
		c.mu.Unlock()
		return MediaDesc{}, ErrAlreadyAnswered
	}
	c.local.addr = local
	body, err := c.local.answer(c.media)
	md := c.media
	c.mu.Unlock()
	if err != nil {
		return MediaDesc{}, err
	}
	// Reliably when the caller supports 100rel (RFC 3262), so its early media is not lost with a datagram.
	if err := c.provisional(183, "Session Progress", body, true); err != nil {
		return MediaDesc{}, c.ended(err)
	}
	return md, nil
}
