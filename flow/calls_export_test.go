package flow

// Register puts the call in the registry r as an inbound call, as Server.HandleCall does, so that
// r.Update steers it (calls_test.go).
func (c *Call) Register(r *Calls) CallRecord {
	c.ctl = r.register(CallRecord{AccountID: c.accountID, SIPCallID: c.info.CallID, Direction: DirectionInbound, Status: StatusRinging})
	return c.ctl.rec
}

// End ends the call sid with status, as Server.HandleCall does once the call is over.
func (r *Calls) End(sid string, status string) {
	r.mu.Lock()
	e := r.bySid[sid]
	r.mu.Unlock()
	r.end(e, status)
}
