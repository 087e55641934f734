package flow

import (
	"context"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/pivotua/pivotua/codec"
)

// recordingResult is what the next pivot request reports about the last recording.
type recordingResult struct {
	url      string
	duration int // seconds
}

// recordCallerAction records what the caller says (module "record_caller") until any key, the time
// limit or hangup, then uploads the file to <url>/<call-id>.<ext> (Kazoo's naming).
type recordCallerAction struct {
	url       string
	format    string // mp3 | wav
	method    string // PUT | POST
	timeLimit time.Duration
	// pivotua's options: transcribe the recording (transcribe.go) and post the text to
	// transcribeURL (which implies transcribe) with Twilio's transcription parameters.
	transcribe    bool
	transcribeURL string
}

// finishTimeout bounds converting and queueing a recording after the call or the flow moved on.
const finishTimeout = 2 * time.Minute

func parseRecordCaller(d *dataReader) kazooAction {
	a := &recordCallerAction{}
	if _, ok := d.raw("url"); ok {
		a.url = d.httpURL("url")
	}
	a.format = d.enum("format", "mp3", "mp3", "wav")
	a.method = strings.ToUpper(d.enum("method", "put", "put", "post", "PUT", "POST"))
	a.timeLimit = time.Duration(d.integer("time_limit", 3600, 5, 10800)) * time.Second
	a.transcribe = d.boolean("transcribe", false)
	if _, ok := d.raw("transcribe_url"); ok {
		a.transcribeURL, a.transcribe = d.httpURL("transcribe_url"), true
	}
	return a
}

func (a *recordCallerAction) run(ctx context.Context, c *Call, _ *Node) kazooOutcome {
	if err := c.answer(ctx); err != nil {
		return stopFlow()
	}
	c.drainDigits() // keys pressed before the recording started do not stop it
	c.activity++
	res, hungUp, err := a.record(ctx, c)
	if err != nil {
		c.log.Error("record_caller failed", "err", err)
	} else {
		c.rec.last = res
	}
	if hungUp {
		return stopFlow()
	}
	return continueWith("_")
}

// record makes the recording and hands it to the uploader; hungUp reports that the call ended during it.
func (a *recordCallerAction) record(ctx context.Context, c *Call) (res recordingResult, hungUp bool, err error) {
	rec, hungUp, err := c.recordCaller(ctx, recordingJob{stopOnKey: func(byte) bool { return true }, limit: a.timeLimit})
	if err != nil {
		return res, hungUp, err
	}
	res.duration = rec.seconds()

	// The call may be gone: finishing the file must not depend on it.
	fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), finishTimeout)
	defer cancel()
	file, ext, contentType := rec.path(), "wav", "audio/wav"
	if a.format == "mp3" {
		mp3Path := filepath.Join(rec.dir, rec.base+".mp3")
		if err := codec.EncodeMP3File(fctx, rec.path(), mp3Path); err != nil {
			// Deliver the WAV rather than nothing.
			c.log.Error("mp3 encoding failed, uploading the wav instead", "err", err)
		} else {
			file, ext, contentType = mp3Path, "mp3", "audio/mpeg"
		}
	}
	if a.url == "" || c.deps.Uploads == nil {
		res.url = "file://" + file
	} else if res.url, err = c.enqueueUpload(a.url, rec.base, file, ext, contentType, a.method); err != nil {
		return res, hungUp, err
	}
	// The uploader sends the file and keeps it, so the inspector plays the local copy.
	c.recordingSaved(file, res.duration, rec.endedBy(), res.url)
	if a.transcribe {
		c.transcribe(file, rec.base, res.url, a.transcribeURL)
	}
	return res, hungUp, nil
}

// fileSafe is the part of a recording's name that names its call: safe and bounded whatever
// bytes the Call-ID holds, and the one form the recordings server and purge match.
func fileSafe(callID string) string { return codec.CallIDFilePart(callID) }

// recordingParams returns Recording-Url and Recording-Duration of the last recording, if any.
func (r recordingResult) params() (url, duration string) {
	if r.url == "" {
		return "", ""
	}
	return r.url, strconv.Itoa(r.duration)
}
