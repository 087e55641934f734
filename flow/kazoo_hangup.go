package flow

import "context"

// hangupAction ends the call (module "hangup"): BYE when answered, else 480 (the Channel's choice).
type hangupAction struct{}

func parseHangup(*dataReader) kazooAction { return hangupAction{} }

func (hangupAction) run(_ context.Context, c *Call, _ *Node) kazooOutcome {
	c.hangup()
	return stopFlow()
}
