package codec

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/pivotua/pivotua/internal/rtprio"
)

// RecordingMP3Bitrate is the constant bit rate, in kbit/s, of the MP3s
// EncodeMP3File writes: 8 kHz mono speech as MPEG-2.5 layer III, about
// 180 KB a minute, clearly intelligible (16 kbit/s audibly smears
// consonants; beyond 32 nothing improves at this bandwidth).
const RecordingMP3Bitrate = 24

// EncodeMP3File converts the WAV file at wavPath to an MP3 at mp3Path with
// lame (Debian package lame): mono, 8 kHz (MPEG-2.5 layer III), constant
// RecordingMP3Bitrate. The input may be at any rate lame reads; it is
// resampled to 8 kHz.
//
// lame writes a temporary file beside mp3Path (so it can seek back and
// write the LAME info frame, which tells decoders the encoder delay and
// makes durations exact); it is synced and renamed over mp3Path only when
// complete, so mp3Path is never a partial file (an existing mp3Path is
// replaced). Cancelling ctx kills lame
// and removes the temporary file. Without lame the error wraps
// ErrToolMissing.
func EncodeMP3File(ctx context.Context, wavPath, mp3Path string) error {
	return encodeMP3File(ctx, lameBinary(), wavPath, mp3Path)
}

// encodeMP3File is EncodeMP3File with the lame binary injected.
func encodeMP3File(ctx context.Context, lame, wavPath, mp3Path string) (err error) {
	if lame == "" {
		return newError(ErrToolMissing, "mp3: encoding needs lame, which is not installed (Debian package lame)")
	}
	if err := checkWAVFile(wavPath); err != nil {
		return err
	}
	dir, base := filepath.Split(mp3Path)
	if dir == "" {
		dir = "."
	}
	tmp, err := os.CreateTemp(dir, "."+base+".*.tmp")
	if err != nil {
		return fmt.Errorf("mp3: encode: %w", err)
	}
	tmpPath := tmp.Name()
	tmp.Close()
	// CreateTemp makes the file 0600; match what CreateWAV creates.
	if err := os.Chmod(tmpPath, 0o640); err != nil {
		os.Remove(tmpPath)
		return fmt.Errorf("mp3: encode: %w", err)
	}
	defer func() {
		if err != nil {
			os.Remove(tmpPath)
		}
	}()

	cmd := exec.CommandContext(ctx, lame,
		"--silent", "--nohist",
		"-m", "m", // mono
		"--resample", "8", // output 8 kHz: MPEG-2.5
		"--cbr", "-b", strconv.Itoa(RecordingMP3Bitrate),
		argPath(wavPath), argPath(tmpPath))
	stderr := &limitedBuffer{max: 4096, truncate: true}
	cmd.Stderr = stderr
	cmd.WaitDelay = time.Second
	if err := rtprio.Run(cmd); err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("mp3: lame encode: %w", ctx.Err())
		}
		return fmt.Errorf("mp3: lame encode of %s failed: %v: %s", wavPath, err, strings.TrimSpace(stderr.String()))
	}
	if err := syncFile(tmpPath); err != nil {
		return fmt.Errorf("mp3: encode: %w", err)
	}
	if err := os.Rename(tmpPath, mp3Path); err != nil {
		return fmt.Errorf("mp3: encode: %w", err)
	}
	if err := syncDir(dir); err != nil {
		return fmt.Errorf("mp3: encode: %w", err)
	}
	return nil
}

// checkWAVFile refuses input that is not RIFF/WAVE: lame would take any
// other bytes for raw PCM and encode them as noise.
func checkWAVFile(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("mp3: encode: %w", err)
	}
	defer f.Close()
	var head [12]byte
	if _, err := io.ReadFull(f, head[:]); err != nil || !isWAV(head[:]) {
		return newError(ErrUnsupportedFormat, "mp3: encode: %s is not a WAV file", path)
	}
	return nil
}

// argPath keeps a relative path that starts with "-" from reading as an
// option (lame takes "-" itself to mean stdin or stdout).
func argPath(p string) string {
	if strings.HasPrefix(p, "-") {
		return "." + string(filepath.Separator) + p
	}
	return p
}

func syncFile(path string) error {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return err
	}
	return errors.Join(f.Sync(), f.Close())
}
