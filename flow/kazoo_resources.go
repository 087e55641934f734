package flow

import (
	"context"
	"time"
)

// resourcesAction bridges the caller to a number through a trunk (module "resources"): to_did, default
// the dialled number, and timeout in seconds (Kazoo's bridge default, 20). As in Kazoo the caller is not
// answered before the callee answers; its 180/183 (with early media) reach the caller meanwhile.
type resourcesAction struct {
	toDID   string
	timeout time.Duration
	trunk   string
}

func parseResources(d *dataReader) kazooAction {
	a := &resourcesAction{toDID: normaliseNumber(d.str("to_did", ""))}
	if msg := checkPhoneNumber(a.toDID); a.toDID != "" && msg != "" {
		d.fail("to_did", msg)
	}
	a.timeout = time.Duration(d.integer("timeout", 20, 1, 600)) * time.Second
	a.trunk = d.str("trunk", "")
	d.boolean("use_local_resources", true)
	return a
}

// run dials and continues with "_" afterwards, whatever the outcome (the result goes with the next pivot
// request); a caller who hung up ends the flow.
func (a *resourcesAction) run(ctx context.Context, c *Call, _ *Node) kazooOutcome {
	number := a.toDID
	if number == "" {
		number = c.info.Request
	}
	pl := dialPlan{timeout: a.timeout, answerOnBridge: true}
	if ep, err := trunkURI(c.deps.Dial.Trunks, a.trunk, number, c.accountID); err != nil {
		pl.refuse(c, "resources", number, err)
	} else {
		pl.targets = append(pl.targets, ep)
	}
	return c.runDialModule(ctx, pl, "resources")
}

// runDialModule dials pl for a Kazoo module and picks where the flow goes.
func (c *Call) runDialModule(ctx context.Context, pl dialPlan, module string) kazooOutcome {
	c.activity++
	res := c.runDial(ctx, pl, module)
	if res.callerHungUp || c.ended() {
		return stopFlow()
	}
	return continueWith("_")
}
