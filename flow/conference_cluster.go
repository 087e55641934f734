package flow

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/pivotua/pivotua/codec"
	"github.com/pivotua/pivotua/httpfetch"
	"github.com/pivotua/pivotua/media"
	"github.com/pivotua/pivotua/sip"
)

// Several nodes behind one SIP load balancer: a conference room lives on one node, the one that
// claimed its name (per account) in a RoomDirectory all nodes share. A caller whose document names a
// room another live node hosts is joined by a SIP leg from its own node to the hosting node: the
// caller's node places an INVITE to RoomLegUser at the host's SIP address carrying a signed
// RoomTokenHeader (the account, the room, the party's options, an expiry; HMAC-SHA256 keyed by the
// account's api_key) and bridges the caller to that leg, as Dial bridges a callee; the hosting node
// checks the token (403 without a valid one: a hostile INVITE cannot join a room) and runs the leg as
// a party of the room. Without a directory (SQLite: one node) none of this runs.
//
// A token joins once, and only the leg it was signed for: it names the leg's Call-ID, and the hosting
// node remembers every token it accepted until the token expires, so an INVITE captured by a host on
// the path and sent again (a new transaction, the same Call-ID) gets 403. A leg the hosting node
// refuses gets a status that says why, and the caller's node reads it as a local refusal reads
// (DialCallStatus=failed), except 503: the room moved to, or could not be hosted by, that node, and
// the caller's node hosts its caller itself.

// RoomDirectory is the shared table of the rooms every node hosts; cmd/pivotua wires debugapi's
// PostgreSQL implementation. Its methods are called from call goroutines, never on a media clock.
type RoomDirectory interface {
	// Claim makes this node the host of the account's room name unless a live node other than this
	// one hosts it, and returns the host's SIP address ("host:port") and whether it is this node. A
	// row of a node that stopped heartbeating is taken over.
	Claim(ctx context.Context, accountID, name string) (host string, local bool, err error)
	// Lookup returns the live host of the account's room name; found is false when none hosts it.
	Lookup(ctx context.Context, accountID, name string) (host string, local, found bool, err error)
	// Release forgets that this node hosts the account's room name (its last party left).
	Release(ctx context.Context, accountID, name string) error
}

// The room leg's wire format.
const (
	// RoomLegUser is the Request-URI user of an INVITE that joins a room hosted here from another node.
	RoomLegUser = "pivotua-room"
	// RoomTokenHeader carries the room leg's signed token: base64url(JSON) "." base64url(HMAC).
	RoomTokenHeader = "X-Pivotua-Room"
	// roomTokenTTL is how long a token is valid: long enough for an INVITE to cross, short enough that
	// one captured is soon worthless.
	roomTokenTTL = 30 * time.Second
	// maxRoomToken bounds the header read (sip's URI headers hold at most 1 KiB anyway).
	maxRoomToken = 1024
	// roomLegRing bounds the wait for the hosting node's answer.
	roomLegRing = 10 * time.Second
	// maxRoomWaitURL bounds a waitUrl carried in a token: with the rest of the token it stays within
	// maxRoomToken once encoded.
	maxRoomWaitURL = 400
	// roomWaitTimeout bounds the hosting node's fetch of a room leg's waitUrl (a pivot's default).
	roomWaitTimeout = 5 * time.Second
	// roomDirectoryTimeout bounds one request to the directory.
	roomDirectoryTimeout = 3 * time.Second
	// maxRoomTokensSeen bounds the tokens a hosting node remembers (about 150 bytes each): with
	// tokens valid for at most two TTLs, 50,000 is over 800 room legs a second.
	maxRoomTokensSeen = 50_000
)

// The hosting node's refusals of a room leg, one per cause; the caller's node maps them back
// (joinRemoteRoom): on 503 it hosts its caller itself, on any other the Dial fails.
const (
	roomRefusedToken     = 403 // no valid token, a token used already or signed for another Call-ID
	roomRefusedCoach     = 404 // coach: the party to coach is not in the room
	roomRefusedBusy      = 480 // this node remembers maxRoomTokensSeen tokens already
	roomRefusedFull      = 486 // the room holds its maxParticipants
	roomRefusedFailed    = 500 // the join failed otherwise
	roomRefusedElsewhere = 503 // another live node hosts the room, or no media here: the caller's node hosts its caller
)

