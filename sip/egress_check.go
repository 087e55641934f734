package sip

import (
	"context"
	"fmt"
	"strings"

	"github.com/emiago/sipgo/sip"
)

// CheckTarget resolves a SIP URI's host as Dial would and returns the ErrEgressDenied that Dial would
// refuse it with under sip.egress, or another error when the URI cannot be dialled at all; nil when
// Dial may go ahead. An API that starts a leg asks first, so its client gets the refusal as an answer
// rather than as a leg that failed later. Dial still checks again, on the address it sends to.
func (s *Server) CheckTarget(ctx context.Context, target string) error {
	bare, _, err := SplitURIHeaders(strings.TrimSpace(target))
	if err != nil {
		return err
	}
	var u sip.Uri
	if err := sip.ParseUri(bare, &u); err != nil {
		return fmt.Errorf("bad target %q: %w", target, err)
	}
	if u.Host == "" {
		return fmt.Errorf("bad target %q: no host", target)
	}
	_, _, err = s.resolveTarget(ctx, u.Host, u.Port, targetTransport(u))
	return err
}
