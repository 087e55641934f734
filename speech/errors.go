package speech

import "errors"

var (
	// ErrBusy is returned by Start when Settings.MaxConcurrent recognitions are running already.
	ErrBusy = errors.New("speech: too many recognitions running")
	// ErrLanguage is returned by Start when the engine cannot recognise the requested language.
	ErrLanguage = errors.New("speech: language not supported by this engine")
	// ErrDisabled is returned by Start when no engine is configured (engine: none).
	ErrDisabled = errors.New("speech: recognition is disabled")
	// ErrEngine wraps a failure of the engine itself: the child process died or wrote something
	// unreadable, the HTTP service answered badly.
	ErrEngine = errors.New("speech: engine failed")
)
