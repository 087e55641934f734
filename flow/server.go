package flow

import (
	"context"
	"log/slog"

	"github.com/pivotua/pivotua/sip"
)

// ServerConfig wires the per-call state machine to the rest of the process.
type ServerConfig struct {
	Router  *Router
	APIKeys map[string]string // account ID -> api_key (signs that account's requests)
	// Calls is the registry the Calls API reads and steers: every call taken or placed is in it;
	// nil keeps none (and Originate refuses).
	Calls *Calls
	// Deps are shared by every call, each logging through Logger with its call_id and account_id;
	// Deps.Dial's Engine and Advertise open the inbound leg too (nil Prompts:
	// NewPromptCache(0, nil); nil Logger: slog.Default()).
	Deps
}

// Server turns inbound SIP calls into running callflows.
type Server struct {
	cfg ServerConfig
	log *slog.Logger
}

// NewServer prepares a Server; its HandleCall is the sip.Handler.
func NewServer(cfg ServerConfig) *Server {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Prompts == nil {
		cfg.Prompts = NewPromptCache(0, nil)
	}
	if cfg.Conferences == nil {
		cfg.Conferences = NewConferences()
	}
	if cfg.Queues == nil {
		cfg.Queues = NewQueues()
	}
	return &Server{cfg: cfg, log: cfg.Logger}
}

// Conferences is the registry of the conference rooms this server's calls are in: what a REST control
// lists and steers (mute, hold, kick by CallSid).
func (s *Server) Conferences() *Conferences { return s.cfg.Conferences }

// Queues is the registry of the call queues this server's calls wait in: what the Queues API lists
// and dequeues from.
func (s *Server) Queues() *Queues { return s.cfg.Queues }

var _ sip.Handler = (*Server)(nil).HandleCall

// HandleCall routes the call by the Request-URI user (the To user when it has none) and
// runs its callflow; no route gets 404, no free RTP port 503.
func (s *Server) HandleCall(c *sip.InboundCall) {
	if s.cfg.Observer != nil {
		defer func() { s.cfg.Observer.CallEnded(callOutcome(c.FinalStatus())) }()
	}
	// The call's goroutine spends the call's life below this frame, waiting in a verb, so what sets
	// the call up is in takeCall: its locals are then not part of the stack each call keeps.
	t := s.takeCall(c)
	if t == nil {
		return
	}
	t.logStart() // here, not deeper: a log line's handler is deep
	defer t.end()
	t.call.run(context.Background(), t.route.Flow, nil, t.route.checked)
}

// takenCall is an inbound call HandleCall runs: its state machine, its callflow, and what ends it.
type takenCall struct {
	call  *Call
	route *Route // its Flow is the call's callflow
	leg   *inboundLeg
	sip   *sip.InboundCall
	reg   *Calls // nil: the call is in no registry
	log   *slog.Logger
}

// takeCall routes c and prepares its call; nil when the call is already dealt with (refused, or a
// room leg another node sent, hosted here).
//
// A call's goroutine starts with a 4 KB stack (the runtime's average need) and keeps what it grows
// to: at rest in a verb it uses about 2.5 KB, too much for the runtime to halve an 8 KB stack again.
// So what the call's goroutine runs keeps out of the stack's last kilobyte: the deep parts of a call
// (a log line, parsing a pivot document, marshalling SDP and sending the 200) run on other
// goroutines or near the stack's top (HandleCall), and the large values in frames of their own. This
// frame is under everything that sets the call up, opening the RTP socket deepest, so it holds only
// pointers.
func (s *Server) takeCall(c *sip.InboundCall) *takenCall {
	route := s.routeCall(c)
	if route == nil {
		return nil
	}
	// One logger with the call's attributes for the call's life, shared by its leg, its media session
	// and its state machine: each With copies the handler and formats the attributes (about 180 bytes
	// a logger, kept per call).
	t := &takenCall{route: route, sip: c, log: s.log.With("call_id", c.CallID(), "account_id", route.AccountID)}
	leg, err := newInboundLeg(c, s.cfg.Dial.Engine, s.cfg.Dial.Advertise, s.cfg.Observer, t.log)
	if err != nil {
		t.log.Error("cannot take the call: 503", "error", err)
		_ = c.Reject(503, "Service Unavailable")
		return nil
	}
	s.startCall(t, leg)
	return t
}

// routeCall finds c's route; nil when the call is dealt with here (a room leg, or no route: 404).
func (s *Server) routeCall(c *sip.InboundCall) *Route {
	info := c.Info()
	if s.cfg.Conferences.directory() != nil && isRoomLeg(info) { // another node's caller joins a room hosted here
		s.hostRoomLeg(c, s.log.With("call_id", info.CallID))
		return nil
	}
	route, ok := s.cfg.Router.Match(info.RequestUser, info.ToUser)
	if !ok {
		s.log.Info("no callflow for the number: 404", "call_id", info.CallID, "request", info.RequestUser, "to", info.ToUser, "from", info.FromUser)
		_ = c.Reject(404, "Not Found")
		return nil
	}
	return route
}

// startCall makes t's state machine on leg, and its entry in the Calls API's registry.
func (s *Server) startCall(t *takenCall, leg *inboundLeg) {
	info := t.sip.Info()
	t.leg = leg
	t.call = newCall(leg, t.route.AccountID, s.cfg.APIKeys[t.route.AccountID], &s.cfg.Deps, t.log)
	if s.cfg.Calls != nil {
		t.reg = s.cfg.Calls
		t.call.ctl = t.reg.register(CallRecord{SIPCallID: info.CallID, AccountID: t.route.AccountID,
			From: info.FromUser, To: info.RequestUser, Direction: DirectionInbound, Status: StatusRinging})
	}
}

// logStart is the call's first log line.
func (t *takenCall) logStart() {
	request, from, transport, source := startFields(t.sip)
	t.log.Info("call start", "request", request, "from", from, "transport", transport, "source", source)
}

// startFields is what logStart tells of c. Not inlined: its copy of c's CallInfo (216 bytes) would
// be in logStart's frame, under the log line's handling.
//
//go:noinline
func startFields(c *sip.InboundCall) (request, from, transport, source string) {
	info := c.Info()
	return info.RequestUser, info.FromUser, info.Transport, info.Source
}

// end is what follows the call's flow: the log's last line, the registry's entry ended, the leg closed.
func (t *takenCall) end() {
	st := t.leg.media.Stats()
	t.log.Info("call end", "rtp_sent", st.PacketsSent, "rtp_received", st.PacketsReceived, "rtp_lost", st.PacketsLost)
	if t.reg != nil {
		t.reg.end(t.call.ctl, inboundStatus(t.sip.Answered(), t.sip.FinalStatus()))
	}
	t.leg.close()
}

// inboundStatus is the Calls API's final status of an inbound call: completed once answered, else
// what the final response (0: none, the caller canceled) says.
func inboundStatus(answered bool, finalStatus int) string {
	switch {
	case answered:
		return StatusCompleted
	case finalStatus == 0 || finalStatus == 487:
		return StatusCanceled
	case finalStatus == 486 || finalStatus == 600:
		return StatusBusy
	case finalStatus == 408 || finalStatus == 480:
		return StatusNoAnswer
	}
	return StatusFailed
}
