// Package media is pivotua's RTP engine for G.711 calls.
//
// It owns its settings: the rtp: section of pivotua's config file is Settings (config.go),
// with its YAML keys, DefaultSettings and the checks that turn it into the engine's Config,
// each problem named by its path (rtp.port_max); cmd/pivotua only reads the file and hands
// the section over.
//
// It owns the RTP port range (even ports only, drawn at random, the odd port above
// each left for RTCP), one unconnected UDP socket per session, symmetric RTP
// (sending to the address the peer's packets really come from, learned
// strictly: a source other than the SDP address is heard only after a run of
// consecutive packets of its own, each candidate source keeping its own run,
// and once one is, only its own SSRC may move, except that after a re-INVITE
// a new source takes over one that has fallen silent), the media
// timeout, the receive path (header parsing, loss estimation per RFC 3550
// Appendix A.1, a hook for other consumers), prompt playback, DTMF in both
// directions (RFC 4733 telephone-events, in-band Goertzel detection as a
// fallback), recording what the caller sends, and per-session statistics.
//
// # Goroutines and their owners
//
//   - The send clocks (engine_clock.go, one per CPU the runtime uses, at most
//     four; each session is on one of them, round robin) serve every session:
//     a clock wakes each millisecond on a schedule fixed to the engine's start,
//     and each session sits in one of 20 phase slots, so a session sends once
//     every 20 ms and the packets of many sessions are spread over the 20 ms
//     instead of leaving in one burst. After a stall a clock sends the missed
//     frames (at most five per session) and beyond that skips ahead, advancing
//     the RTP timestamp. A session's clock alone owns its sender state
//     (sequence number, timestamp, marker, playback position, packet buffer)
//     and alone writes its socket. SendDigits hands it a job: while a key is
//     sent its RFC 4733 packets take the audio frames' places on the same
//     SSRC, sequence and clock.
//   - The same clock reads the session's socket, from Open on: before a
//     slot's sends, one recvmmsg per session takes what arrived in the last
//     20 ms (packets before Start are drained and dropped), so two bridged
//     sessions in one slot (WithTickOf, as Dial opens its callees) relay a
//     packet in the tick it is read. The clock alone also owns the session's
//     receiver state (latched source, sequence tracking, the telephone-event
//     tracker, the in-band detector), calls OnDigit and the SetReceiver hook,
//     and decodes audio into an active Recording's buffer. No poller is
//     involved: an epoll set over the sockets cost a callback per packet sent
//     and received.
//   - The sockets are raw non-blocking descriptors (socket.go), outside Go's
//     netpoller. Close takes a session off its clock and waits until the
//     clock is not using its socket before closing it, since a closed
//     descriptor's number is reused at once.
//   - One writer goroutine per Recording takes that buffer in chunks and
//     alone writes to the recording's io.Writer, so no file I/O ever happens
//     on a clock.
//   - A Room (room.go; a Bridge is a room of two) is mixed by whichever
//     party's clock first finds its outbox empty, holding the room's mix
//     token (a CompareAndSwap, never waited for on a clock); each party's
//     received audio and mixed frames pass through single-producer
//     single-consumer rings between its clock and the mixer.
//   - API callers (flow) talk to them through atomics; fields shared between
//     goroutines say who writes them, who reads them and how.
//
// The per-packet paths allocate nothing, log nothing and hold no lock across
// a system call.
//
// media knows no SIP and no HTTP: it never imports sip, flow or httpfetch,
// only codec. flow composes one SIP dialog and one media Session into a leg.
package media
