package codec

import (
	"sync"
	"time"
)

// Prompt is 8 kHz mono audio ready to play: its G.711 frames are encoded on
// first use, once per law, and then shared read-only by every call playing
// it. A Prompt is safe for concurrent use.
type Prompt struct {
	pcm []int16 // immutable after NewPrompt

	// One slot per law; each slot's Once guards its frames, written once by
	// whichever goroutine calls Frames first and read by all afterwards.
	pcmu, pcma promptFrames
}

type promptFrames struct {
	once   sync.Once
	frames [][]byte
}

// NewPrompt wraps pcm, 8 kHz mono samples. The Prompt keeps pcm without
// copying: the caller must not modify it afterwards.
func NewPrompt(pcm []int16) *Prompt {
	return &Prompt{pcm: pcm}
}

// PCM returns the prompt's samples; callers must not modify them.
func (p *Prompt) PCM() []int16 { return p.pcm }

// Duration is the prompt's playing time.
func (p *Prompt) Duration() time.Duration {
	return time.Duration(len(p.pcm)) * time.Second / SampleRate
}

// sliceHeaderBytes is the size of a []byte header on 64-bit platforms:
// each encoded frame costs one besides its payload.
const sliceHeaderBytes = 24

// Bytes is the most memory the prompt holds: its samples, and its frames in
// both laws as if both were encoded already (Frames encodes lazily, so
// counting them up front keeps a cache's byte total an upper bound).
func (p *Prompt) Bytes() int64 {
	frames := int64((len(p.pcm) + FrameSamples - 1) / FrameSamples)
	perLaw := frames * (FrameSamples + sliceHeaderBytes)
	return 2*int64(len(p.pcm)) + 2*perLaw
}

// Frames returns the prompt encoded in law as FrameSamples-byte payloads,
// the last padded with the law's silence byte. The slices are shared with
// every other caller and must not be modified. An unknown law returns nil.
func (p *Prompt) Frames(l Law) [][]byte {
	var slot *promptFrames
	switch l {
	case PCMU:
		slot = &p.pcmu
	case PCMA:
		slot = &p.pcma
	default:
		return nil
	}
	slot.once.Do(func() { slot.frames = encodeFrames(l, p.pcm) })
	return slot.frames
}

// encodeFrames encodes into one backing array and slices it with capped
// capacity, so a caller's append cannot run into the next frame.
func encodeFrames(l Law, pcm []int16) [][]byte {
	count := (len(pcm) + FrameSamples - 1) / FrameSamples
	if count == 0 {
		return nil
	}
	buf := make([]byte, count*FrameSamples)
	n := EncodeFrame(l, buf, pcm)
	silence := SilenceByte(l)
	for i := n; i < len(buf); i++ {
		buf[i] = silence
	}
	frames := make([][]byte, count)
	for i := range frames {
		frames[i] = buf[i*FrameSamples : (i+1)*FrameSamples : (i+1)*FrameSamples]
	}
	return frames
}
