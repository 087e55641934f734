// Package httpfetch owns every outbound HTTP request pivotua makes: the pivot
// request that fetches a developer's voice_url (Kazoo Pivot / TwiML webhook),
// the download of media prompts (WAV, MP3) behind an in-memory HTTP cache, and
// recording uploads through an on-disk spool ([Uploader]: a job is persisted
// before Enqueue returns and retried with backoff, across restarts, until the
// target accepts it; a recording is never dropped).
//
// It owns its settings: the fetch: section of pivotua's config file is Settings
// (config.go), whose deny list is checked by path (fetch.deny_cidrs[1]); cmd/pivotua only
// reads the file and hands the section over.
//
// It imports none of pivotua's other packages (standard library only), so the
// call-flow engine can depend on it and tests can drive it alone.
//
// # The pivot request
//
// [Client.FetchDocument] turns a [PivotRequest] into one HTTP request:
//
//   - The parameter set is picked by PivotRequest.Format: "kazoo" sends
//     Kazoo's hyphenated names (Account-ID, Call-ID, Digits as an object keyed
//     by collection name, ...); "twiml" sends Twilio's names (CallSid,
//     AccountSid, Digits as a string, ...). Kazoo's "user vars" (RecordingUrl,
//     RecordingDuration, DialCallStatus, DialCallSid, DialCallDuration,
//     ReferCallStatus, ReferSipResponseCode and TwiML <Set> variables) are merged into either set with TwiML names; on a
//     name clash the base parameter wins, and the fields above win over <Set>
//     variables. Empty values, empty keys and empty objects are omitted.
//   - GET appends the form-encoded parameters to the URL's query (joined with
//     "&" to an existing query, "?" otherwise). POST sends them as an
//     application/x-www-form-urlencoded body or, with BodyFormat "json", as an
//     application/json object in which nested objects stay objects. A URL
//     fragment is never sent, and URL userinfo becomes a Basic Authorization
//     header instead of staying in the URL.
//   - Form encoding follows Kazoo: keys in sorted order, values with "+" for
//     space, alphanumerics and ". - ~ _" kept and every other byte %-escaped;
//     nested objects use PHP-style keys (Digits[default]=12). Keys are left
//     as they are where that is safe: RFC 3986 unreserved characters and
//     ! $ ' ( ) * , / : ? @ stay, every other byte (space, & = + % # ; [ ],
//     controls, non-ASCII, ...) is %-escaped, in every part of a nested key.
//   - With a SigningKey the request carries X-Twilio-Signature (Twilio's
//     HMAC-SHA1 algorithm) and X-Pivot-Signature ("t=<unix>,v1=<hex
//     HMAC-SHA256>"); see [ValidateTwilioSignature] and
//     [ValidatePivotSignature] for the receiving side. JSON POSTs follow
//     Twilio: the URL requested carries bodySHA256=<hex sha256 of the body>
//     and the Twilio signature covers that URL alone. Both signatures cover
//     the URL exactly as requested (no credentials, no fragment), which is
//     what the receiving server can rebuild; the redirected request is
//     signed again for its new URL.
//   - The deadline (PivotRequest.Timeout, default 5 s, at most 30 s) covers
//     the whole exchange: DNS, connect, TLS, redirects and the body.
//     Redirects: GET follows up to 5; POST follows only 307 and 308 (which
//     re-send the body), any other 3xx is returned and reported as ErrStatus.
//
// A [Document] is always returned, even when the request failed, so the
// request and whatever came back can be stored in debug records; the error
// wraps one of the sentinels in errors.go.
//
// # Media
//
// [Client.FetchMedia] downloads prompts through a private, in-memory cache that
// follows RFC 9111 basics: max-age and Expires give freshness, no-store is
// never stored, no-cache and stale entries are revalidated with
// If-None-Match / If-Modified-Since, and a response with neither freshness
// nor a validator is not reused. Concurrent fetches of one URL share one
// request, abandoned when the last of them gives up; the cache is bounded by
// total body bytes and evicts the least recently used entry.
package httpfetch
