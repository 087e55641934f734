package flow

import (
	"context"
	"log/slog"
	"net/netip"

	"github.com/pivotua/pivotua/media"
	"github.com/pivotua/pivotua/sip"
)

// ServerConfig wires the per-call state machine to the rest of the process.
type ServerConfig struct {
	Router    *Router
	APIKeys   map[string]string // account ID -> api_key (signs that account's requests)
	Engine    *media.Engine
	Advertise netip.Addr // address put in our SDP; invalid = the RTP socket's own
	Documents DocumentFetcher
	Media     MediaFetcher
	Speech    Speaker
	Prompts   *PromptCache   // decoded media shared by all calls; nil: NewPromptCache(0, nil)
	Debug     func(Exchange) // the debug store's sink; nil keeps no records
	Events    func(Event)    // the debug store's sink for call events; nil keeps none
	// Recordings is the folder recordings are written to; Uploads delivers them.
	Recordings string
	Uploads    Uploader
	// RecordingLinks gives TwiML <Record> recordings their URL on the HTTP listener.
	RecordingLinks RecordingLinker
	Observer       Observer // metrics; nil counts nothing
	Logger         *slog.Logger
	// Outbound places Dial's outbound legs (the *sip.Server); nil refuses every Dial. Trunks are where
	// numbers go.
	Outbound OutboundSIP
	Trunks   []Trunk
}

// Server turns inbound SIP calls into running callflows.
type Server struct {
	cfg  ServerConfig
	deps Deps
	log  *slog.Logger
}

// NewServer prepares a Server; its HandleCall is the sip.Handler.
func NewServer(cfg ServerConfig) *Server {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Prompts == nil {
		cfg.Prompts = NewPromptCache(0, nil)
	}
	return &Server{
		cfg: cfg,
		log: cfg.Logger,
		deps: Deps{
			Documents: cfg.Documents, Media: cfg.Media, Speech: cfg.Speech,
			Prompts: cfg.Prompts, Debug: cfg.Debug, Events: cfg.Events, Logger: cfg.Logger,
			Recordings: cfg.Recordings, Uploads: cfg.Uploads, RecordingLinks: cfg.RecordingLinks, Observer: cfg.Observer,
			Dial: DialDeps{Outbound: cfg.Outbound, Trunks: cfg.Trunks, Engine: cfg.Engine, Advertise: cfg.Advertise},
		},
	}
}

var _ sip.Handler = (*Server)(nil).HandleCall

// HandleCall routes the call by the Request-URI user (the To user when it has none) and
// runs its callflow; no route gets 404, no free RTP port 503.
func (s *Server) HandleCall(c *sip.InboundCall) {
	info := c.Info()
	log := s.log.With("call_id", info.CallID)
	if s.cfg.Observer != nil {
		defer func() { s.cfg.Observer.CallEnded(callOutcome(c.FinalStatus())) }()
	}
	route, ok := s.cfg.Router.Match(info.RequestUser, info.ToUser)
	if !ok {
		log.Info("no callflow for the number: 404", "request", info.RequestUser, "to", info.ToUser, "from", info.FromUser)
		_ = c.Reject(404, "Not Found")
		return
	}
	log = log.With("account_id", route.AccountID)
	leg, err := newInboundLeg(c, s.cfg.Engine, s.cfg.Advertise, s.cfg.Observer, log)
	if err != nil {
		log.Error("cannot take the call: 503", "error", err)
		_ = c.Reject(503, "Service Unavailable")
		return
	}
	defer leg.close()
	log.Info("call start", "request", info.RequestUser, "from", info.FromUser, "transport", info.Transport, "source", info.Source)
	deps := s.deps
	deps.Logger = s.log.With("account_id", route.AccountID) // NewCall adds call_id
	NewCall(leg, route.AccountID, s.cfg.APIKeys[route.AccountID], deps).Run(context.Background(), route.Flow)
	st := leg.media.Stats()
	log.Info("call end", "rtp_sent", st.PacketsSent, "rtp_received", st.PacketsReceived, "rtp_lost", st.PacketsLost)
}