// roomToken is what the caller's node says about the party it sends to the hosting node. Every option
// of a join that the hosting node can honour is here, the waitUrl too (the hosting node fetches and runs
// it for the party, as for its own); the rest (statusCallback of a room the hosting node already runs,
// the Dial action) stay with the caller's node.
type roomToken struct {
	Account  string `json:"a"`
	Room     string `json:"r"`
	Expires  int64  `json:"e"` // Unix seconds
	CallSid  string `json:"s"` // the caller's CallSid: the party's name in the room (coach, REST)
	Muted    bool   `json:"m,omitempty"`
	Deaf     bool   `json:"d,omitempty"`
	Start    bool   `json:"so,omitempty"` // startConferenceOnEnter
	End      bool   `json:"eo,omitempty"` // endConferenceOnExit
	Beep     bool   `json:"be,omitempty"`
	BeepExit bool   `json:"bx,omitempty"`
	Max      int    `json:"x,omitempty"`
	Record   bool   `json:"rc,omitempty"`
	Trim     bool   `json:"t,omitempty"`
	Coach    string `json:"c,omitempty"`
	Silent   bool   `json:"w,omitempty"`  // an empty waitUrl, or one not carried: silence here
	WaitURL  string `json:"wu,omitempty"` // the absolute waitUrl the hosting node runs for the party
	WaitGet  bool   `json:"wg,omitempty"` // waitMethod GET (else POST)
	CallID   string `json:"ci"`           // the leg's SIP Call-ID: the token is good for that INVITE only
}

// signRoomToken encodes t signed with key.
func signRoomToken(t roomToken, key string) (string, error) {
	body, err := json.Marshal(t)
	if err != nil {
		return "", err
	}
	payload := base64.RawURLEncoding.EncodeToString(body)
	return payload + "." + base64.RawURLEncoding.EncodeToString(roomMAC(payload, key)), nil
}

func roomMAC(payload, key string) []byte {
	m := hmac.New(sha256.New, []byte(key))
	m.Write([]byte("pivotua-room-leg\x00"))
	m.Write([]byte(payload))
	return m.Sum(nil)
}

// verifyRoomToken checks a token from the INVITE of Call-ID callID: well formed, an account keys
// names, a MAC of that key, not expired nor dated beyond one TTL, a room name within bounds, signed
// for that Call-ID. Any failure is ErrRoomToken, with what was wrong. Whether it was used before is
// roomTokenLedger's to say.
func verifyRoomToken(raw string, keys map[string]string, callID string, now time.Time) (roomToken, error) {
	var t roomToken
	if raw == "" {
		return t, fmt.Errorf("%w: no %s header", ErrRoomToken, RoomTokenHeader)
	}
	if len(raw) > maxRoomToken {
		return t, fmt.Errorf("%w: %d bytes, at most %d", ErrRoomToken, len(raw), maxRoomToken)
	}
	payload, mac64, ok := strings.Cut(raw, ".")
	if !ok {
		return t, fmt.Errorf("%w: not payload.signature", ErrRoomToken)
	}
	body, err := base64.RawURLEncoding.DecodeString(payload)
	if err != nil {
		return t, fmt.Errorf("%w: payload is not base64url", ErrRoomToken)
	}
	mac, err := base64.RawURLEncoding.DecodeString(mac64)
	if err != nil {
		return t, fmt.Errorf("%w: signature is not base64url", ErrRoomToken)
	}
	if err := json.Unmarshal(body, &t); err != nil {
		return roomToken{}, fmt.Errorf("%w: payload: %v", ErrRoomToken, err)
	}
	key, ok := keys[t.Account]
	if !ok || key == "" {
		return roomToken{}, fmt.Errorf("%w: unknown account", ErrRoomToken)
	}
	if !hmac.Equal(mac, roomMAC(payload, key)) {
		return roomToken{}, fmt.Errorf("%w: bad signature", ErrRoomToken)
	}
	exp := time.Unix(t.Expires, 0)
	if now.After(exp) || exp.Sub(now) > 2*roomTokenTTL {
		return roomToken{}, fmt.Errorf("%w: expired or dated too far ahead", ErrRoomToken)
	}
	if t.Room == "" || len(t.Room) > maxConferenceName || hasControlChars(t.Room) ||
		len(t.CallSid) > 256 || hasControlChars(t.CallSid) || len(t.Coach) > 256 || hasControlChars(t.Coach) {
		return roomToken{}, fmt.Errorf("%w: room or call names out of bounds", ErrRoomToken)
	}
	if t.WaitURL != "" && (len(t.WaitURL) > maxRoomWaitURL || hasControlChars(t.WaitURL) || !isHTTPURL(t.WaitURL)) {
		return roomToken{}, fmt.Errorf("%w: waitUrl out of bounds or not http(s)", ErrRoomToken)
	}
	if t.CallID == "" || t.CallID != callID {
		return roomToken{}, fmt.Errorf("%w: signed for another Call-ID", ErrRoomToken)
	}
	return t, nil
}

