package flow

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"github.com/pivotua/pivotua/codec"
	"github.com/pivotua/pivotua/httpfetch"
)

const (
	// voiceRMS is the frame level above which the caller counts as speaking (about -41 dBFS): well over
	// line noise and G.711's idle pattern, well under quiet speech.
	voiceRMS = 300
	// trimMargin is the audio kept around the speech when a recording is trimmed, so a word's soft
	// start and end are not cut.
	trimMargin = 200 * time.Millisecond
	// minRecording is the shortest recording that is not empty (Twilio sends no action for less).
	minRecording = time.Second
)

// recordingState is what a call keeps of its recordings.
type recordingState struct {
	last  recordingResult // the last recording's result, sent with the next request
	count int             // recordings made so far (names later uploads apart)
}

// recordingJob says when a recording of the caller stops: a key for which stopOnKey is true, the
// limit, silenceLimit of continuous silence (0 = never), or the end of the call.
type recordingJob struct {
	stopOnKey    func(byte) bool
	limit        time.Duration
	silenceLimit time.Duration
}

// callerRecording is a finished WAV file of the caller (8 kHz 16-bit mono) and what ended it.
type callerRecording struct {
	dir, base string // the file is dir/base.wav
	samples   int64
	reason    string // "key", "limit", "silence", "hangup"
	key       byte   // the key that ended it, for reason "key"
	speech    speechSpan
}

func (r *callerRecording) path() string { return filepath.Join(r.dir, r.base+".wav") }

// endedBy names what ended the recording for its event: "key #", "limit", "silence", "hangup".
func (r *callerRecording) endedBy() string {
	if r.reason == "key" {
		return "key " + string(r.key)
	}
	return r.reason
}

func (r *callerRecording) duration() time.Duration {
	return time.Duration(r.samples) * time.Second / codec.SampleRate
}

// seconds is the duration rounded to whole seconds, as RecordingDuration and Recording-Duration report it.
func (r *callerRecording) seconds() int {
	return int((r.samples + codec.SampleRate/2) / codec.SampleRate)
}

// recordCaller records the caller into a new WAV file under recordings.dir/<account>/ until job says
// stop. hungUp reports that the call ended during it; the file is complete either way.
func (c *Call) recordCaller(ctx context.Context, job recordingJob) (rec *callerRecording, hungUp bool, err error) {
	dir := filepath.Join(c.deps.Recordings, c.accountID)
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, false, fmt.Errorf("recordings folder: %w", err)
	}
	rec = &callerRecording{dir: dir, base: fmt.Sprintf("%s-%d", fileSafe(c.info.CallID), time.Now().UnixNano())}
	w, err := codec.CreateWAV(rec.path(), codec.SampleRate)
	if err != nil {
		return nil, false, err
	}
	meter := newLevelMeter(w, job.silenceLimit)
	running, err := c.ch.StartRecording(meter)
	if err != nil {
		w.Close()
		os.Remove(rec.path())
		return nil, false, err
	}
	c.rec.count++
	limit := time.NewTimer(job.limit)
	defer limit.Stop()
	rec.reason = "limit"
wait:
	for {
		select {
		case k := <-c.ch.Digits():
			if job.stopOnKey(k) { // the key ends the recording and is not collected
				rec.reason, rec.key = "key", k
				break wait
			}
		case <-limit.C:
			break wait
		case <-meter.silent:
			rec.reason = "silence"
			break wait
		case <-ctx.Done():
			rec.reason, hungUp = "hangup", true
			break wait
		}
	}
	samples, stopErr := running.Stop() // returns once the tail is written
	if err := w.Close(); err != nil || stopErr != nil {
		err = fmt.Errorf("finish %s: stop %v, close %v", rec.path(), stopErr, err)
		c.recordingFailed(rec.path(), err)
		return nil, hungUp, err
	}
	rec.samples, rec.speech = samples, meter.span()
	c.log.Info("recording stopped", "reason", rec.reason, "seconds", rec.seconds(), "file", rec.path())
	return rec, hungUp, nil
}

// recordingFailed removes the file of a recording that could not be written completely (a write or
// close error: the disk full, the WAV size cap) and counts it as failed. Removed, not set aside: the
// file was never reported or queued, so nothing refers to it, its header may not match its data, and
// keeping it would keep the disk full that likely failed it. A recording that was finished is never
// removed here.
func (c *Call) recordingFailed(path string, err error) {
	if rmErr := os.Remove(path); rmErr != nil && !errors.Is(rmErr, fs.ErrNotExist) {
		c.log.Error("failed recording left behind", "file", path, "err", rmErr)
	}
	c.log.Error("recording failed and removed", "file", path, "err", err)
	if c.deps.Observer != nil {
		c.deps.Observer.RecordingFailed()
	}
}

// trimSilence cuts the silence before the first and after the last speech (keeping trimMargin of it)
// out of the file. A recording without speech is left alone.
func (r *callerRecording) trimSilence() error {
	from, to, ok := trimBounds(r.speech, r.samples, 1)
	if !ok {
		return nil
	}
	if err := trimWAV(r.path(), 1, from, to); err != nil {
		return err
	}
	r.samples = to - from
	r.speech = speechSpan{from: r.speech.from - from, to: r.speech.to - from}
	return nil
}

// trimBounds is what trimming keeps of a recording of total samples (interleaved, of channels
// channels) whose speech is span: the speech and trimMargin around it. ok is false when there is
// nothing to cut (no speech, or no silence outside the margins).
func trimBounds(span speechSpan, total int64, channels int) (from, to int64, ok bool) {
	if !span.found() {
		return 0, 0, false
	}
	margin := int64(trimMargin*codec.SampleRate/time.Second) * int64(channels)
	from, to = max(0, span.from-margin), min(total, span.to+margin)
	from -= from % int64(channels) // whole sample frames of every channel
	to -= to % int64(channels)
	return from, to, from > 0 || to < total
}

