package codec

import (
	"context"
	"mime"
	"strings"
)

// DecodeAudio decodes a WAV or MP3 file to 8 kHz mono PCM. The format is
// sniffed from the bytes; contentTypeHint (a Content-Type header, possibly
// empty or wrong) only widens the MP3 frame search for bodies served as
// audio/mpeg and names the type in errors. MP3s are decoded by lame when it
// is installed and by go-mp3 otherwise (see decodeMP3).
func DecodeAudio(data []byte, contentTypeHint string) ([]int16, error) {
	return DecodeAudioContext(context.Background(), data, contentTypeHint)
}

// DecodeAudioContext is DecodeAudio with a context bounding the external
// lame decoder used for MP3s.
func DecodeAudioContext(ctx context.Context, data []byte, contentTypeHint string) ([]int16, error) {
	return DecodeAudioLimited(ctx, data, contentTypeHint, nil)
}

// DecodeAudioLimited is DecodeAudioContext with the lame decoder waiting
// for a slot in procs (nil: no cap).
func DecodeAudioLimited(ctx context.Context, data []byte, contentTypeHint string, procs *ProcessLimit) ([]int16, error) {
	return decodeAudio(ctx, data, contentTypeHint, lameBinary, procs)
}

// decodeAudio is DecodeAudioLimited with the lame lookup injected, so the
// fuzz test can keep to in-process decoding.
func decodeAudio(ctx context.Context, data []byte, contentTypeHint string, lame func() string, procs *ProcessLimit) ([]int16, error) {
	switch {
	case len(data) == 0:
		return nil, newError(ErrUnsupportedFormat, "codec: empty audio (content type %q)", contentTypeHint)
	case isWAV(data):
		pcm, rate, err := DecodeWAV(data)
		switch {
		case err != nil:
			return nil, err
		case rate == SampleRate:
			return pcm, nil // already ours: Resample would copy an hour's 57.6 MB
		}
		return Resample(pcm, rate), nil
	case strings.HasPrefix(string(data[:min(3, len(data))]), "ID3"):
		return decodeMP3(ctx, data, mp3SearchLimit, lame(), procs)
	}
	if _, _, ok := findMPEGFrame(data, 0); ok {
		return decodeMP3(ctx, data, 0, lame(), procs)
	}
	if isMP3ContentType(contentTypeHint) {
		if _, _, ok := findMPEGFrame(data, mp3SearchLimit); ok {
			return decodeMP3(ctx, data, mp3SearchLimit, lame(), procs)
		}
	}
	return nil, newError(ErrUnsupportedFormat, "codec: unrecognised audio (content type %q, first bytes %q)", contentTypeHint, data[:min(16, len(data))])
}

func isWAV(data []byte) bool {
	return len(data) >= 12 && (string(data[:4]) == "RIFF" || string(data[:4]) == "RF64") && string(data[8:12]) == "WAVE"
}

func isMP3ContentType(contentType string) bool {
	mediaType, _, err := mime.ParseMediaType(contentType)
	if err != nil {
		return false
	}
	switch mediaType {
	case "audio/mpeg", "audio/mp3", "audio/mpeg3", "audio/x-mpeg", "audio/x-mp3", "audio/mpa":
		return true
	}
	return false
}
