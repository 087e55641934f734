package httpfetch

import "errors"

// ErrBadURL means the URL is not an absolute http or https URL with a host.
var ErrBadURL = errors.New("httpfetch: bad URL")

// ErrBadRequest means a PivotRequest field holds a value outside its set
// (Method, Format or BodyFormat).
var ErrBadRequest = errors.New("httpfetch: bad pivot request")

// ErrConnect means no usable response arrived: DNS, connect, TLS or the
// connection failed before the whole body was read.
var ErrConnect = errors.New("httpfetch: connection failed")

// ErrTimeout means the whole-request deadline passed before the body was read.
var ErrTimeout = errors.New("httpfetch: timed out")

// ErrStatus means the server answered with a status outside 2xx (including a
// redirect that was not followed).
var ErrStatus = errors.New("httpfetch: unexpected HTTP status")

// ErrTooLarge means the response body is larger than the configured cap.
var ErrTooLarge = errors.New("httpfetch: response too large")

// ErrBadUpload means an Upload is missing a field or holds a value outside
// its set (ID, File, URL, Method, ContentType), or RecordingUploadURL was
// given an empty call-id or extension.
var ErrBadUpload = errors.New("httpfetch: bad upload")

// ErrUploadExists means an upload with the same ID is already pending.
var ErrUploadExists = errors.New("httpfetch: upload already pending")

// ErrUploaderClosed means Start was called on an Uploader after Close.
var ErrUploaderClosed = errors.New("httpfetch: uploader closed")

// ErrUploaderStarted means Start was called twice.
var ErrUploaderStarted = errors.New("httpfetch: uploader already started")

// ErrDenied means the destination's resolved address is in the deny-list
// (fetch.deny_cidrs); it is wrapped in ErrConnect.
var ErrDenied = errors.New("httpfetch: destination address denied")