// roomTokenLedger is the tokens a hosting node accepted, by signature, until each expires: a token
// joins once. Its memory is bounded by maxRoomTokensSeen; past it a token is refused
// (errRoomTokensFull) rather than forgotten early, which would let a replay in.
type roomTokenLedger struct {
	mu    sync.Mutex
	seen  map[string]struct{}
	order []seenRoomToken // in the order accepted: expiries nearly ordered, every node signs now+TTL
}

type seenRoomToken struct {
	sig     string
	expires time.Time
}

// roomTokenSig is the signature of a token verifyRoomToken accepted, decoded: base64 lets a few
// spellings of one signature through, and a replay must not pass for a new token by another one.
func roomTokenSig(raw string) string {
	_, mac64, _ := strings.Cut(raw, ".")
	mac, _ := base64.RawURLEncoding.DecodeString(mac64)
	return string(mac)
}

// errRoomTokensFull is the ledger holding maxRoomTokensSeen live tokens.
var errRoomTokensFull = errors.New("too many room tokens live at once")

// use records the token whose signature is sig and that expires at expires, unless it was used
// before (ErrRoomToken) or the ledger is full (errRoomTokensFull). Tokens that expired are forgotten
// first, from the oldest accepted; one behind a later expiry is kept a little longer, never less.
func (l *roomTokenLedger) use(sig string, expires, now time.Time) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.seen == nil {
		l.seen = map[string]struct{}{}
	}
	n := 0
	for n < len(l.order) && now.After(l.order[n].expires) {
		delete(l.seen, l.order[n].sig)
		n++
	}
	l.order = l.order[n:]
	if _, dup := l.seen[sig]; dup {
		return fmt.Errorf("%w: token already used", ErrRoomToken)
	}
	if len(l.seen) >= maxRoomTokensSeen {
		return fmt.Errorf("%w: %d", errRoomTokensFull, len(l.seen))
	}
	l.seen[sig] = struct{}{}
	l.order = append(l.order, seenRoomToken{sig: sig, expires: expires})
	return nil
}

// Share makes the registry's rooms part of the rooms every node sharing dir sees. Call it before the
// first call.
func (cs *Conferences) Share(dir RoomDirectory) {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	cs.dir = dir
}

// directory returns the shared directory, nil for one node.
func (cs *Conferences) directory() RoomDirectory {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	return cs.dir
}

// roomClosed forgets, in the shared directory, that this node hosts cf: its last party left. cs.mu
// is held, so it only starts the release.
func (cs *Conferences) roomClosed(cf *conference) {
	dir := cs.dir
	if dir == nil {
		return
	}
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), roomDirectoryTimeout)
		defer cancel()
		if err := dir.Release(ctx, cf.account, cf.name); err != nil {
			cf.log.Warn("conference: the shared room could not be released", "conference", cf.name, "err", err)
		}
	}()
}

