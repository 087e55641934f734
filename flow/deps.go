package flow

import (
	"context"
	"io"
	"log/slog"
	"net/netip"
	"time"

	"github.com/pivotua/pivotua/codec"
	"github.com/pivotua/pivotua/httpfetch"
	"github.com/pivotua/pivotua/media"
	"github.com/pivotua/pivotua/mediastream"
	"github.com/pivotua/pivotua/sip"
	asr "github.com/pivotua/pivotua/speech"
)

// This file declares everything flow needs from outside: the Channel a call runs on, and the services
// every call shares (Deps). Each interface says who implements it and why flow needs it; flow reaches
// none of them by a type assertion.

// CallInfo describes the inbound call as the INVITE presented it.
type CallInfo struct {
	CallID, From, FromRealm, To, ToRealm, Request, RequestRealm, CallerIDName, CallerIDNumber string
	CustomSIPHeaders                                                                          map[string]string // the INVITE's X- headers
}

// Channel is the one interface through which the interpreters touch signalling and media. flow's
// inboundLeg (leg.go: a sip.InboundCall and a media.Session) implements it for an inbound call,
// calleeLeg (dial_whisper.go) for a Dial callee running its noun's document and placedLeg
// (leg_placed.go) for a call the API placed; flowtest.Channel is the
// test double every verb's test drives.
type Channel interface {
	Info() CallInfo
	Ring() error                      // 180 Ringing (idempotent, no-op once answered)
	Answer(ctx context.Context) error // 200 OK + SDP, idempotent; media flows after it
	// Play answers first if needed, then plays p and returns when it was played, ctx ended, the call
	// ended, or a key among stopKeys arrived (barge-in: stopped is true). Keys still reach Digits,
	// the stopping one included.
	Play(ctx context.Context, p *codec.Prompt, stopKeys string) (stopped bool, err error)
	Reject(code int, reason string) error // final non-2xx; only before answer
	Hangup() error                        // BYE if answered, else 480 Temporarily Unavailable
	Context() context.Context             // ends when the call ended (remote BYE/CANCEL, media timeout, our hangup)
	// EndedBy names who ended a call that flow did not end itself, for the hangup event: "caller"
	// (BYE, or CANCEL before an answer) or "media_timeout" (no RTP from the far end).
	EndedBy() string

	// Digits delivers the caller's DTMF keys in order, whichever way they came (RFC 4733, SIP INFO,
	// in-band tones). Only the call's goroutine reads it.
	Digits() <-chan byte
	// SendDigits plays DTMF to the caller as RFC 4733 events; 'w' is a 0.5 s pause.
	SendDigits(ctx context.Context, digits string, toneDuration time.Duration) error
	// StartRecording writes what the caller says from now on to w, as 8 kHz 16-bit little-endian mono PCM.
	StartRecording(w io.Writer) (Recording, error)

	// Refer asks the far end to call target instead (SIP REFER, RFC 3515: a blind transfer) and
	// reports the REFER's final response and the first final status its NOTIFYs carried; the wait
	// ends with ctx. A channel that cannot transfer returns an error.
	Refer(ctx context.Context, target string) (sip.ReferResult, error)

	// Bridge is the channel's side of a Dial or a conference; nil when the channel has no RTP session
	// of pivotua's own to bridge (a test double, a Dial callee), and a Dial or <Conference> on it then
	// fails.
	Bridge() BridgeLeg
}

// Recording is a recording of the caller in progress; media.Session's StartRecording returns one.
type Recording interface {
	// Stop ends the recording once everything received so far (the tail) is written; it returns the
	// number of samples written.
	Stop() (samples int64, err error)
}

// BridgeLeg is the inbound leg as Dial (dial.go) joins it to a callee: flow's inboundLeg implements it
// with its sip.InboundCall and media.Session. Dial needs the session itself because the bridge, the
// ringback and the keys sent to the caller are media's (media.NewBridge joins two sessions); the Dial
// attempt sees it only as a dialParty (dial_deps.go).
type BridgeLeg interface {
	// Session is the caller's RTP session, which Dial bridges to the callee's.
	Session() *media.Session
	// EarlyMedia answers the caller's offer in a 183 and starts media toward it (RFC 3960 §3.1), so
	// an unanswered caller hears what a ringing callee sends (Dial answerOnBridge).
	EarlyMedia(ctx context.Context) error
	// RelayInfoDigits hands each key the caller sends by SIP INFO to fn as well (nil: no more), so a
	// bridged callee gets keys that are not in the relayed audio.
	RelayInfoDigits(fn func(key byte))
	// OnTransfer hands fn each REFER the caller sends that sip accepted (sip.accept_refer), so a
	// bridged Dial transfers the caller's side (dial_transfer.go); nil: none (a REFER gets 403).
	OnTransfer(fn func(*sip.Transfer) bool)
}

// DocumentFetcher fetches a pivot document (kazoo_pivot.go); *httpfetch.Client implements it, with
// the signing, timeouts, size caps and deny-lists every outbound request gets.
type DocumentFetcher interface {
	FetchDocument(ctx context.Context, r httpfetch.PivotRequest) (*httpfetch.Document, error)
}

// MediaFetcher downloads audio for play/<Play> (prompt_cache.go); *httpfetch.Client implements it,
// with its HTTP cache.
type MediaFetcher interface {
	FetchMedia(ctx context.Context, url string) (*httpfetch.Media, error)
}

