package debugapi

import "errors"

// The media store's sentinel errors (kept beside the media files rather than in errors.go, which
// the debug store's own errors fill). The API turns each into its HTTP status.
var (
	// ErrMediaNotFound means the account has no media of that id (or the id is not one the store
	// could have made): 404, whoever else may hold that id.
	ErrMediaNotFound = errors.New("media not found")
	// ErrMediaNoAudio means the media document exists but no audio was uploaded to it yet.
	ErrMediaNoAudio = errors.New("media has no audio yet")
	// ErrMediaLimit means the account holds media_store.max_per_account documents already.
	ErrMediaLimit = errors.New("media limit reached")
	// ErrMediaTooLarge means an upload is over media_store.max_file_bytes.
	ErrMediaTooLarge = errors.New("media file too large")
	// ErrMediaFormat means an upload is in a format media_store.formats does not allow.
	ErrMediaFormat = errors.New("media format not allowed")
	// ErrMediaUnplayable means an upload is not audio pivotua can decode and play.
	ErrMediaUnplayable = errors.New("media cannot be played")
	// ErrMediaInvalid means a media document's fields are not what the schema allows.
	ErrMediaInvalid = errors.New("invalid media document")
)