// claimRoom asks the shared directory who hosts the account's room name, claiming it for this node
// when nobody does. It returns the other node's SIP address, or "" when the room is (to be) hosted
// here: one node, the directory down (logged: the room may then split), or this node's claim.
func (cs *Conferences) claimRoom(ctx context.Context, accountID, name string, log *slog.Logger) string {
	dir := cs.directory()
	if dir == nil {
		return ""
	}
	ctx, cancel := context.WithTimeout(ctx, roomDirectoryTimeout)
	defer cancel()
	host, local, err := dir.Claim(ctx, accountID, name)
	if err != nil {
		log.Warn("conference: the shared room directory failed; the room is hosted here", "conference", name, "err", err)
		return ""
	}
	if local {
		return ""
	}
	return host
}

// joinRemoteRoom bridges the caller to the room hosted at host through a signed SIP leg and waits
// as runConference does. ok is false when the leg could not be placed (the caller then joins a room
// here).
func (c *Call) joinRemoteRoom(ctx context.Context, spec conferenceSpec, verb, host string) (res conferenceResult, ok bool) {
	res = conferenceResult{status: "failed"}
	d := c.deps.Dial
	bc := c.ch.Bridge()
	if d.Outbound == nil || d.Engine == nil || bc == nil {
		c.log.Warn(verb + ": no outbound SIP to reach the node hosting the room")
		return res, false
	}
	legID := sip.NewCallID()
	tok, err := c.roomLegToken(spec, verb, legID)
	if err != nil {
		return res, false
	}
	target := "sip:" + RoomLegUser + "@" + host + "?" + RoomTokenHeader + "=" + tok
	caller := bc.Session()
	leg, local, err := openOutboundLeg(d, dialEndpoint{uri: "sip:" + RoomLegUser + "@" + host}, caller, c.log)
	if err != nil {
		c.log.Warn(verb+": no media for the leg to the room's node", "err", err)
		return res, false
	}
	defer leg.close()
	oc, err := d.Outbound.Dial(ctx, sip.OutboundRequest{Target: target, FromUser: c.info.CallerIDNumber, FromDisplay: c.info.CallerIDName,
		LocalRTP: local, RingTimeout: roomLegRing, CallID: legID})
	if err != nil {
		c.log.Warn(verb+": the node hosting the room refused the leg", "conference", spec.name, "host", host, "err", err)
		var de *sip.DialError
		if !errors.As(err, &de) || de.Code == 0 || de.Code == roomRefusedElsewhere {
			return res, false // no answer, or the room is not there: the caller joins a room here
		}
		// The hosting node said why it cannot take the party: as a local refusal, the Dial fails.
		c.event(EventDial, map[string]any{"verb": verb, "status": res.status, "conference": spec.name, "host": host,
			"reason": fmt.Sprintf("%d %s", de.Code, de.Reason)})
		return res, true
	}
	leg.call = oc
	if err := leg.startMedia(oc.Media()); err != nil {
		c.log.Warn(verb+": room leg media", "err", err)
		return res, true
	}
	oc.OnMediaChange(func(md sip.MediaDesc) { _ = leg.startMedia(md) })
	br, err := media.NewBridge(caller, leg.sess)
	if err != nil {
		c.log.Error(verb+": bridge to the room's node", "err", err)
		return res, true
	}
	defer br.Stop()
	c.activity++
	joined := time.Now()
	c.log.Info(verb+": joined on another node", "conference", spec.name, "host", host, "leg_call_id", oc.CallID())
	// The leg ends when the room does, or when the hosting node's API removes the party.
	var reason string
	reason, res.callerHungUp = c.stayInRoom(ctx, spec, leg.done(), nil, nil)
	res.status, res.duration = "completed", int(time.Since(joined).Round(time.Second)/time.Second)
	c.log.Info(verb+": left", "conference", spec.name, "host", host, "reason", reason, "duration", res.duration)
	c.event(EventDial, map[string]any{"verb": verb, "status": res.status, "conference": spec.name, "host": host,
		"duration": res.duration, "reason": reason})
	return res, true
}

