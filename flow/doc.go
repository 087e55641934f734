// Package flow owns the per-call state machine of pivotua: the Router that maps a dialled number to an
// account's callflow, the Kazoo JSON module interpreter (one kazoo_<module>.go file per module), the
// TwiML interpreter (one twiml_<verb>.go file per verb), the call variables (digits, custom application
// vars, TwiML <Set> variables), iteration counting and failover to a pivot node's "_" child.
//
// Interpreters touch signalling and media only through the Channel interface, so every module and verb
// is tested with a fake channel. A Call is owned by one goroutine: the one that runs Call.Run.
//
// Every document from outside (Kazoo JSON, TwiML) is parsed by bounded, fuzzed code and validated whole
// before any of it runs; problems are reported with their path (data.voice_url, Response/Say[2]@loop).
//
// flow imports sip, media, httpfetch and codec; none of them may import flow.
package flow
