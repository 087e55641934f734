package sip

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"

	"github.com/pion/sdp/v3"
)

// Direction is an SDP media direction attribute (RFC 3264 §5.1).
type Direction string

// The four SDP directions.
const (
	SendRecv Direction = "sendrecv"
	SendOnly Direction = "sendonly"
	RecvOnly Direction = "recvonly"
	Inactive Direction = "inactive"
)

// Complement returns the direction an answerer uses for an offer with d
// (RFC 3264 §6.1): sendonly is answered recvonly, recvonly sendonly, inactive
// inactive, and sendrecv sendrecv.
func (d Direction) Complement() Direction {
	switch d {
	case SendOnly:
		return RecvOnly
	case RecvOnly:
		return SendOnly
	case Inactive:
		return Inactive
	}
	return SendRecv
}

// WeSend reports whether, with d as the direction in OUR description, we send media.
func (d Direction) WeSend() bool { return d == SendRecv || d == SendOnly }

// Static RTP payload types of the two G.711 laws (RFC 3551 §6).
const (
	PayloadPCMU uint8 = 0
	PayloadPCMA uint8 = 8
)

// defaultEventPayloadType is the telephone-event PT we offer when we make the offer.
const defaultEventPayloadType uint8 = 101

// MediaDesc is the negotiated remote side of the audio stream.
type MediaDesc struct {
	// Addr is where the remote party wants RTP (c= and m= port).
	Addr netip.AddrPort
	// PayloadType is the chosen G.711 law: PayloadPCMU or PayloadPCMA.
	PayloadType uint8
	// EventPayloadType is the RFC 4733 telephone-event PT the remote offered; 0 if none.
	EventPayloadType uint8
	// Direction is the direction in OUR description (already complemented for an answer).
	Direction Direction
	// SRTP holds the SDES keys (RFC 4568) when the stream is SRTP.
	SRTP SRTPParams
	savp bool // the stream is RTP/SAVP (not RTP/AVP with a=crypto): our answer says so too
}

// remoteOffer is what an SDP offer (or answer) says about its audio stream.
type remoteOffer struct {
	addr      netip.AddrPort
	laws      []uint8 // PCMU/PCMA in the remote's order of preference
	eventPT   uint8
	direction Direction    // the remote's own direction
	savp      bool         // RTP/SAVP
	cryptos   []sdesCrypto // usable a=crypto lines, in the remote's order
	cryptoErr error        // why the first unusable a=crypto line was left out; nil if none was
}

// parseRemoteSDP reads the first usable audio stream of an SDP body.
func parseRemoteSDP(body []byte) (remoteOffer, error) {
	var off remoteOffer
	if len(body) == 0 {
		return off, ErrNoSDP
	}
	var sd sdp.SessionDescription
	if err := sd.Unmarshal(body); err != nil {
		return off, fmt.Errorf("parse SDP: %w", err)
	}
	var md *sdp.MediaDescription
	for _, m := range sd.MediaDescriptions {
		if m.MediaName.Media == "audio" && m.MediaName.Port.Value != 0 && (isAVP(m.MediaName.Protos) || isSAVP(m.MediaName.Protos)) {
			md = m
			break
		}
	}
	if md == nil {
		return off, ErrNoAudio
	}
	conn := md.ConnectionInformation
	if conn == nil {
		conn = sd.ConnectionInformation
	}
	if conn == nil || conn.Address == nil {
		return off, fmt.Errorf("%w: no c= line", ErrBadAddress)
	}
	ip, err := netip.ParseAddr(conn.Address.Address)
	if err != nil {
		return off, fmt.Errorf("%w: %q", ErrBadAddress, conn.Address.Address)
	}
	port := md.MediaName.Port.Value
	if port <= 0 || port > 65535 {
		return off, fmt.Errorf("%w: port %d", ErrNoAudio, port)
	}
	off.addr = netip.AddrPortFrom(ip.Unmap(), uint16(port))
	off.savp = isSAVP(md.MediaName.Protos)
	off.cryptos, off.cryptoErr = readCryptos(md.Attributes)

	rtpmap := map[string]string{} // PT -> "name/rate"
	for _, a := range md.Attributes {
		if a.Key != "rtpmap" {
			continue
		}
		pt, enc, ok := strings.Cut(a.Value, " ")
		if ok {
			rtpmap[pt] = strings.ToLower(strings.TrimSpace(enc))
		}
	}
	for _, f := range md.MediaName.Formats {
		pt, err := strconv.Atoi(f)
		if err != nil || pt < 0 || pt > 127 {
			continue
		}
		enc := rtpmap[f]
		switch {
		case pt == int(PayloadPCMU) && (enc == "" || strings.HasPrefix(enc, "pcmu/8000")),
			pt == int(PayloadPCMA) && (enc == "" || strings.HasPrefix(enc, "pcma/8000")):
			off.laws = append(off.laws, uint8(pt))
		case pt >= 96 && strings.HasPrefix(enc, "telephone-event/8000") && off.eventPT == 0:
			off.eventPT = uint8(pt)
		}
	}
	off.direction = SendRecv
	for _, attrs := range [][]sdp.Attribute{sd.Attributes, md.Attributes} {
		for _, a := range attrs {
			switch d := Direction(a.Key); d {
			case SendRecv, SendOnly, RecvOnly, Inactive:
				off.direction = d
			}
		}
	}
	// RFC 3264 §8.4: the old RFC 2543 hold, c=0.0.0.0, means the offerer wants no media.
	if ip.IsUnspecified() && off.direction == SendRecv {
		off.direction = SendOnly
	}
	return off, nil
}