// roomLegToken signs the token of the leg legID that takes the caller to spec's room. The waitUrl
// goes with it when it fits (maxRoomWaitURL, and maxRoomToken once signed); one that does not is
// logged and the party waits in silence there.
func (c *Call) roomLegToken(spec conferenceSpec, verb, legID string) (string, error) {
	t := roomToken{
		Account: c.accountID, Room: spec.name, Expires: time.Now().Add(roomTokenTTL).Unix(), CallSid: c.callSid(),
		Muted: spec.muted, Deaf: spec.deaf, Start: spec.startOnEnter, End: spec.endOnExit, Beep: spec.beepEnter,
		BeepExit: spec.beepExit, Max: spec.max, Record: spec.record, Trim: spec.trim, Coach: spec.coach,
		Silent: spec.wait != nil && spec.waitURL == "", WaitURL: spec.waitURL, WaitGet: spec.waitMethod == "GET",
		CallID: legID,
	}
	if len(t.WaitURL) > maxRoomWaitURL {
		c.log.Warn(verb+": waitUrl too long to send to the node hosting the room; the party waits in silence there",
			"url_bytes", len(t.WaitURL), "max", maxRoomWaitURL)
		t.Silent, t.WaitURL, t.WaitGet = true, "", false
	}
	tok, err := signRoomToken(t, c.signingKey)
	if err != nil || len(tok) <= maxRoomToken || t.WaitURL == "" {
		return tok, err
	}
	c.log.Warn(verb+": the room's token with the waitUrl is too long; the party waits in silence there",
		"token_bytes", len(tok), "max", maxRoomToken)
	t.Silent, t.WaitURL, t.WaitGet = true, "", false
	return signRoomToken(t, c.signingKey)
}

// roomLegWait is the audio of a room leg's waitUrl, fetched and run by this node as it runs a local
// party's (conferenceAudio: this node's fetcher and its deny list, signed with the account's key, the
// party's CallSid), on a Call made for that only; pivotua's default when it cannot be had (logged).
func (s *Server) roomLegWait(ctx context.Context, leg *inboundLeg, tok roomToken, log *slog.Logger) *codec.Prompt {
	c := NewCall(leg, tok.Account, s.cfg.APIKeys[tok.Account], s.cfg.Deps)
	c.log, c.answered, c.info.CallID = log, true, tok.CallSid
	method := "POST"
	if tok.WaitGet {
		method = "GET"
	}
	c.pivot.action = &pivotAction{method: method, format: httpfetch.FormatTwiML, bodyFormat: httpfetch.BodyForm, timeout: roomWaitTimeout}
	c.pivot.documentURL = tok.WaitURL
	if w := c.conferenceAudio(ctx, tok.WaitURL, method, "<Conference> waitUrl (room leg)"); w != nil {
		return w
	}
	return defaultWaitAudio()
}

// isRoomLeg reports whether an INVITE asks to join a room hosted here: its Request-URI user is
// RoomLegUser or it carries a room token.
func isRoomLeg(info sip.CallInfo) bool {
	return info.RequestUser == RoomLegUser || roomTokenOf(info) != ""
}

func roomTokenOf(info sip.CallInfo) string {
	for k, v := range info.CustomHeaders {
		if strings.EqualFold(k, RoomTokenHeader) {
			return v
		}
	}
	return ""
}

