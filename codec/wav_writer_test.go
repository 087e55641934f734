package codec

import (
	"bytes"
	"encoding/binary"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"
)

// writeInChunks feeds pcm to w in uneven pieces, one of them splitting a
// sample in half, as a recorder handing over RTP payloads might.
func writeInChunks(t *testing.T, w *WAVFileWriter, pcm []int16) {
	t.Helper()
	b := pcm16Bytes(pcm)
	for _, size := range []int{1, 159, 320, 7, 4096} {
		if len(b) == 0 {
			break
		}
		n := min(size, len(b))
		if _, err := w.Write(b[:n]); err != nil {
			t.Fatal(err)
		}
		b = b[n:]
	}
	if _, err := w.Write(b); err != nil {
		t.Fatal(err)
	}
}

func TestWAVFileWriterRoundTrip(t *testing.T) {
	path := filepath.Join(t.TempDir(), "rec.wav")
	pcm := Tone(440, 1500*time.Millisecond, 0.5)
	w, err := CreateWAV(path, SampleRate)
	if err != nil {
		t.Fatal(err)
	}
	writeInChunks(t, w, pcm)
	if got := w.Samples(); got != int64(len(pcm)) {
		t.Fatalf("Samples() = %d, want %d", got, len(pcm))
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := len(data), wavHeaderBytes+2*len(pcm); got != want {
		t.Fatalf("file is %d bytes, want %d", got, want)
	}
	if got := binary.LittleEndian.Uint32(data[4:]); got != uint32(len(data)-8) {
		t.Errorf("RIFF size %d, want %d", got, len(data)-8)
	}
	if got := binary.LittleEndian.Uint32(data[40:]); got != uint32(2*len(pcm)) {
		t.Errorf("data size %d, want %d", got, 2*len(pcm))
	}
	got, rate, err := DecodeWAV(data)
	if err != nil {
		t.Fatal(err)
	}
	if rate != SampleRate || !slices.Equal(got, pcm) {
		t.Fatalf("decoded %d samples at %d Hz, want the %d written at %d Hz", len(got), rate, len(pcm), SampleRate)
	}
	// The header is byte for byte what EncodeWAV writes.
	var want bytes.Buffer
	if err := EncodeWAV(&want, pcm, SampleRate); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(data, want.Bytes()) {
		t.Fatal("closed file differs from EncodeWAV's output")
	}
}

func TestWAVFileWriterReadableBeforeClose(t *testing.T) {
	path := filepath.Join(t.TempDir(), "crash.wav")
	w, err := CreateWAV(path, SampleRate)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	// More than the 32 KiB buffer, so most of it has reached the file, as
	// it would have when the process died.
	pcm := Tone(1000, 3*time.Second, 0.5)
	writeInChunks(t, w, pcm)
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if got := binary.LittleEndian.Uint32(data[40:]); got != wavSizePlaceholder {
		t.Fatalf("data size before Close is %d, want the placeholder", got)
	}
	got, rate, err := DecodeWAV(data)
	if err != nil {
		t.Fatalf("decoding an unclosed file: %v", err)
	}
	if rate != SampleRate || len(got) < len(pcm)-16<<10 || !slices.Equal(got, pcm[:len(got)]) {
		t.Fatalf("unclosed file decoded to %d samples at %d Hz; want a prefix of the %d written", len(got), rate, len(pcm))
	}
}

func TestWAVFileWriterDropsHalfSample(t *testing.T) {
	path := filepath.Join(t.TempDir(), "odd.wav")
	w, err := CreateWAV(path, SampleRate)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write([]byte{1, 0, 2, 0, 3}); err != nil {
		t.Fatal(err)
	}
	if got := w.Samples(); got != 2 {
		t.Fatalf("Samples() = %d, want 2", got)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	pcm, _, err := DecodeWAV(data)
	if err != nil {
		t.Fatal(err)
	}
	if len(data) != wavHeaderBytes+4 || !slices.Equal(pcm, []int16{1, 2}) {
		t.Fatalf("file of %d bytes decoded to %v, want 48 bytes and [1 2]", len(data), pcm)
	}
}

func TestWAVFileWriterAfterClose(t *testing.T) {
	w, err := CreateWAV(filepath.Join(t.TempDir(), "x.wav"), SampleRate)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write([]byte{0, 0}); !errors.Is(err, os.ErrClosed) {
		t.Errorf("Write after Close: %v, want os.ErrClosed", err)
	}
	if err := w.Close(); !errors.Is(err, os.ErrClosed) {
		t.Errorf("second Close: %v, want os.ErrClosed", err)
	}
}

func TestCreateWAVRefusesBadInputAndNeverOverwrites(t *testing.T) {
	dir := t.TempDir()
	if _, err := CreateWAV(filepath.Join(dir, "r.wav"), 0); !errors.Is(err, ErrUnsupportedFormat) {
		t.Errorf("rate 0: %v, want ErrUnsupportedFormat", err)
	}
	if _, err := CreateWAV(filepath.Join(dir, "missing", "r.wav"), SampleRate); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing directory: %v, want os.ErrNotExist", err)
	}
	earlier := filepath.Join(dir, "earlier.wav")
	if err := os.WriteFile(earlier, []byte("an earlier recording"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := CreateWAV(earlier, SampleRate); !errors.Is(err, os.ErrExist) {
		t.Errorf("existing file: %v, want os.ErrExist", err)
	}
	if data, _ := os.ReadFile(earlier); string(data) != "an earlier recording" {
		t.Errorf("existing file changed to %q", data)
	}
}
