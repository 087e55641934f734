package flow

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"github.com/pivotua/pivotua/codec"
	"github.com/pivotua/pivotua/media"
)

// recordCallAction starts or stops the recording of the whole call (module "record_call", Kazoo's
// applications/callflow/doc/record_call.md): what the caller says and what the caller hears (prompts,
// speech, a bridged callee), mixed into one track. It does not answer the call (a resources bridge after
// it still rings the caller until the callee answers): the file runs from record_call's start, silent
// until media flows, or with record_on_answer from the first audio (the answer, or early media). The
// flow goes on at once; the recording runs beside it until a record_call with action "stop", its
// time_limit, or the end of the call, and is then uploaded like record_caller's (to
// <url>/<call-id>.<ext>, through the spool that never loses one).
type recordCallAction struct {
	action    string // start | stop
	url       string
	format    string // mp3 | wav
	method    string // PUT | POST
	timeLimit time.Duration
	minLength time.Duration // record_min_sec: shorter recordings are deleted, not uploaded
	name      string        // media_name: the upload's name instead of the call-id
	onAnswer  bool          // record_on_answer: the file starts with the first audio
}

// mediaNamePattern is what media_name may be: it names a file on disk and in the upload's URL.
var mediaNamePattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$`)

func parseRecordCall(d *dataReader) kazooAction {
	a := &recordCallAction{action: d.enum("action", "start", "start", "stop")}
	if _, ok := d.raw("url"); ok {
		a.url = d.httpURL("url")
	}
	a.format = d.enum("format", "mp3", "mp3", "wav")
	a.method = strings.ToUpper(d.enum("method", "put", "put", "post"))
	a.timeLimit = time.Duration(d.integer("time_limit", 3600, 1, 10800)) * time.Second
	a.minLength = time.Duration(d.integer("record_min_sec", 0, 0, 10800)) * time.Second
	if name := d.str("media_name", ""); name != "" {
		name = strings.TrimSuffix(strings.TrimSuffix(name, ".mp3"), ".wav")
		if !mediaNamePattern.MatchString(name) {
			d.fail("media_name", "must be 1 to 128 letters, digits, '.', '_' or '-', starting with a letter or digit")
		}
		a.name = name
	}
	if rate := d.integer("record_sample_rate", 8000, 0, 192000); rate != 8000 {
		d.fail("record_sample_rate", "must be 8000: pivotua records calls at 8000 Hz")
	}
	if d.boolean("record_on_bridge", false) {
		d.fail("record_on_bridge", "is not supported: the recording starts when record_call runs")
	}
	a.onAnswer = d.boolean("record_on_answer", false)
	// Read so that they are known fields: the label only tags Kazoo's own records, and a transfer
	// ends the call here.
	d.boolean("should_follow_transfer", true)
	d.str("label", "")
	return a
}

func (a *recordCallAction) run(ctx context.Context, c *Call, _ *Node) kazooOutcome {
	if a.action == "stop" {
		if c.callRec == nil {
			c.log.Info("record_call stop: no call recording is running")
			return continueWith("_")
		}
		c.stopCallRecording(ctx)
		return continueWith("_")
	}
	if c.callRec != nil {
		c.log.Warn("record_call start: the call is already being recorded; the running recording goes on")
		return continueWith("_")
	}
	if err := c.startCallRecording(a); err != nil {
		c.log.Error("record_call failed to start", "err", err)
		c.event(EventWarning, map[string]any{"verb": "record_call", "message": "not recorded: " + err.Error()})
	}
	return continueWith("_")
}

// callRecording is a record_call recording in progress: a tap on the caller's session feeding a mixer
// goroutine that writes the WAV file. The call's goroutine owns the struct; the goroutine owns the
// file until done is closed.
type callRecording struct {
	action *recordCallAction
	tap    *media.Tap
	wav    *codec.WAVFileWriter
	dir    string
	base   string        // the file is dir/base.wav
	stop   chan struct{} // closed to end the recording
	done   chan struct{} // closed when the mixer has written its last sample
	// Written by the mixer goroutine before done is closed; read after.
	samples int64
	err     error
	limited bool // the time limit ended it
}

func (r *callRecording) path() string { return filepath.Join(r.dir, r.base+".wav") }

// startCallRecording taps the caller's session and starts the mixer.
func (c *Call) startCallRecording(a *recordCallAction) error {
	bl := c.ch.Bridge()
	if bl == nil || bl.Session() == nil {
		return errors.New("the call has no RTP session of pivotua's own to record")
	}
	dir := filepath.Join(c.deps.Recordings, c.accountID)
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return fmt.Errorf("recordings folder: %w", err)
	}
	r := &callRecording{action: a, dir: dir, base: fmt.Sprintf("%s-call-%d", fileSafe(c.info.CallID), time.Now().UnixNano()),
		stop: make(chan struct{}), done: make(chan struct{})}
	w, err := codec.CreateWAV(r.path(), codec.SampleRate)
	if err != nil {
		return err
	}
	tap, err := bl.Session().StartTap(media.TapInbound | media.TapOutbound)
	if err != nil {
		w.Close()
		os.Remove(r.path())
		return fmt.Errorf("tap the call's media: %w", err)
	}
	r.wav, r.tap = w, tap
	c.callRec = r
	c.rec.count++
	limit := int64(a.timeLimit / time.Second * codec.SampleRate)
	go r.mix(limit, a.onAnswer)
	c.log.Info("call recording started", "file", r.path(), "time_limit", a.timeLimit)
	return nil
}

// mix reads the tap until stop, the limit (in samples) or the end of the session, and writes both
// tracks mixed.
func (r *callRecording) mix(limit int64, fromFirst bool) {
	defer close(r.done)
	defer r.tap.Stop()
	m := newCallMixer(r.wav, limit, fromFirst)
	var f media.TapFrame
	for {
		for r.tap.Next(&f) {
			if !m.add(f.Track == media.TapOutbound, f.Timestamp, &f.Payload) {
				r.limited = true
				r.samples, r.err = m.finish()
				return
			}
		}
		select {
		case <-r.tap.Ready():
		case <-r.stop:
			r.tap.Stop() // nothing more is queued; what is queued is still taken
			for r.tap.Next(&f) {
				if !m.add(f.Track == media.TapOutbound, f.Timestamp, &f.Payload) {
					r.limited = true
					break
				}
			}
			r.samples, r.err = m.finish()
			return
		}
	}
}

// stopCallRecording ends the running record_call recording (a stop, or the end of the call), and
// uploads it. The call may be gone: finishing the file does not depend on it.
func (c *Call) stopCallRecording(ctx context.Context) {
	r := c.callRec
	if r == nil {
		return
	}
	c.callRec = nil
	close(r.stop)
	<-r.done
	endedBy := "stop"
	switch {
	case r.limited:
		endedBy = "limit"
	case c.ended():
		endedBy = "hangup"
	}
	if err := r.wav.Close(); err != nil || r.err != nil {
		c.recordingFailed(r.path(), fmt.Errorf("finish %s: write %v, close %v", r.path(), r.err, err))
		return
	}
	seconds := int((r.samples + codec.SampleRate/2) / codec.SampleRate)
	if r.samples == 0 { // no media ever flowed: the call ended unanswered
		os.Remove(r.path())
		c.log.Info("call recording holds nothing (no media flowed): deleted")
		return
	}
	if time.Duration(r.samples)*time.Second/codec.SampleRate < r.action.minLength {
		os.Remove(r.path())
		c.log.Info("call recording shorter than record_min_sec: deleted", "seconds", seconds, "record_min_sec", r.action.minLength)
		return
	}
	fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), finishTimeout)
	defer cancel()
	file, ext, contentType := r.path(), "wav", "audio/wav"
	if r.action.format == "mp3" {
		mp3Path := filepath.Join(r.dir, r.base+".mp3")
		if err := codec.EncodeMP3File(fctx, r.path(), mp3Path); err != nil {
			c.log.Error("mp3 encoding failed, uploading the wav instead", "err", err)
		} else {
			os.Remove(r.path())
			file, ext, contentType = mp3Path, "mp3", "audio/mpeg"
		}
	}
	url := "file://" + file
	if r.action.url != "" && c.deps.Uploads != nil {
		name := c.uploadName()
		if r.action.name != "" {
			name = r.action.name
		}
		var err error
		if url, err = c.enqueueNamedUpload(r.action.url, r.base, name, file, ext, contentType, r.action.method); err != nil {
			c.log.Error("record_call upload not queued; the file stays", "file", file, "err", err)
			url = "file://" + file
		}
	}
	c.rec.last = recordingResult{url: url, duration: seconds}
	// Frames the mixer was too slow to take (a stalled disk) are silence in the file: say how many.
	c.log.Info("call recording stopped", "reason", endedBy, "seconds", seconds, "file", file, "frames_dropped", r.tap.Dropped())
	c.recordingSaved(file, seconds, endedBy, url)
}

// endCallRecording finishes a recording still running when the call is over.
func (c *Call) endCallRecording() {
	if c.callRec != nil {
		c.stopCallRecording(context.Background())
	}
}

// callMixer lays each track's 20 ms frames on one timeline by the time they were tapped and writes
// their sum, or with dual both tracks as two channels (left: what the caller sends, right: what it is
// sent; Dial's record-from-ringing-dual, dial_record.go). A frame of the caller that arrives in the
// slot of the one before (packets bunched by jitter) takes the next slot, so bunching neither doubles
// nor drops audio; the session sends one frame per tick, so the caller's side follows its clock.
// Slots are written once mixWindow of later audio is in, or at finish.
type callMixer struct {
	w         io.Writer
	limit     int64 // samples (per channel); past it add returns false
	fromFirst bool  // the timeline starts at the first frame, not at the tap's start
	dual      bool  // two channels, not the sum
	started   bool  // a frame was added
	written   int64
	base      int64    // the first slot not written yet
	top       int64    // one past the highest slot holding audio
	last      [2]int64 // per track, the slot of its last frame (-1: none)
	ring      [mixWindow][2][codec.FrameSamples]int32
	pcm       [codec.FrameSamples]int16
	out       [2 * 2 * codec.FrameSamples]byte
	err       error
}

// mixWindow is how late a frame may be and still be mixed: 25 frames, half a second.
const mixWindow = 25

// maxSlotPush is how far a bunched frame may be moved past its own slot (200 ms) before it is laid
// on its own slot again (a caller sending faster than real time is not followed).
const maxSlotPush = 10

func newCallMixer(w io.Writer, limit int64, fromFirst bool) *callMixer {
	return &callMixer{w: w, limit: limit, fromFirst: fromFirst, last: [2]int64{-1, -1}}
}

// add mixes one PCMU frame tapped at ms milliseconds; false once the limit is written.
func (m *callMixer) add(outbound bool, ms int64, payload *[codec.FrameSamples]byte) bool {
	track := 0
	if outbound {
		track = 1
	}
	slot := (ms + 10) / 20
	if !m.started && m.fromFirst {
		m.base = slot
	}
	m.started = true
	if next := m.last[track] + 1; m.last[track] >= 0 && slot < next && next-slot <= maxSlotPush {
		slot = next
	}
	m.last[track] = slot
	if slot < m.base { // later than the window: lost
		return m.written < m.limit
	}
	for slot >= m.base+mixWindow {
		if !m.writeSlot() {
			return false
		}
	}
	codec.DecodeFrame(codec.PCMU, m.pcm[:], payload[:])
	acc := &m.ring[slot%mixWindow][track]
	for i, s := range m.pcm {
		acc[i] += int32(s)
	}
	m.top = max(m.top, slot+1)
	return m.written < m.limit
}

// writeSlot writes the oldest slot (silence if nothing came for it) and frees it.
func (m *callMixer) writeSlot() bool {
	if m.written >= m.limit || m.err != nil {
		return false
	}
	tracks := &m.ring[m.base%mixWindow]
	channels := 1
	if m.dual {
		channels = 2
	}
	for i := range codec.FrameSamples {
		if m.dual {
			binary.LittleEndian.PutUint16(m.out[4*i:], uint16(min(max(tracks[0][i], -32768), 32767)))
			binary.LittleEndian.PutUint16(m.out[4*i+2:], uint16(min(max(tracks[1][i], -32768), 32767)))
		} else {
			binary.LittleEndian.PutUint16(m.out[2*i:], uint16(min(max(tracks[0][i]+tracks[1][i], -32768), 32767)))
		}
	}
	*tracks = [2][codec.FrameSamples]int32{}
	n := min(int64(codec.FrameSamples), m.limit-m.written)
	if _, err := m.w.Write(m.out[:2*int64(channels)*n]); err != nil {
		m.err = err
		return false
	}
	m.written += n
	m.base++
	return m.written < m.limit
}

// finish writes every slot up to the last audio and returns the samples written.
func (m *callMixer) finish() (int64, error) {
	for m.base < m.top && m.writeSlot() {
	}
	return m.written, m.err
}
