// Package callapi serves the REST call control API on pivotua's HTTP listener: Twilio's Calls resource
// (/2010-04-01/Accounts/{AccountSid}/Calls.json and /Calls/{Sid}.json) to start calls, list and fetch
// them, and steer live ones; and Twilio's Conferences and Participants resources (conferences.go) over
// the node's live rooms (flow/conference.go) to list them, end them, and mute, hold or remove a party;
// with several nodes, a conference another node hosts is answered by that node through debugapi's
// Forwarder (conferences_cluster.go).
// It owns the HTTP side only: Basic authentication with an account's id
// (bare, or Twilio's AC + 32 hex) and api_key, the parameters and their bounds, Twilio's JSON shapes,
// error bodies and paging, and the per-account limits on calls placed (Place, which the channels
// API's PUT .../channels goes through too, so both APIs share one count and one rate). What a call
// does is flow's: the registry of calls, originating and steering them (flow/calls.go,
// flow/originate.go).
//
// Every request is hostile until checked: bodies, parameter counts, URL and Twiml lengths and page
// sizes are bounded, and a parameter pivotua cannot honour is refused with a 400 that names it, never
// ignored.
//
// It owns the api: section of pivotua's config file (Settings in config.go). callapi imports flow; flow
// and the packages below it never import callapi.
package callapi
