package flow

import (
	"context"
	"time"
)

// sipURIAction bridges the caller to a SIP URI (module "sip_uri"): uri, optional username and password
// for digest, timeout in seconds (default 20). Like resources, the caller stays unanswered until the
// callee answers.
type sipURIAction struct {
	endpoint dialEndpoint
	timeout  time.Duration
}

func parseSIPURI(d *dataReader) kazooAction {
	a := &sipURIAction{}
	if d.required("uri") {
		uri := d.str("uri", "")
		if msg := CheckSIPURI(uri); msg != "" {
			d.fail("uri", msg)
		}
		a.endpoint.uri = uri
	}
	a.endpoint.username = d.str("username", "")
	a.endpoint.password = d.str("password", "")
	if msg := checkSIPText(a.endpoint.username); msg != "" {
		d.fail("username", msg)
	}
	if msg := checkSIPText(a.endpoint.password); msg != "" {
		d.fail("password", msg)
	}
	a.timeout = time.Duration(d.integer("timeout", 20, 1, 600)) * time.Second
	return a
}

func (a *sipURIAction) run(ctx context.Context, c *Call, _ *Node) kazooOutcome {
	return c.runDialModule(ctx, dialPlan{targets: []dialEndpoint{a.endpoint}, timeout: a.timeout, answerOnBridge: true}, "sip_uri")
}
