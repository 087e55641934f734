// Package sip is pivotua's signalling layer, built on sipgo: it listens on UDP,
// TCP and TLS (tls.go: TLS 1.2+, handshakes bounded in time and number, the
// certificate reloadable), answers INVITE/ACK/BYE/CANCEL/OPTIONS and re-INVITEs, negotiates
// SDP (offer/answer for PCMU, PCMA and RFC 4733 telephone-event), and enforces
// the trunk ACL, the call limit and the per-source rate limit (only a live
// dialog's own requests, matched by Call-ID, tags and peer, are exempt). Dial's
// legs go only where Config.Egress allows, checked after DNS on the target and
// on the next hop a 2xx names, and each request goes to the address checked
// (egress_pin.go), so DNS rebinding cannot move it; on an inbound call our
// requests go to the caller's remote target only when Config.Egress allows
// it, else to the INVITE's source. Each leg leaves from a listener of its
// transport (Via, Contact and From name it); its TCP and TLS connections are
// opened here, checking a TLS peer's certificate against the leg's roots and
// host name, and handed to sipgo (tls_dial.go). No value a caller or webhook
// chose reaches a SIP message with a control character in it
// (ErrControlCharacter), nor a URI delimiter in a user part (escapeUser).
//
// It registers with trunks as a client (register.go: digest, refresh, keep-alives,
// backoff) and, for trunks that prove their calls with credentials, challenges INVITEs
// from outside the allowed addresses with digest (digest_server.go).
//
// It owns its settings: the sip: section of pivotua's config file is Settings (config.go),
// with its YAML keys, DefaultSettings and the checks that turn it into a Config, each
// problem named by its path (sip.rate_limit.window); cmd/pivotua only reads the file and
// hands the section over.
//
// It knows no media bytes: it reports the remote media address and codec as a
// MediaDesc and takes the local RTP address to advertise. It never imports
// media, flow or any other pivotua package; flow composes a SIP dialog and a
// media session into a call leg.
package sip
