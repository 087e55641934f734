package flow

import "errors"

var (
	// ErrInvalidJSON reports a Kazoo JSON document that is not well-formed JSON (a json_errors debug record).
	ErrInvalidJSON = errors.New("invalid JSON")
	// ErrInvalidXML reports a TwiML document that is not well-formed XML or whose root is not <Response>.
	ErrInvalidXML = errors.New("invalid XML")
	// ErrEmptyDocument reports a pivot response with an empty (or all-whitespace) body.
	ErrEmptyDocument = errors.New("empty document")
	// ErrFetchLoop reports documents (TwiML Redirects, Kazoo pivots, or both in turn) that kept fetching
	// the next document without playing anything to the caller.
	ErrFetchLoop = errors.New("too many fetches in a row that played nothing")
	// ErrTrunkNotAllowed reports a Dial through a trunk the call's account may not use (trunks[].accounts).
	ErrTrunkNotAllowed = errors.New("trunk not allowed")
	// ErrReferNotSupported reports a <Refer> on a channel that cannot transfer: a Dial callee running
	// its noun's url document.
	ErrReferNotSupported = errors.New("<Refer> is not supported on a Dial callee")
	// ErrCallNotFound reports a Calls API request for a call the registry does not hold (never, or no
	// longer: ended calls are kept for a bounded while).
	ErrCallNotFound = errors.New("no such call")
	// ErrCallNotLive reports an update of a call that is over.
	ErrCallNotLive = errors.New("the call is not live")
	// ErrCallNotRinging reports a cancel of a call that was answered (Twilio: completed hangs it up).
	ErrCallNotRinging = errors.New("the call is not ringing")
	// ErrBadCallTarget reports an outbound call's To that pivotua cannot dial: not a sip: URI, or a
	// number with no trunk open to the account.
	ErrBadCallTarget = errors.New("the call cannot be placed to this destination")
	// ErrBadCallerID reports an outbound call's From that cannot be the INVITE's From user.
	ErrBadCallerID = errors.New("the caller ID is not usable")
	// ErrNoCapacity reports an outbound call refused because no RTP port or outbound SIP was available.
	ErrNoCapacity = errors.New("no capacity for an outbound call")
	// ErrConferenceFull reports a join of a conference that holds its maxParticipants already (Twilio's
	// error 16020).
	ErrConferenceFull = errors.New("the conference is full")
	// ErrConferenceNotFound reports a Conferences API request for a conference not live on this node.
	ErrConferenceNotFound = errors.New("no such conference")
	// ErrParticipantNotFound reports a participant (a CallSid) that is not in the conference: a
	// Participants API request, or a coach whose target is not there.
	ErrParticipantNotFound = errors.New("no such participant")
	// ErrRoomToken reports an INVITE that asks to join a room hosted here without a valid signed
	// token (conference_cluster.go): it gets 403.
	ErrRoomToken = errors.New("room leg token refused")
	// ErrQueueFull reports an <Enqueue> into a queue that holds its MaxSize already (QueueResult
	// queue-full).
	ErrQueueFull = errors.New("the queue is full")
	// ErrQueueLimit reports an <Enqueue> that would create a queue beyond the account's limit.
	ErrQueueLimit = errors.New("too many queues")
	// ErrQueueNotFound reports a queue that does not exist on this node: a <Dial><Queue> (Twilio
	// posts an error status) or a Queues API request.
	ErrQueueNotFound = errors.New("no such queue")
	// ErrMemberNotFound reports a Members API request for a call that is not waiting in the queue.
	ErrMemberNotFound = errors.New("no such queue member")
	// ErrInvalidQueueSize reports a MaxSize out of range in a Queues API request.
	ErrInvalidQueueSize = errors.New("invalid queue size")
	// ErrBadConferenceName reports a room name no conference can have (the Participants API's path).
	ErrBadConferenceName = errors.New("not a conference name")
	// ErrBadCoach reports a coaching change a participant cannot make (coaching itself).
	ErrBadCoach = errors.New("the coaching is not possible")
	// ErrConferenceBusy reports an API action a participant's call cannot take now (too many waiting).
	ErrConferenceBusy = errors.New("the participant is busy")
	// ErrCallOwnerTimeout reports an update of a call another node holds that the node did not answer
	// in time (it may be stopped, overloaded, or cut off from the store).
	ErrCallOwnerTimeout = errors.New("the node holding the call did not answer in time")
	// ErrCallStoreUnavailable reports an update that could not reach the shared table of calls.
	ErrCallStoreUnavailable = errors.New("the shared table of calls is unavailable")
	// ErrBadForwardedUpdate reports an update forwarded by another node that fails its checks.
	ErrBadForwardedUpdate = errors.New("bad forwarded update")
)

// ValidationError is one problem found in a callflow node or a TwiML document, with the path of the
// offending value: "flow.children._.data.text", "data.voice_url", "Response/Say[2]@loop".
type ValidationError struct {
	Path    string
	Message string
}

func (e *ValidationError) Error() string {
	if e.Path == "" {
		return e.Message
	}
	return e.Path + ": " + e.Message
}

// validationErrors flattens err (possibly an errors.Join) into its parts.
func validationErrors(err error) []error {
	if err == nil {
		return nil
	}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		return j.Unwrap()
	}
	return []error{err}
}
