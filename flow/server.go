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
	// the call up is in takeCall: its locals are then not part of the stack each call keeps. At rest
	// under 4 KB, that stack is shrunk by the runtime to 8 KB; over it, it stays at 16 (16 MB of
	// stacks at 1,000 calls instead of 8).
	t := s.takeCall(c)
	if t == nil {
		return
	}
	defer t.end()
	t.call.run(context.Background(), t.flow, nil, t.checked)
}

// takenCall is an inbound call HandleCall runs: its state machine, its callflow, and what ends it.
type takenCall struct {
	call    *Call
	flow    *Node
	checked bool // flow was validated once for its route
	leg     *inboundLeg
	sip     *sip.InboundCall
	reg     *Calls // nil: the call is in no registry
	log     *slog.Logger
}

// takeCall routes c and prepares its call; nil when the call is already dealt with (refused, or a
// room leg another node sent, hosted here).
func (s *Server) takeCall(c *sip.InboundCall) *takenCall {
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
	// One logger with the call's attributes for the call's life, shared by its leg, its media session
	// and its state machine: each With copies the handler and formats the attributes (about 180 bytes
	// a logger, kept per call).
	log := s.log.With("call_id", info.CallID, "account_id", route.AccountID)
	leg, err := newInboundLeg(c, s.cfg.Dial.Engine, s.cfg.Dial.Advertise, s.cfg.Observer, log)
	if err != nil {
		log.Error("cannot take the call: 503", "error", err)
		_ = c.Reject(503, "Service Unavailable")
		return nil
	}
	log.Info("call start", "request", info.RequestUser, "from", info.FromUser, "transport", info.Transport, "source", info.Source)
	call := newCall(leg, route.AccountID, s.cfg.APIKeys[route.AccountID], &s.cfg.Deps, log)
	t := &takenCall{call: call, flow: route.Flow, checked: route.checked, leg: leg, sip: c, log: log}
	if s.cfg.Calls != nil {
		t.reg = s.cfg.Calls
		call.ctl = t.reg.register(CallRecord{SIPCallID: info.CallID, AccountID: route.AccountID,
			From: info.FromUser, To: info.RequestUser, Direction: DirectionInbound, Status: StatusRinging})
	}
	return t
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
