package codec

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"sync"
)

// wavHeaderBytes is the size of the canonical 16-bit PCM header CreateWAV
// writes; the RIFF size sits at offset 4 and the data size at offset 40.
const wavHeaderBytes = 44

// wavSizePlaceholder stands in for both RIFF sizes until Close: a reader
// that trusts it reads the data chunk to EOF (DecodeWAV does, as do sox and
// ffmpeg), so a file left by a crash still plays everything written to it.
const wavSizePlaceholder = math.MaxUint32

// maxWAVDataBytes is the largest data chunk a RIFF file can describe.
const maxWAVDataBytes = math.MaxUint32 - (wavHeaderBytes - 8)

// WAVFileWriter streams 16-bit mono PCM into a WAV file on disk. The header
// carries placeholder sizes until Close writes the real ones, so a process
// that dies mid-recording leaves a file DecodeWAV still reads to its end.
//
// Write and Close are meant for one goroutine (the recorder); Samples may be
// called from any goroutine. All fields below are guarded by mu.
type WAVFileWriter struct {
	mu        sync.Mutex
	f         *os.File
	buf       *bufio.Writer
	dataBytes int64 // PCM bytes accepted so far, including an odd trailing byte
	err       error // sticky: the first write error, or errWAVClosed
}

// errWAVClosed is returned by Write and Close after Close.
var errWAVClosed = fmt.Errorf("wav: writer closed: %w", os.ErrClosed)

// CreateWAV creates path and writes a 16-bit mono PCM WAV header for
// sampleRate with placeholder sizes. An existing file is never truncated
// (it may be an earlier recording still waiting for upload): the error
// then wraps fs.ErrExist.
func CreateWAV(path string, sampleRate int) (*WAVFileWriter, error) {
	if sampleRate < minSampleRate || sampleRate > maxSampleRate {
		return nil, newError(ErrUnsupportedFormat, "wav: unsupported sample rate %d Hz (%d..%d)", sampleRate, minSampleRate, maxSampleRate)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o640)
	if err != nil {
		return nil, err
	}
	var h [wavHeaderBytes]byte
	copy(h[0:], "RIFF")
	binary.LittleEndian.PutUint32(h[4:], wavSizePlaceholder)
	copy(h[8:], "WAVEfmt ")
	binary.LittleEndian.PutUint32(h[16:], 16)
	binary.LittleEndian.PutUint16(h[20:], wavFormatPCM)
	binary.LittleEndian.PutUint16(h[22:], 1)
	binary.LittleEndian.PutUint32(h[24:], uint32(sampleRate))
	binary.LittleEndian.PutUint32(h[28:], uint32(sampleRate*2))
	binary.LittleEndian.PutUint16(h[32:], 2)
	binary.LittleEndian.PutUint16(h[34:], 16)
	copy(h[36:], "data")
	binary.LittleEndian.PutUint32(h[40:], wavSizePlaceholder)
	if _, err := f.Write(h[:]); err != nil {
		f.Close()
		os.Remove(path)
		return nil, err
	}
	return &WAVFileWriter{f: f, buf: bufio.NewWriterSize(f, 32<<10)}, nil
}

// Write appends raw 16-bit little-endian samples, as media.Recording
// produces them. Writes are buffered; data reaches the file in 32 KiB
// blocks and on Close. A write that would grow the data past RIFF's 4 GiB
// (about 74 hours at 8 kHz) is refused with ErrAudioTooLong.
func (w *WAVFileWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.err != nil {
		return 0, w.err
	}
	if w.dataBytes+int64(len(p)) > maxWAVDataBytes {
		return 0, newError(ErrAudioTooLong, "wav: recording does not fit a RIFF file")
	}
	n, err := w.buf.Write(p)
	w.dataBytes += int64(n)
	if err != nil {
		w.err = err
	}
	return n, err
}

// Samples reports how many whole samples have been written.
func (w *WAVFileWriter) Samples() int64 {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.dataBytes / 2
}

// Close flushes what is buffered, drops a trailing half sample, writes the
// real RIFF and data sizes, and syncs the file (and its directory, so the
// file's name survives a power cut too) before closing it.
func (w *WAVFileWriter) Close() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if errors.Is(w.err, errWAVClosed) {
		return errWAVClosed
	}
	writeErr := w.err
	w.err = errWAVClosed
	err := errors.Join(writeErr, w.finish())
	if cerr := w.f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = syncDir(filepath.Dir(w.f.Name()))
	}
	return err
}

// finish flushes and patches the header; mu is held.
func (w *WAVFileWriter) finish() error {
	if err := w.buf.Flush(); err != nil {
		return err
	}
	dataBytes := w.dataBytes &^ 1
	if dataBytes != w.dataBytes {
		if err := w.f.Truncate(wavHeaderBytes + dataBytes); err != nil {
			return err
		}
		w.dataBytes = dataBytes
	}
	var size [4]byte
	binary.LittleEndian.PutUint32(size[:], uint32(dataBytes+wavHeaderBytes-8))
	if _, err := w.f.WriteAt(size[:], 4); err != nil {
		return err
	}
	binary.LittleEndian.PutUint32(size[:], uint32(dataBytes))
	if _, err := w.f.WriteAt(size[:], 40); err != nil {
		return err
	}
	return w.f.Sync()
}

// syncDir fsyncs a directory so a file created or renamed in it is durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