// MediaStore holds the audio accounts uploaded through the media API, which play's id and response's
// media name by media id; debugapi's *MediaStore implements it (cmd/pivotua wires it, so flow does not
// import debugapi). Both methods fail for an id the account does not have.
type MediaStore interface {
	// MediaVersion names the audio stored now for the account's media id; it changes with every
	// upload, so a decode cached under it is never stale.
	MediaVersion(accountID, mediaID string) (string, error)
	// ReadMedia returns that audio and its content type.
	ReadMedia(accountID, mediaID string) ([]byte, string, error)
}

// Speaker renders text to speech for tts/<Say>; *codec.SpeechCache implements it, so a phrase is
// synthesised once for all calls.
type Speaker interface {
	Prompt(ctx context.Context, r codec.SpeechRequest) (*codec.Prompt, error)
}

// Uploader delivers finished recordings to their URL and never drops one (record_caller, <Record>
// recordingStatusCallback); *httpfetch.Uploader implements it with its on-disk spool and retries.
type Uploader interface {
	Enqueue(up httpfetch.Upload) error
}

// RecordingLinker gives a recording stored under Deps.Recordings the URL it is served at (TwiML
// <Record> reports it as RecordingUrl, the debug records as playable_url); recordings.Server
// implements it.
type RecordingLinker interface {
	// RecordingURL returns the absolute URL of the file named file in the account's recordings folder.
	RecordingURL(accountID, file string) string
}

// OutboundSIP places the outbound legs of Dial, resources and sip_uri; *sip.Server implements it.
type OutboundSIP interface {
	Dial(ctx context.Context, r sip.OutboundRequest) (*sip.OutboundCall, error)
}

// Observer receives what the metrics count; cmd/pivotua's metrics implement it. Its methods are
// called from call goroutines and must be cheap and safe for concurrent use.
type Observer interface {
	// CallEnded reports how a call ended: "completed" (answered), "rejected" (a 4xx or 6xx final
	// response, including 404 for an unrouted number), "failed" (a 5xx final response) or "canceled"
	// (the caller gave up before any final response).
	CallEnded(outcome string)
	// CallPlaced reports how a call the API placed ended, in CallEnded's words: "completed"
	// (answered), "rejected" (busy, no answer, a 4xx or 6xx), "failed" (a 5xx, or no INVITE could
	// go out) or "canceled" (hung up by the API before an answer).
	CallPlaced(outcome string)
	// PivotRequest reports one pivot request: its HTTP status ("200", "404"), or "timeout" or "error"
	// when no response arrived.
	PivotRequest(status string, elapsed time.Duration)
	// DTMF reports one key from the caller and how it came: "rfc4733", "inband" or "sip-info".
	DTMF(source string)
	// RecordingSaved reports a recording written to recordings.dir (Record, record_caller, a Dial's
	// record), whether or not it is uploaded afterwards.
	RecordingSaved()
	// RecordingFailed reports a recording whose file could not be written completely; the file
	// was removed.
	RecordingFailed()
}

// Deps are what a Call needs from the rest of the process; they are shared by all calls, and
// cmd/pivotua wires them.
type Deps struct {
	Documents DocumentFetcher
	Media     MediaFetcher
	Stored    MediaStore // media ids of play and response; nil: only URLs play
	Speech    Speaker
	Prompts   *PromptCache   // decoded media shared by all calls; nil decodes on every play
	TTSEngine string         // engine for tts/<Say> that name none; "" leaves the Speaker's default
	Debug     func(Exchange) // receives pivot exchanges (see Exchange); nil = none
	Events    func(Event)    // receives call events (see Event); nil = none
	Logger    *slog.Logger   // nil = slog.Default()

	Recordings string   // folder recordings are written to before any upload
	Uploads    Uploader // delivers finished recordings; nil keeps them local only
	// RecordingLinks serves <Record> recordings on the HTTP listener; nil reports them as file:// URLs.
	RecordingLinks RecordingLinker
	Observer       Observer // metrics; nil counts nothing

	Dial DialDeps // outbound legs for Dial, resources and sip_uri (dial.go)

	// Streams opens media streams (<Connect><Stream>, <Start><Stream>); nil refuses them.
	Streams *mediastream.Client

	// Conferences are the rooms of <Dial><Conference> and the conference module (conference.go);
	// NewServer makes one registry for all its calls when nil; a Call without one refuses them.
	Conferences *Conferences

	// Queues are the call queues of <Enqueue> and <Dial><Queue> (queue.go); NewServer makes one
	// registry for all its calls when nil; a Call without one refuses them.
	Queues *Queues

	// Recognizer hears the caller (<Gather input="speech">, collect_dtmf speech, <Record
	// transcribe>); nil: speech input gets an empty result and a warning.
	Recognizer SpeechRecognizer
}

// SpeechRecognizer recognises what the caller says (gather_speech.go, transcribe.go); the engines
// of package speech (speech.Settings.New) implement it.
type SpeechRecognizer interface {
	Check(r asr.Request) error
	Start(ctx context.Context, r asr.Request) (*asr.Recognition, error)
}

// DialDeps are what Dial needs beyond the inbound leg.
type DialDeps struct {
	Outbound  OutboundSIP
	Trunks    []Trunk
	Engine    *media.Engine // RTP sessions of the inbound leg and of the outbound legs
	Advertise netip.Addr    // address put in our SDP; invalid = the RTP socket's own
}
