package flow

import (
	"encoding/binary"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"time"

	"github.com/pivotua/pivotua/codec"
	"github.com/pivotua/pivotua/media"
)

// wavFile is a WAV file being written: PCM goes to Write, Close finishes the header.
type wavFile interface {
	io.Writer
	io.Closer
}

// createWAVChannels creates an 8 kHz 16-bit WAV file with 1 or 2 channels.
// The stereo file is codec's mono writer whose format fields (channels,
// byte rate, block align) are rewritten at Close: the data chunk is the same
// bytes, interleaved.
func createWAVChannels(path string, channels int) (wavFile, error) {
	w, err := codec.CreateWAV(path, codec.SampleRate)
	if err != nil {
		return nil, err
	}
	if channels == 1 {
		return w, nil
	}
	return &stereoWAV{WAVFileWriter: w, path: path}, nil
}

type stereoWAV struct {
	*codec.WAVFileWriter
	path string
}

func (s *stereoWAV) Close() error {
	if err := s.WAVFileWriter.Close(); err != nil {
		return err
	}
	f, err := os.OpenFile(s.path, os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	// RIFF fmt chunk (offsets in the canonical 44-byte header): channels at 22,
	// byte rate at 28, block align at 32.
	var fmtFields [12]byte
	binary.LittleEndian.PutUint16(fmtFields[0:], 2)
	binary.LittleEndian.PutUint32(fmtFields[2:], codec.SampleRate)
	binary.LittleEndian.PutUint32(fmtFields[6:], codec.SampleRate*2*2)
	binary.LittleEndian.PutUint16(fmtFields[10:], 4)
	_, err = f.WriteAt(fmtFields[:], 22)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// dialRecording is a Dial's recording of both parties in progress: of the bridge from the answer
// (record-from-answer), or from the callee's first ringing (record-from-ringing) of the caller's own
// session, both ways: what the caller says, and what it hears (the ringback or the callee's early
// media, then the callee once bridged), which for two parties is the whole call. Either way the file
// is mono (mixed) or dual (left: the caller, right: the callee), and trim-silence cuts the silence
// before and after the speech once it is stopped.
type dialRecording struct {
	rec      Recording // of the bridge (from the answer) or of the caller's media both ways (from ringing)
	file     io.Closer
	meter    *levelMeter
	channels int
	trim     bool
	path     string
	name     string
	events   *recordingCallbacks // the Dial's recordingStatusCallback; nil: none
	done     bool
}

// startDialRecording starts plan's recording: of br from now when it is not nil, else of caller's
// media both ways from now (record-from-ringing before the bridge exists). nil when plan records
// nothing or the file cannot be made (logged).
func (c *Call) startDialRecording(br dialBridge, caller dialParty, plan dialPlan) *dialRecording {
	if plan.record == recordNone || plan.record == "" {
		return nil
	}
	dir := filepath.Join(c.deps.Recordings, c.accountID)
	if err := os.MkdirAll(dir, 0o750); err != nil {
		c.log.Error("dial recording: folder", "err", err)
		return nil
	}
	name := fmt.Sprintf("%s-dial-%d.wav", fileSafe(c.info.CallID), time.Now().UnixNano())
	path := filepath.Join(dir, name)
	channels := 1
	if plan.dual {
		channels = 2
	}
	w, err := createWAVChannels(path, channels)
	if err != nil {
		c.log.Error("dial recording: create", "err", err)
		return nil
	}
	r := &dialRecording{file: w, meter: newLevelMeter(w, 0), channels: channels, trim: plan.trim, path: path, name: name}
	if br != nil {
		r.rec, err = br.Record(r.meter, plan.dual)
	} else {
		r.rec, err = caller.RecordBothWays(r.meter, plan.dual)
	}
	if err != nil {
		_ = w.Close()
		_ = os.Remove(path)
		c.log.Error("dial recording: start", "err", err)
		return nil
	}
	r.events = c.startRecordingCallbacks(plan.recordCallback, sourceDialVerb, channels)
	r.events.inProgress()
	return r
}

// finish stops the recording, closes the file, trims it when asked and reports it as RecordingUrl;
// once (later calls do nothing).
func (r *dialRecording) finish(c *Call) {
	if r == nil || r.done {
		return
	}
	r.done = true
	samples, err := r.rec.Stop()
	if cerr := r.file.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		c.recordingFailed(r.path, fmt.Errorf("dial recording: %w", err))
		r.events.failed()
		return
	}
	if r.trim {
		// The meter counts interleaved samples: its span is in the file's own units.
		if from, to, ok := trimBounds(r.meter.span(), samples*int64(r.channels), r.channels); ok {
			if err := trimWAV(r.path, r.channels, from, to); err != nil {
				c.log.Warn("dial recording: trim failed, keeping the whole recording", "err", err)
			} else {
				samples = (to - from) / int64(r.channels)
			}
		}
	}
	seconds := int((samples + codec.SampleRate/2) / codec.SampleRate)
	url := "file://" + r.path
	if c.deps.RecordingLinks != nil {
		url = c.deps.RecordingLinks.RecordingURL(c.accountID, r.name)
	}
	c.rec.last = recordingResult{url: url, duration: seconds}
	c.log.Info("dial recording saved", "path", r.path, "seconds", seconds)
	c.recordingSaved(r.path, seconds, "dial", url)
	r.events.completed(url, seconds)
}

// tapRecording writes a session's two tracks (media.Tap: what the caller sends, what it is sent) to
// w as 8 kHz 16-bit PCM, mixed to mono or as two channels, on a goroutine of its own, through
// record_call's callMixer (kazoo_record_call.go): frames go on a 20 ms timeline from the tap's start
// by the time they were tapped, so a track that pauses (the caller's RTP before it is answered) is
// silence there.
type tapRecording struct {
	tap      *media.Tap
	w        io.Writer
	dual     bool
	stopping chan struct{}
	done     chan struct{}
	// Written by the goroutine, read after done.
	samples int64 // per channel
	err     error
}

func startTapRecording(s *media.Session, w io.Writer, dual bool) (*tapRecording, error) {
	tap, err := s.StartTap(media.TapInbound | media.TapOutbound)
	if err != nil {
		return nil, err
	}
	t := &tapRecording{tap: tap, w: w, dual: dual, stopping: make(chan struct{}), done: make(chan struct{})}
	go t.run()
	return t, nil
}

// Stop ends the recording once what was tapped is written; it returns the samples per channel.
func (t *tapRecording) Stop() (int64, error) {
	t.tap.Stop()
	close(t.stopping)
	<-t.done
	return t.samples, t.err
}

func (t *tapRecording) run() {
	defer close(t.done)
	m := newCallMixer(t.w, math.MaxInt64, false)
	m.dual = t.dual
	var f media.TapFrame
	for {
		for t.tap.Next(&f) {
			m.add(f.Track == media.TapOutbound, f.Timestamp, &f.Payload)
		}
		select {
		case <-t.tap.Ready():
		case <-t.stopping: // the tap is stopped: what it queued is still taken
			for t.tap.Next(&f) {
				m.add(f.Track == media.TapOutbound, f.Timestamp, &f.Payload)
			}
			t.samples, t.err = m.finish()
			return
		}
	}
}
