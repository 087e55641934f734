// Package flow owns the per-call state machine of pivotua: the Router that maps a dialled number to an
// account's callflow, the Kazoo JSON module interpreter (one kazoo_<module>.go file per module), the
// TwiML interpreter (one twiml_<verb>.go file per verb), the call variables (digits, custom application
// vars, TwiML <Set> variables), iteration counting and failover to a pivot node's "_" child.
//
// Everything flow needs from outside is declared in deps.go: the Channel a call runs on (signalling
// and media: inboundLeg in leg.go implements it over a sip.InboundCall and a media.Session, calleeLeg in
// dial_whisper.go for a Dial callee, placedLeg in leg_placed.go for a call the API placed), the BridgeLeg Dial joins to a callee, and the services in Deps
// that cmd/pivotua wires (DocumentFetcher, MediaFetcher, Speaker, Uploader, RecordingLinker,
// OutboundSIP, Observer), each with who implements it. No behaviour depends on a type assertion: what
// a Channel can do is in its method set. A Dial attempt (dial_attempt.go: one method per event) reaches
// media and outbound SIP only through the small interfaces of dial_deps.go (a party's media, a bridge of
// two, an outbound leg, a clock), which thin adapters over media.Session, media.Bridge and outboundLeg
// implement; its unit tests drive it with fakes, without sockets.
//
// A Call is owned by one goroutine: the one that runs Call.Run. Call's own fields are what every
// module and verb shares (the channel, the call's identity, answered, activity); each feature's state
// is a small type in its file: pivotState (kazoo_pivot.go), keyState (dtmf.go), callVariables
// (kazoo_set_variables.go), recordingState (recording.go), dialState (dial.go), eventState (event.go).
//
// Calls (calls.go) is the registry the Calls API (package callapi) and the channels API (debugapi,
// through cmd/pivotua) read and steer: every call Server takes or places (Server.Originate,
// originate.go: an outbound leg standing alone) has a sid and an entry there. An update carries new
// instructions, a callflow node to run in place of what runs (a transfer, TransferCall, is one), or a
// hangup. An update reaches the call's
// goroutine by the entry's channel, which cancels the action running (Call.runSteerable); nothing
// outside that goroutine touches a Call. With several nodes the registry Shares a CallStore
// (calls_cluster.go): a call this node does not hold is found in the store and an update of it is
// forwarded to the node that does, so Server.GetCall, ListCalls and UpdateCall answer for every node.
//
// Conferences (conference.go) is the registry of the conference rooms hosted on the node, by account
// and name: <Dial><Conference> (twiml_conference.go) and the conference module (kazoo_conference.go)
// put the call's session in a room's media.Room from the call's goroutine; a room's state is guarded
// by its own mutex, never taken on a media clock, and Server.Conferences is what a REST control lists
// and steers (mute, hold, remove a party by CallSid).
//
// Queues (queue.go) is the registry of the call queues on the node, by account and name: <Enqueue>
// (twiml_enqueue.go) waits in one from the caller's goroutine, <Dial><Queue> (twiml_queue.go) takes
// its front and bridges it from the agent's; the one who takes a member out tells its call how through
// a one-slot channel under the registry's mutex. Server.Queues is what the Queues API lists and
// dequeues from.
//
// Interpreters touch signalling and media only through Channel, so every module and verb is tested
// with flowtest.Channel, the importable fake (flow/flowtest). Tests that drive it are in package
// flow_test and use flow's exported API (export_test.go adds the few limits and call state they
// check). Tests of parsers and helpers are in package flow: <file>_internal_test.go when the same
// feature also has run tests in <file>_test.go. flowtest imports flow; flow never imports it.
//
// Callbacks to the application beside the pivot requests (the Calls API's status callbacks, a
// <Stream>'s, a Dial callee leg's, a recording's) go out through one callbackPoster each
// (callback_poster.go): in order, signed like every request, from a goroutine of their own, retried
// where the feature asks.
//
// Every document from outside (Kazoo JSON, TwiML) is parsed by bounded, fuzzed code and validated whole
// before any of it runs; problems are reported with their path (data.voice_url, Response/Say[2]@loop).
//
// It owns the media: section of pivotua's config file: MediaSettings (config.go), the budgets of
// the prompt cache and of the helper processes, with its YAML keys, defaults and checks named by
// path (media.max_processes); cmd/pivotua only reads the file and hands the section over.
//
// flow imports sip, media, httpfetch, codec, mediastream and speech (the recognisers, through
// SpeechRecognizer in deps.go); none of them may import flow.
package flow
