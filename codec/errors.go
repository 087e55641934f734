package codec

import (
	"errors"
	"fmt"
)

var (
	// ErrUnsupportedFormat is wrapped by every error about audio this package
	// recognises but cannot decode, or does not recognise at all.
	ErrUnsupportedFormat = errors.New("unsupported audio format")

	// ErrMalformedAudio is wrapped by errors about audio whose container or
	// header is broken (missing chunks, impossible field values).
	ErrMalformedAudio = errors.New("malformed audio")

	// ErrAudioTooLong is wrapped when decoding would produce more than
	// MaxAudioDuration of audio; it bounds memory for hostile input.
	ErrAudioTooLong = errors.New("audio too long")

	// ErrToolMissing is wrapped when an external program this package needs
	// (lame, flite, espeak-ng) is not installed.
	ErrToolMissing = errors.New("external tool not installed")

	// ErrUnknownEngine is wrapped when a SpeechRequest names a TTS engine
	// other than "flite" or "espeak-ng".
	ErrUnknownEngine = errors.New("unknown TTS engine")

	// ErrTextTooLong is wrapped when TTS text exceeds MaxSpeechText characters.
	ErrTextTooLong = errors.New("TTS text too long")

	// ErrEmptyText is wrapped when TTS text is empty or only white space.
	ErrEmptyText = errors.New("TTS text empty")

	// ErrNoVoice is wrapped when no installed voice speaks the requested language.
	ErrNoVoice = errors.New("no TTS voice for language")
)

// codecError carries its own complete message ("wav: unsupported format
// tag 85") while still matching a sentinel with errors.Is.
type codecError struct {
	msg  string
	kind error
}

func (e *codecError) Error() string { return e.msg }
func (e *codecError) Unwrap() error { return e.kind }

func newError(kind error, format string, args ...any) error {
	return &codecError{msg: fmt.Sprintf(format, args...), kind: kind}
}