// hostRoomLeg runs an INVITE from another node as a party of a room hosted here, after checking its
// token (403 otherwise) and claiming the room (503 when another live node hosts it now: the caller's
// node then hosts its caller itself). The party joins before the leg is answered, so a room that
// cannot take it refuses the INVITE with why (roomRefused*) instead of answering and hanging up,
// which the caller's node could only read as a call that completed.
func (s *Server) hostRoomLeg(c *sip.InboundCall, log *slog.Logger) {
	info := c.Info()
	raw := roomTokenOf(info)
	now := time.Now()
	tok, err := verifyRoomToken(raw, s.cfg.APIKeys, info.CallID, now)
	if err != nil {
		log.Warn("room leg refused: 403", "source", info.Source, "err", err)
		_ = c.Reject(roomRefusedToken, "Room Token Refused")
		return
	}
	log = log.With("account_id", tok.Account, "conference", tok.Room)
	cs := s.cfg.Conferences
	if err := cs.tokens.use(roomTokenSig(raw), time.Unix(tok.Expires, 0), now); err != nil {
		if errors.Is(err, errRoomTokensFull) {
			log.Error("room leg refused: this node remembers as many room tokens as it may (they expire within a minute): 480",
				"source", info.Source, "err", err, "max", maxRoomTokensSeen)
			_ = c.Reject(roomRefusedBusy, "Too Many Room Legs")
			return
		}
		log.Warn("room leg refused: 403", "source", info.Source, "err", err)
		_ = c.Reject(roomRefusedToken, "Room Token Refused")
		return
	}
	if host := cs.claimRoom(context.Background(), tok.Account, tok.Room, log); host != "" {
		log.Warn("room leg refused: another node hosts the room: 503", "host", host)
		_ = c.Reject(roomRefusedElsewhere, "Room Hosted Elsewhere")
		return
	}
	leg, err := newInboundLeg(c, s.cfg.Dial.Engine, s.cfg.Dial.Advertise, nil, log)
	if err != nil {
		log.Error("room leg: 503", "error", err)
		_ = c.Reject(roomRefusedElsewhere, "Service Unavailable")
		return
	}
	defer leg.close()
	p := &confParty{callSid: tok.CallSid, sess: leg.media, joined: time.Now(), wait: defaultWaitAudio(),
		startOnEnter: tok.Start, endOnExit: tok.End, coachOf: tok.Coach, kicked: make(chan struct{})}
	if tok.Silent || tok.WaitURL != "" { // a waitUrl is heard once fetched, below
		p.wait = silentWait()
	}
	if tok.BeepExit {
		p.leave = beepPrompt()
	}
	req := joinRequest{account: tok.Account, name: tok.Room, party: p, max: tok.Max, muted: tok.Muted, deaf: tok.Deaf,
		record: tok.Record, trim: tok.Trim, log: log,
		store: recordingStore{dir: s.cfg.Recordings, links: s.cfg.RecordingLinks, observer: s.cfg.Observer}}
	if tok.Beep {
		req.enter = beepPrompt()
	}
	cf, err := cs.join(req)
	if err != nil {
		code, reason, why := roomRefusedFailed, "Cannot Join", "the join failed"
		switch {
		case errors.Is(err, ErrConferenceFull):
			code, reason, why = roomRefusedFull, "Conference Full", "the room is full"
		case errors.Is(err, ErrParticipantNotFound):
			code, reason, why = roomRefusedCoach, "Coach Target Not Found", "the party to coach is not in the room"
		}
		log.Warn(fmt.Sprintf("room leg refused: %s: %d", why, code), "err", err)
		_ = c.Reject(code, reason)
		return
	}
	if err := leg.Answer(context.Background()); err != nil {
		cs.leave(cf, p, leftHungUp)
		return
	}
	log.Info("room leg joined", "conference_sid", cf.sid, "call_sid", tok.CallSid, "from_node", info.Source)
	var waited chan *codec.Prompt // the waitUrl's audio, fetched off this loop; nil: none to fetch
	if tok.WaitURL != "" && !cs.started(tok.Account, tok.Room) {
		ctx, cancel := context.WithCancel(leg.Context())
		defer cancel()
		waited = make(chan *codec.Prompt, 1)
		go func() { waited <- s.roomLegWait(ctx, leg, tok, log) }()
	}
	reason := ""
	for reason == "" {
		select {
		case <-leg.Context().Done():
			reason = leftHungUp
		case <-cf.done:
			reason = leftEnded
		case <-p.kicked:
			reason = leftRemoved
		case w := <-waited:
			cf.setWait(p, w)
			waited = nil
		}
	}
	cs.leave(cf, p, reason)
	_ = leg.Hangup()
	log.Info("room leg left", "conference_sid", cf.sid, "reason", reason)
}