// trimWAV keeps samples [from, to) (interleaved, of channels channels) of the WAV file at path, as
// codec.CreateWAV or createWAVChannels wrote it, replacing the file.
func trimWAV(path string, channels int, from, to int64) error {
	src, err := os.Open(path)
	if err != nil {
		return err
	}
	defer src.Close()
	tmp := path + ".trim"
	os.Remove(tmp) // a leftover of a crash; CreateWAV never truncates
	w, err := createWAVChannels(tmp, channels)
	if err != nil {
		return err
	}
	// The writers put a 44-byte canonical header before the samples.
	_, err = io.Copy(w, io.NewSectionReader(src, wavHeaderSize+2*from, 2*(to-from)))
	if cerr := w.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("trim %s: %w", path, err)
	}
	return nil
}

// wavHeaderSize is the header codec.CreateWAV writes.
const wavHeaderSize = 44

// empty reports whether the recording holds no speech or is shorter than minRecording.
func (r *callerRecording) empty() bool {
	return !r.speech.found() || r.duration() < minRecording
}

// remove deletes the file (an empty recording is not kept). Nothing refers to it, so a failure only
// leaves a stray file behind.
func (r *callerRecording) remove() { _ = os.Remove(r.path()) }

// uploadName is the name a recording is uploaded under: the call-id for the call's first recording
// (Kazoo's <url>/<call-id>.<ext>), then <call-id>-2, -3, ... so later ones do not overwrite it.
func (c *Call) uploadName() string {
	if c.rec.count <= 1 {
		return c.info.CallID
	}
	return c.info.CallID + "-" + strconv.Itoa(c.rec.count)
}

// enqueueUpload hands file to the spool for delivery to <base>/<uploadName>.<ext>; it returns that URL.
func (c *Call) enqueueUpload(base, id, file, ext, contentType, method string) (string, error) {
	return c.enqueueNamedUpload(base, id, c.uploadName(), file, ext, contentType, method)
}

// enqueueNamedUpload is enqueueUpload to <base>/<name>.<ext>.
func (c *Call) enqueueNamedUpload(base, id, name, file, ext, contentType, method string) (string, error) {
	target, err := httpfetch.RecordingUploadURL(base, name, ext)
	if err != nil {
		return "", err
	}
	err = c.deps.Uploads.Enqueue(httpfetch.Upload{
		ID: id, File: file, URL: target, Method: method, ContentType: contentType,
		CallID: c.info.CallID, AccountID: c.accountID,
	})
	if err != nil {
		return "", fmt.Errorf("queue upload of %s: %w", file, err)
	}
	return target, nil
}

// speechSpan is where the caller spoke in a recording, in samples from its start: from the start of
// the first frame over voiceRMS to the end of the last one. to == 0: no speech.
type speechSpan struct{ from, to int64 }

func (s speechSpan) found() bool { return s.to > 0 }

// levelMeter passes a recording's PCM (16-bit little-endian mono, as Channel.StartRecording writes
// it) to w and measures its level per 20 ms frame: it finds where the caller spoke and closes silent
// once silenceLimit has passed without speech (since the start, or since the last speech).
//
// Write is called by the recording's writer goroutine only; span may be called by the call's
// goroutine once the recording stopped. mu guards the speech fields for that hand-over.
type levelMeter struct {
	w            io.Writer
	silenceLimit int64 // samples; 0 = never close silent
	silent       chan struct{}

	// Written by Write only.
	odd        []byte  // a byte of a sample split across writes
	sumSquares float64 // of the frame being measured
	inFrame    int64   // samples in it so far
	pos        int64   // samples measured (whole frames) plus inFrame
	closed     bool

	mu     sync.Mutex
	speech speechSpan
}

func newLevelMeter(w io.Writer, silenceLimit time.Duration) *levelMeter {
	return &levelMeter{
		w:            w,
		silenceLimit: int64(silenceLimit * codec.SampleRate / time.Second),
		silent:       make(chan struct{}),
	}
}

func (m *levelMeter) Write(p []byte) (int, error) {
	n, err := m.w.Write(p)
	m.measure(p[:n])
	return n, err
}

func (m *levelMeter) measure(p []byte) {
	if len(m.odd) > 0 && len(p) > 0 {
		m.sample(int16(binary.LittleEndian.Uint16([]byte{m.odd[0], p[0]})))
		m.odd, p = nil, p[1:]
	}
	for ; len(p) >= 2; p = p[2:] {
		m.sample(int16(binary.LittleEndian.Uint16(p)))
	}
	if len(p) == 1 {
		m.odd = []byte{p[0]}
	}
}

func (m *levelMeter) sample(x int16) {
	m.sumSquares += float64(x) * float64(x)
	m.inFrame++
	m.pos++
	if m.inFrame < codec.FrameSamples {
		return
	}
	loud := m.sumSquares/float64(m.inFrame) >= voiceRMS*voiceRMS
	m.sumSquares, m.inFrame = 0, 0
	m.mu.Lock()
	if loud {
		if !m.speech.found() {
			m.speech.from = m.pos - codec.FrameSamples
		}
		m.speech.to = m.pos
	}
	quietSince := m.speech.to
	m.mu.Unlock()
	if m.silenceLimit > 0 && !m.closed && m.pos-quietSince >= m.silenceLimit {
		m.closed = true
		close(m.silent)
	}
}

// span returns where the caller spoke.
func (m *levelMeter) span() speechSpan {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.speech
}
