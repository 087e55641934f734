// Package mediastream is pivotua's client for media streams: a call's live
// audio carried to and from a WebSocket application in Twilio's Media
// Streams protocol (twilio.com/docs/voice/media-streams/websocket-messages),
// so an application written for Twilio (a voice agent, a transcriber) runs
// against pivotua unchanged.
//
// It owns the connection (ws:// or wss:// with the certificate verified,
// through httpfetch's guarded transport, so fetch.deny_cidrs applies to the
// stream's host as to every webhook; X-Twilio-Signature on the upgrade
// request; a connect timeout), the messages both ways, and every bound on
// what the application may send: message size, JSON depth, payload size,
// queued audio and pending marks. A message that breaks one is logged once,
// naming what was wrong, and closes that stream; the call goes on.
//
// It owns its settings: the streams: section of pivotua's config file is
// Settings (config.go), checked by path (streams.connect_timeout).
//
// # Goroutines
//
// A Stream has three: Run's writer (the caller's audio, marks played, keys,
// start and stop, in order, one message at a time), a reader (decodes the
// application's messages and queues its audio), and a watchdog that closes a
// stream whose write has stalled. None of them is the media clock: the call's
// side is two interfaces (Audio, Player) that flow implements with media's
// Tap and StreamFeed, whose bounded rings the clock fills and drains without
// ever waiting for a socket. The writer hands the frames it finds waiting to
// the kernel in one write (batch.go: coder/websocket flushes every message),
// and the reader parses Twilio's common shapes by hand (protocol.go), with
// encoding/json for anything else.
//
// mediastream imports only httpfetch (its transport and signature) of
// pivotua's packages; flow composes it with media.
package mediastream
