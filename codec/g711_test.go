package codec

import (
	"testing"

	"github.com/zaf/g711"
)

func TestLawStringNamesThePayload(t *testing.T) {
	tests := []struct {
		law  Law
		want string
	}{
		{PCMU, "PCMU"},
		{PCMA, "PCMA"},
		{Law(3), "Law(3)"},
	}
	for _, tt := range tests {
		if got := tt.law.String(); got != tt.want {
			t.Errorf("Law(%d).String() = %q, want %q", uint8(tt.law), got, tt.want)
		}
	}
}

func TestSilenceByteDecodesToZero(t *testing.T) {
	tests := []struct {
		law  Law
		want byte
	}{
		{PCMU, 0xFF},
		{PCMA, 0xD5},
	}
	for _, tt := range tests {
		t.Run(tt.law.String(), func(t *testing.T) {
			if got := SilenceByte(tt.law); got != tt.want {
				t.Fatalf("SilenceByte = %#x, want %#x", got, tt.want)
			}
			var pcm [1]int16
			DecodeFrame(tt.law, pcm[:], []byte{tt.want})
			if pcm[0] < -8 || pcm[0] > 8 {
				t.Fatalf("silence byte decodes to %d, want ~0", pcm[0])
			}
			var enc [1]byte
			EncodeFrame(tt.law, enc[:], []int16{0})
			if enc[0] != tt.want {
				t.Fatalf("zero encodes to %#x, want %#x", enc[0], tt.want)
			}
		})
	}
}

func TestEncodeFrameMatchesLibraryForEverySample(t *testing.T) {
	pcm := make([]int16, 65536)
	for i := range pcm {
		pcm[i] = int16(i - 32768)
	}
	tests := []struct {
		law Law
		ref func(int16) uint8
	}{
		{PCMU, g711.EncodeUlawFrame},
		{PCMA, g711.EncodeAlawFrame},
	}
	for _, tt := range tests {
		t.Run(tt.law.String(), func(t *testing.T) {
			dst := make([]byte, len(pcm))
			if n := EncodeFrame(tt.law, dst, pcm); n != len(pcm) {
				t.Fatalf("wrote %d, want %d", n, len(pcm))
			}
			for i, s := range pcm {
				if dst[i] != tt.ref(s) {
					t.Fatalf("sample %d: got %#x, want %#x", s, dst[i], tt.ref(s))
				}
			}
		})
	}
}

func TestDecodeThenEncodeIsLossless(t *testing.T) {
	for _, law := range []Law{PCMU, PCMA} {
		t.Run(law.String(), func(t *testing.T) {
			var all [256]byte
			for i := range all {
				all[i] = byte(i)
			}
			var pcm [256]int16
			DecodeFrame(law, pcm[:], all[:])
			var again [256]byte
			EncodeFrame(law, again[:], pcm[:])
			for i := range all {
				// µ-law has two codes for zero (0x7F, 0xFF); both decode to 0.
				if again[i] != all[i] && !(law == PCMU && pcm[i] == 0) {
					t.Errorf("byte %#x -> %d -> %#x", all[i], pcm[i], again[i])
				}
			}
		})
	}
}

func TestFrameCodecsWriteTheShorterLength(t *testing.T) {
	tests := []struct {
		name            string
		dstLen, srcLen  int
		wantEnc, wantDe int
	}{
		{"equal", 160, 160, 160, 160},
		{"short destination", 80, 160, 80, 80},
		{"short source", 160, 100, 100, 100},
		{"empty", 0, 0, 0, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if n := EncodeFrame(PCMU, make([]byte, tt.dstLen), make([]int16, tt.srcLen)); n != tt.wantEnc {
				t.Errorf("EncodeFrame wrote %d, want %d", n, tt.wantEnc)
			}
			if n := DecodeFrame(PCMA, make([]int16, tt.dstLen), make([]byte, tt.srcLen)); n != tt.wantDe {
				t.Errorf("DecodeFrame wrote %d, want %d", n, tt.wantDe)
			}
		})
	}
}

func TestUnknownLawWritesNothing(t *testing.T) {
	dst := []byte{1, 2}
	if n := EncodeFrame(Law(3), dst, []int16{5, 6}); n != 0 || dst[0] != 1 {
		t.Fatalf("EncodeFrame with unknown law wrote %d bytes", n)
	}
	pcm := []int16{1, 2}
	if n := DecodeFrame(Law(3), pcm, []byte{5, 6}); n != 0 || pcm[0] != 1 {
		t.Fatalf("DecodeFrame with unknown law wrote %d samples", n)
	}
}

func TestFrameCodecsDoNotAllocate(t *testing.T) {
	pcm := Tone(1000, FrameDuration, 0.5)
	payload := make([]byte, FrameSamples)
	out := make([]int16, FrameSamples)
	for _, law := range []Law{PCMU, PCMA} {
		if a := testing.AllocsPerRun(100, func() { EncodeFrame(law, payload, pcm) }); a != 0 {
			t.Errorf("EncodeFrame(%v) allocates %v per run", law, a)
		}
		if a := testing.AllocsPerRun(100, func() { DecodeFrame(law, out, payload) }); a != 0 {
			t.Errorf("DecodeFrame(%v) allocates %v per run", law, a)
		}
	}
}

func BenchmarkEncodeFrame(b *testing.B) {
	pcm := Tone(1000, FrameDuration, 0.5)
	payload := make([]byte, FrameSamples)
	for _, law := range []Law{PCMU, PCMA} {
		b.Run(law.String(), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				EncodeFrame(law, payload, pcm)
			}
		})
	}
}

func BenchmarkDecodeFrame(b *testing.B) {
	payload := make([]byte, FrameSamples)
	out := make([]int16, FrameSamples)
	for _, law := range []Law{PCMU, PCMA} {
		EncodeFrame(law, payload, Tone(1000, FrameDuration, 0.5))
		b.Run(law.String(), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				DecodeFrame(law, out, payload)
			}
		})
	}
}
