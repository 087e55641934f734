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
// It owns the media: section of pivotua's config file: MediaSettings (config.go), the budgets of
// the prompt cache and of the helper processes, with its YAML keys, defaults and checks named by
// path (media.max_processes); cmd/pivotua only reads the file and hands the section over.
//
// flow imports sip, media, httpfetch and codec; none of them may import flow.
package flow
