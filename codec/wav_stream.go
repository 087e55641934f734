package codec

import "encoding/binary"

// wavStreamMaxHeader bounds what may come before a streamed WAV's data
// chunk; lame writes 44 bytes.
const wavStreamMaxHeader = 64 << 10

// wavStream decodes a WAV written to it in pieces, as lame streams one to
// its stdout, mixing it to mono and resampling it to 8 kHz as it arrives.
// A write fails, which stops the writer, once the audio runs past
// MaxAudioDuration at the stream's own rate or the header makes no sense.
// The data chunk's size is ignored: streaming writers cannot fill it in.
type wavStream struct {
	head    []byte // bytes before the data chunk, while the header is incomplete
	format  wavFormat
	started bool
	sample  func([]byte) int32
	rs      *resampler // nil for 8 kHz input, which goes straight to out
	out     []int16
	frames  int     // sample frames decoded
	partial []byte  // the start of a frame split across writes
	mono    []int16 // scratch for one write's frames
	err     error   // the first failure; every later write returns it
}

func (s *wavStream) Write(p []byte) (int, error) {
	if s.err != nil {
		return 0, s.err
	}
	n := len(p)
	if !s.started {
		s.head = append(s.head, p...)
		off, err := s.parseHeader()
		switch {
		case err != nil:
			s.err = err
			return 0, err
		case off < 0 && len(s.head) > wavStreamMaxHeader:
			s.err = newError(ErrMalformedAudio, "wav: no data chunk in the first %d bytes", len(s.head))
			return 0, s.err
		case off < 0:
			return n, nil
		}
		p, s.head = s.head[off:], nil
	}
	if err := s.decode(p); err != nil {
		s.err = err
		return 0, err
	}
	return n, nil
}

// parseHeader walks the chunks before data (as DecodeWAV does) and returns
// the offset of the first data byte, or -1 while more bytes are needed.
func (s *wavStream) parseHeader() (int, error) {
	b := s.head
	if len(b) < 12 {
		return -1, nil
	}
	if !isWAV(b) {
		return 0, newError(ErrMalformedAudio, "wav: stream does not start with a RIFF/WAVE header (%q)", b[:12])
	}
	haveFmt := false
	for off := 12; ; {
		if len(b)-off < 8 {
			return -1, nil
		}
		id, size := string(b[off:off+4]), int(binary.LittleEndian.Uint32(b[off+4:off+8]))
		off += 8
		if id == "data" {
			if !haveFmt {
				return 0, newError(ErrMalformedAudio, "wav: data chunk before fmt chunk")
			}
			s.start()
			return off, nil
		}
		if size > wavStreamMaxHeader {
			return 0, newError(ErrMalformedAudio, "wav: %q chunk of %d bytes before the data", id, size)
		}
		size += size & 1 // RIFF chunks are word aligned
		if len(b)-off < size {
			return -1, nil
		}
		if id == "fmt " {
			f, err := parseWAVFormat(b[off : off+size])
			if err != nil {
				return 0, err
			}
			s.format, haveFmt = f, true
		}
		off += size
	}
}

func (s *wavStream) start() {
	s.started = true
	s.sample = sampleReader(s.format)
	if s.format.sampleRate != SampleRate {
		s.rs = newResampler(s.format.sampleRate) // parseWAVFormat checked the rate
	}
}

// decode converts whole frames, keeping a split frame for the next write.
func (s *wavStream) decode(p []byte) error {
	fb := s.format.frameBytes()
	if len(s.partial) > 0 {
		need := fb - len(s.partial)
		if len(p) < need {
			s.partial = append(s.partial, p...)
			return nil
		}
		s.partial = append(s.partial, p[:need]...)
		if err := s.decodeFrames(s.partial); err != nil {
			return err
		}
		s.partial, p = s.partial[:0], p[need:]
	}
	whole := len(p) / fb * fb
	if err := s.decodeFrames(p[:whole]); err != nil {
		return err
	}
	s.partial = append(s.partial, p[whole:]...)
	return nil
}

func (s *wavStream) decodeFrames(b []byte) error {
	count := len(b) / s.format.frameBytes()
	s.frames += count
	if s.frames > maxFrames(s.format.sampleRate) {
		return newError(ErrAudioTooLong, "wav: more than %v of audio at %d Hz", MaxAudioDuration, s.format.sampleRate)
	}
	if cap(s.mono) < count {
		s.mono = make([]int16, count)
	}
	mono := s.mono[:count]
	mixFrames(s.format, s.sample, b, mono)
	if s.rs == nil {
		s.out = append(s.out, mono...)
		return nil
	}
	s.rs.push(mono)
	return nil
}

// finish returns everything decoded, at 8 kHz.
func (s *wavStream) finish() ([]int16, error) {
	switch {
	case s.err != nil:
		return nil, s.err
	case !s.started:
		return nil, newError(ErrMalformedAudio, "wav: stream ended before its data chunk (%d bytes)", len(s.head))
	case s.rs != nil:
		return s.rs.finish(), nil
	}
	return s.out, nil
}