func isAVP(protos []string) bool {
	p := strings.ToUpper(strings.Join(protos, "/"))
	return p == "RTP/AVP" || p == "RTP/AVPF"
}

// isSAVP reports RTP/SAVP, the SRTP profile (RFC 3711 §12).
func isSAVP(protos []string) bool {
	return strings.EqualFold(strings.Join(protos, "/"), "RTP/SAVP")
}

// negotiate picks the first law of the remote's preference and complements its direction.
func (off remoteOffer) negotiate() (MediaDesc, error) {
	if len(off.laws) == 0 {
		return MediaDesc{}, ErrNoCommonCodec
	}
	return MediaDesc{
		Addr:             off.addr,
		PayloadType:      off.laws[0],
		EventPayloadType: off.eventPT,
		Direction:        off.direction.Complement(),
	}, nil
}

// localSDP describes our side of the session; version goes up on every change (RFC 3264 §8).
type localSDP struct {
	sessionID uint64
	version   uint64
	addr      netip.AddrPort
	policy    SRTPPolicy // what we offer and accept
	key       SRTPKey    // our SRTP master key, once haveKey (srtpKey)
	haveKey   bool
	last      []byte // the SDP we last sent: a session refresh by re-INVITE offers it again (session_timer.go)
}

// answer builds our answer for the negotiated media: one law, telephone-event when offered.
func (l *localSDP) answer(m MediaDesc) ([]byte, error) {
	pts := []uint8{m.PayloadType}
	if m.EventPayloadType != 0 {
		pts = append(pts, m.EventPayloadType)
	}
	var crypto []sdp.Attribute
	if m.SRTP.Enabled() {
		crypto = []sdp.Attribute{cryptoAttr(m.SRTP.tag, m.SRTP.Suite, l.srtpKey())}
	}
	return l.marshal(pts, m.EventPayloadType, m.Direction, m.savp, crypto)
}

// offer builds our offer (a Dial's INVITE, a delayed-offer INVITE's 200): PCMU, PCMA and
// telephone-event; with SRTP on, a=crypto for both suites, over RTP/SAVP when it is mandatory.
func (l *localSDP) offer() ([]byte, error) {
	var crypto []sdp.Attribute
	if l.policy.on() {
		key := l.srtpKey()
		crypto = []sdp.Attribute{cryptoAttr(offerTag80, SuiteAES128SHA1_80, key), cryptoAttr(offerTag32, SuiteAES128SHA1_32, key)}
	}
	return l.marshal([]uint8{PayloadPCMU, PayloadPCMA, defaultEventPayloadType}, defaultEventPayloadType, SendRecv,
		l.policy == SRTPMandatory, crypto)
}

func (l *localSDP) marshal(pts []uint8, eventPT uint8, dir Direction, savp bool, crypto []sdp.Attribute) ([]byte, error) {
	ipVer := "IP4"
	if l.addr.Addr().Is6() {
		ipVer = "IP6"
	}
	ip := l.addr.Addr().String()
	formats := make([]string, len(pts))
	attrs := make([]sdp.Attribute, 0, len(pts)+3)
	for i, pt := range pts {
		formats[i] = strconv.Itoa(int(pt))
		switch pt {
		case PayloadPCMU:
			attrs = append(attrs, sdp.NewAttribute("rtpmap", "0 PCMU/8000"))
		case PayloadPCMA:
			attrs = append(attrs, sdp.NewAttribute("rtpmap", "8 PCMA/8000"))
		case eventPT:
			attrs = append(attrs,
				sdp.NewAttribute("rtpmap", formats[i]+" telephone-event/8000"),
				sdp.NewAttribute("fmtp", formats[i]+" 0-16"))
		}
	}
	attrs = append(attrs, sdp.NewAttribute("ptime", "20"), sdp.NewPropertyAttribute(string(dir)))
	attrs = append(attrs, crypto...)
	profile := []string{"RTP", "AVP"}
	if savp {
		profile = []string{"RTP", "SAVP"}
	}
	sd := sdp.SessionDescription{
		Origin: sdp.Origin{
			Username: "pivotua", SessionID: l.sessionID, SessionVersion: l.version,
			NetworkType: "IN", AddressType: ipVer, UnicastAddress: ip,
		},
		SessionName:           "pivotua",
		ConnectionInformation: &sdp.ConnectionInformation{NetworkType: "IN", AddressType: ipVer, Address: &sdp.Address{Address: ip}},
		TimeDescriptions:      []sdp.TimeDescription{{Timing: sdp.Timing{}}},
		MediaDescriptions: []*sdp.MediaDescription{{
			MediaName: sdp.MediaName{
				Media: "audio", Port: sdp.RangedPort{Value: int(l.addr.Port())},
				Protos: profile, Formats: formats,
			},
			Attributes: attrs,
		}},
	}
	b, err := sd.Marshal()
	if err != nil {
		return nil, fmt.Errorf("marshal own SDP: %w", err)
	}
	l.last = b
	return b, nil
}
