package sip

import "errors"

var (
	// ErrNoSDP means a message that had to carry a session description did not.
	ErrNoSDP = errors.New("no session description")
	// ErrNoAudio means the SDP had no usable audio stream (no m=audio with a port, or not RTP/AVP).
	ErrNoAudio = errors.New("no usable audio stream in SDP")
	// ErrNoCommonCodec means the offer shared neither PCMU nor PCMA with us (answered 488).
	ErrNoCommonCodec = errors.New("no common codec: pivotua speaks PCMU and PCMA")
	// ErrBadAddress means the SDP's connection address is not an IP address.
	ErrBadAddress = errors.New("SDP connection address is not an IP address")
	// ErrCallEnded means the call ended (CANCEL, BYE, transaction failure) before the operation completed.
	ErrCallEnded = errors.New("call ended")
	// ErrAlreadyAnswered means a final response was already sent for this INVITE.
	ErrAlreadyAnswered = errors.New("call already has a final response")
	// ErrNoAck means no ACK arrived for our 200 OK within 64*T1 (RFC 3261 §13.3.1.4).
	ErrNoAck = errors.New("no ACK for 200 OK")
	// ErrBusy is wrapped by Dial's *DialError when the callee answered 486 or 600.
	ErrBusy = errors.New("callee busy")
	// ErrNoAnswer is wrapped by Dial's *DialError for 408, 480 or no answer within the ring timeout.
	ErrNoAnswer = errors.New("no answer")
	// ErrDeclined is wrapped by Dial's *DialError for any other final failure (4xx-6xx, transport, bad SDP).
	ErrDeclined = errors.New("call failed")
	// ErrCanceled is wrapped by Dial's *DialError when the dial was called off and CANCEL sent.
	ErrCanceled = errors.New("dial canceled")
)

var (
	// ErrEgressDenied means an outbound leg's destination (its target, or the
	// next hop its 2xx named) resolved only to addresses sip.egress refuses.
	ErrEgressDenied = errors.New("SIP egress denied")
	// ErrControlCharacter means a value bound for a SIP message (a URI, user,
	// display name, header value) held a control character: CR or LF would
	// end the header line and start another (header injection).
	ErrControlCharacter = errors.New("control character in a SIP value")
)

var (
	// ErrTLSCertificate means sip.tls.cert_file or key_file could not be read
	// or do not make a certificate and its key.
	ErrTLSCertificate = errors.New("TLS certificate unusable")
	// ErrTLSPeer means an outbound TLS leg's peer failed the handshake: its
	// certificate did not chain to the trusted roots, did not name the host
	// dialled, or it spoke no TLS 1.2 or newer.
	ErrTLSPeer = errors.New("TLS peer refused")
	// ErrSRTPOff means an SDP asked for RTP/SAVP while the SRTP policy is off (answered 488).
	ErrSRTPOff = errors.New("SRTP (RTP/SAVP) offered but rtp.srtp is off")
	// ErrSRTPRequired means the SRTP policy is mandatory (or the offer was RTP/SAVP) and the SDP
	// had no usable a=crypto line (answered 488).
	ErrSRTPRequired = errors.New("SRTP is required and the SDP has no usable a=crypto")
	// ErrBadCrypto means an a=crypto line (RFC 4568 §9.1) was malformed or asked for what pivotua
	// does not do (another suite, MKI, several keys, a short lifetime, session parameters).
	ErrBadCrypto = errors.New("unusable a=crypto")
)

var (
	// ErrReferTarget means a REFER's target is not one pivotua sends (RFC 3515
	// §2.1): not a sip: or sips: URI, over its length cap, or holding characters
	// that would break out of the Refer-To header.
	ErrReferTarget = errors.New("unusable REFER target")
	// ErrReferPending means a REFER of ours on the call still waits for its
	// outcome; one at a time.
	ErrReferPending = errors.New("a REFER is already pending on the call")
	// ErrNotAnswered means the operation needs a confirmed dialog (a REFER,
	// RFC 3515 §2.4.3) and the call was never answered.
	ErrNotAnswered = errors.New("call not answered")
)

// ErrSessionExpires means a request's Session-Expires or Min-SE (RFC 4028 §4)
// was not delta-seconds, named an unknown refresher, or came twice.
var ErrSessionExpires = errors.New("bad session timer header")

// ErrNoPrack means a caller that asked for reliable provisional responses
// (RFC 3262) never PRACKed ours within 64*T1; the call was rejected with 500.
var ErrNoPrack = errors.New("no PRACK for a reliable provisional response")

// ErrURIHeader means a Dial target's URI headers (RFC 3261 §19.1.1, after
// "?") were not ones pivotua sends as SIP headers: only X- headers and
// User-to-User, a bounded number and size, without control characters.
var ErrURIHeader = errors.New("unusable URI header")
