package codec

import (
	"crypto/sha256"
	"encoding/hex"
)

// MaxCallIDFilePart is the longest name part CallIDFilePart returns. A recording is named
// <part>-<19 digits of Unix nanoseconds>.wav, or <part>-dial-<nanos>.wav, so its name stays
// well under the 255 bytes file systems allow and what the recordings server and purge accept
// (201 bytes before the extension), and <part>-<nanos>, the ID its upload job is spooled
// under, within the 128 bytes an upload ID may have.
const MaxCallIDFilePart = 100

// callIDHashBytes is how much of the Call-ID's SHA-256 a cut part ends with (hex-encoded):
// 64 bits, so two long Call-IDs that share their start still name different calls.
const callIDHashBytes = 8

// CallIDFilePart is the part of a recording's file name that names its call: flow names the
// recordings with it, and the recordings server and purge match them by it, so both sides must
// use this one function. A Call-ID comes from the caller and may hold any bytes (RFC 3261
// §25.1 allows far more than a file name may, and sets no length): every byte but A-Z a-z 0-9
// . _ - becomes '_', and so does a leading dot (the file is never hidden, "." or ".."); one
// longer than MaxCallIDFilePart is cut and ends with '_' and a hash of the whole Call-ID.
// An empty Call-ID gives "_".
func CallIDFilePart(callID string) string {
	if fileSafeCallID(callID) {
		return callID
	}
	cut := len(callID) > MaxCallIDFilePart
	keep := len(callID)
	if cut {
		keep = MaxCallIDFilePart - 1 - 2*callIDHashBytes
	}
	b := make([]byte, 0, max(keep, MaxCallIDFilePart))
	for i := range keep {
		c := callID[i]
		if !fileSafeByte(c) || (i == 0 && c == '.') {
			c = '_'
		}
		b = append(b, c)
	}
	if cut {
		sum := sha256.Sum256([]byte(callID))
		b = append(b, '_')
		b = hex.AppendEncode(b, sum[:callIDHashBytes])
	}
	if len(b) == 0 {
		return "_"
	}
	return string(b)
}

func fileSafeCallID(s string) bool {
	if s == "" || len(s) > MaxCallIDFilePart || s[0] == '.' {
		return false
	}
	for i := range len(s) {
		if !fileSafeByte(s[i]) {
			return false
		}
	}
	return true
}

func fileSafeByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.'
}
