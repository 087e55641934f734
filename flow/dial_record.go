package flow

import (
	"encoding/binary"
	"fmt"
	"io"
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

// dialRecording is a Dial's recording of both parties in progress.
type dialRecording struct {
	rec    *media.BridgeRecording
	file   io.Closer
	path   string
	name   string
	events *recordingCallbacks // the Dial's recordingStatusCallback; nil: none
}

func (c *Call) startDialRecording(br *media.Bridge, plan dialPlan) *dialRecording {
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
	rec, err := br.Record(w, plan.dual)
	if err != nil {
		_ = w.Close()
		c.log.Error("dial recording: start", "err", err)
		return nil
	}
	events := c.startRecordingCallbacks(plan.recordCallback, sourceDialVerb, channels)
	events.inProgress()
	return &dialRecording{rec: rec, file: w, path: path, name: name, events: events}
}

// finish stops the recording, closes the file and reports it as RecordingUrl.
func (r *dialRecording) finish(c *Call, seconds int) {
	_, err := r.rec.Stop()
	if cerr := r.file.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		c.recordingFailed(r.path, fmt.Errorf("dial recording: %w", err))
		r.events.failed()
		return
	}
	url := "file://" + r.path
	if c.deps.RecordingLinks != nil {
		url = c.deps.RecordingLinks.RecordingURL(c.accountID, r.name)
	}
	c.rec.last = recordingResult{url: url, duration: seconds}
	c.log.Info("dial recording saved", "path", r.path)
	c.recordingSaved(r.path, seconds, "dial", url)
	r.events.completed(url, seconds)
}
