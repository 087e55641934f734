package flow

import (
	"encoding/binary"
	"io"
	"os"

	"github.com/pivotua/pivotua/codec"
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
