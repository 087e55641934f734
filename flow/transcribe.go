package flow

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"net/url"
	"os"
	"path/filepath"
	"time"

	"github.com/pivotua/pivotua/codec"
	"github.com/pivotua/pivotua/httpfetch"
	asr "github.com/pivotua/pivotua/speech"
)

// Transcription bounds: a recognition waits this long for a free slot, and runs this long at most.
const (
	transcribeSlotWait = 2 * time.Minute
	transcribeLimit    = 5 * time.Minute
)

// transcription is what a <Record transcribe> needs once the call has moved on.
type transcription struct {
	file, base   string // the recording, and its name without extension
	recordingURL string
	callback     string // absolute transcribeCallback; "" = none: the text is only logged
	vars         url.Values
	signingKey   string
	callID       string
	accountID    string
}

// transcribe recognises a finished recording on a goroutine of its own (the call goes on) and
// posts Twilio's transcription parameters to callback through the upload spool, so an application
// that is down gets them when it is back. A recording the engine cannot hear gets
// TranscriptionStatus failed.
func (c *Call) transcribe(file, base, recordingURL, callback string) {
	if callback != "" {
		target, err := c.resolveURL(callback)
		if err != nil {
			c.log.Warn("<Record> transcribeCallback unusable", "transcribeCallback", callback, "err", err)
			callback = ""
		} else {
			callback = target
		}
	}
	t := transcription{file: file, base: base, recordingURL: recordingURL, callback: callback,
		signingKey: c.signingKey, callID: c.info.CallID, accountID: c.accountID,
		vars: url.Values{
			"AccountSid": {c.accountID}, "CallSid": {c.info.CallID}, "ApiVersion": {"2010-04-01"},
			"From": {c.info.From}, "To": {c.info.To}, "Direction": {"inbound"},
			"RecordingSid": {twilioSID("RE")}, "RecordingUrl": {recordingURL},
			"TranscriptionSid": {twilioSID("TR")}, "TranscriptionType": {"fast"},
		}}
	rec, uploads, log := c.deps.Recognizer, c.deps.Uploads, c.log
	go func() {
		text, err := t.recognise(rec)
		t.vars.Set("TranscriptionStatus", "completed")
		t.vars.Set("TranscriptionText", text)
		if err != nil {
			log.Warn("<Record> transcription failed", "file", file, "err", err)
			t.vars.Set("TranscriptionStatus", "failed")
			t.vars.Del("TranscriptionText")
		} else {
			log.Info("<Record> transcribed", "file", file, "text", text)
		}
		if err := t.post(uploads); err != nil {
			log.Error("<Record> transcription callback cannot be queued", "url", t.callback, "err", err)
		}
	}()
}

func (t *transcription) recognise(rec SpeechRecognizer) (string, error) {
	if rec == nil {
		return "", errors.New("speech recognition is not configured (speech.engine)")
	}
	data, err := os.ReadFile(t.file)
	if err != nil {
		return "", err
	}
	pcm, err := codec.DecodeAudio(data, "") // WAV, or record_caller's MP3
	if err != nil {
		return "", err
	}
	ctx, cancel := context.WithTimeout(context.Background(), transcribeLimit)
	defer cancel()
	var r *asr.Recognition
	for deadline := time.Now().Add(transcribeSlotWait); ; {
		r, err = rec.Start(ctx, asr.Request{CallID: t.callID, AccountID: t.accountID})
		if !errors.Is(err, asr.ErrBusy) || time.Now().After(deadline) {
			break
		}
		time.Sleep(time.Second) // live Gathers come first: wait for a slot
	}
	if err != nil {
		return "", err
	}
	for i := 0; i < len(pcm); i += asr.FrameSamples {
		f := pcm[i:min(i+asr.FrameSamples, len(pcm))]
		for !r.Write(f) { // not live: offer a frame again until the engine takes it
			if r.Truncated() {
				r.Abort()
				return "", errors.New("the recording is longer than speech.max_seconds")
			}
			if ctx.Err() != nil {
				r.Abort()
				return "", ctx.Err()
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	res, err := r.Close(ctx)
	if err == nil && res.Truncated {
		return "", errors.New("the recording is longer than speech.max_seconds")
	}
	return res.Text, err
}

// post queues the callback as a form POST, signed with X-Twilio-Signature (its URL and form do not
// change between attempts, so a retry hours later still validates).
func (t *transcription) post(uploads Uploader) error {
	if t.callback == "" || uploads == nil {
		return nil
	}
	body := filepath.Join(filepath.Dir(t.file), t.base+".transcription")
	if err := os.WriteFile(body, []byte(t.vars.Encode()), 0o600); err != nil {
		return err
	}
	return uploads.Enqueue(httpfetch.Upload{
		ID: t.base + "-transcription", File: body, URL: t.callback, Method: "POST",
		ContentType: "application/x-www-form-urlencoded", CallID: t.callID, AccountID: t.accountID,
		Header: map[string]string{"X-Twilio-Signature": httpfetch.TwilioSignature(t.signingKey, t.callback, t.vars)},
	})
}

// twilioSID is a Twilio-shaped identifier: prefix and 32 hex digits.
func twilioSID(prefix string) string {
	var b [16]byte
	rand.Read(b[:])
	return prefix + hex.EncodeToString(b[:])
}
