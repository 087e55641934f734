// Package debugapi owns pivotua's pivot debug records: the Record type (one Kazoo pivot_debug
// document: a request, a response, or a json_errors/schema_errors error; or pivotua's own call event),
// the Store that keeps them
// (SQLStore on embedded SQLite by default, on PostgreSQL when several nodes share one store; numbered
// schema migrations applied at open), the Recorder that writes them from one goroutine so a call never
// waits on the database, the retention purge, and the Crossbar-compatible REST API that reads them:
//
//	PUT /v2/api_auth                                    api_key -> auth token (stateless, HMAC-signed)
//	GET /v2/accounts/{ACCOUNT_ID}/pivot/debug           one row per call, newest first, keyset paging
//	GET /v2/accounts/{ACCOUNT_ID}/pivot/debug/{CALL_ID} every record of one call, in order
//	    ?events=true                                    pivotua's extension: the call's events too
//
// with Kazoo's envelope (auth_token, data, request_id, revision, status, node, timestamp, version) and
// field names, created in Gregorian seconds and status codes as strings.
//
// It also owns the media store (media_store.go: accounts' uploaded audio, which Kazoo documents play
// by id) and Kazoo's media API over it (media_api.go: /v2/accounts/{ACCOUNT_ID}/media...), with the same
// tokens and envelope. Uploads are decoded before they are kept by an AudioCheck that cmd/pivotua
// passes in (codec's decoder); flow reads the files through its own MediaStore interface. The
// media_store: section of the config file is MediaStoreSettings.
//
// Every text that comes from the wire or a webhook is stored as valid UTF-8 without NUL, in one escape
// (\xHH for a NUL or a byte that is not UTF-8: see StoredText), so PostgreSQL never refuses a record
// for its bytes and the API serves the call_id a client finds the call by. A record the store refuses
// all the same is set aside alone, and the recorder's queue is bounded in bytes.
//
// An account only ever reads its own records: every query is keyed by the account of the token.
//
// Kazoo clients never see an event: without ?events=true the detail is Kazoo's, and events never
// touch the list's call summaries.
//
// With PostgreSQL it also keeps the shared table of calls (store_calls*.go, OpenCalls): every node's
// Calls API calls, the nodes' heartbeats, and the updates one node forwards to the node that holds a
// call (a row and LISTEN/NOTIFY); a dead node's live calls are ended there once, with a reason.
// Beside each heartbeat a node writes its HTTP API's address (store_peers.go), so a conference
// request for a room another node hosts is passed to that node's API (forward.go: Forwarder, used
// by Kazoo's conferences API here and by callapi's Conferences resources).
//
// It owns its settings: the store: section of pivotua's config file is StoreSettings
// (config.go), with its YAML keys, defaults and the checks that turn it into a StoreConfig,
// each problem named by its path (store.queue_bytes); cmd/pivotua only reads the file and
// hands the section over.
//
// Beside them it serves Kazoo's channels API (channels.go: GET, POST .../channels/{UUID} with hangup,
// transfer or pivot, and pivotua's PUT .../channels to place a call) over a ChannelControl that
// cmd/pivotua implements on flow's registry of calls; this package owns only its HTTP side.
//
// debugapi imports none of pivotua's packages: cmd/pivotua turns flow.Exchange and flow.Event values
// into Records.
package debugapi
