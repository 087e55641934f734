package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/pivotua/pivotua/codec"
	"github.com/pivotua/pivotua/speech"
)

// The speech mode's caller: the phrase the speech package's own benchmark speaks, and the hints a
// <Gather input="speech" hints="..."> would give for it (the hinted recognition is a grammar of
// those words, so its right answer is the one hint the caller said).
const (
	speechPhrase = "I would like to talk to someone about my account please"
	speechHit    = "account"
)

var speechHints = []string{"account", "sales", "billing"}

// SpeechResult is the speech mode: the speech package's benchmark (its custom metrics kept) and
// the ladder of recognitions at once, for the general model and for a hinted one.
type SpeechResult struct {
	Voice  string        `json:"voice"`
	Phrase string        `json:"phrase"`
	AudioS float64       `json:"audio_s"` // one utterance, with its half second of silence each side
	Bench  []MicroResult `json:"go_bench,omitempty"`
	Ladder []SpeechLevel `json:"ladder,omitempty"`
	// Sustained is the largest N of each ladder whose real-time factor stayed under 1 ("general",
	// "hinted"); 0 when even one recognition was slower than real time.
	Sustained map[string]int `json:"sustained"`
	// LoadAvg is /proc/loadavg before the ladder: how busy the shared box was.
	LoadAvg string `json:"loadavg"`
}

// SpeechLevel is N recognitions started together, each fed the utterance as fast as the engine
// takes it (as the speech package's benchmark does). RTF is the wall time until the last result
// over the audio's length: under 1, N callers speaking at once are recognised at least as fast as
// they speak.
type SpeechLevel struct {
	Model        string  `json:"model"` // general or hinted
	N            int     `json:"n"`
	WallS        float64 `json:"wall_s"`
	RTF          float64 `json:"rtf"`
	CPUPerAudioS float64 `json:"cpu_s_per_audio_s"` // the engine's children's CPU over N x audio
	CorePct      float64 `json:"core_pct"`          // the same CPU over the wall, % of one core
	MeanWER      float64 `json:"mean_wer,omitempty"`
	Hits         int     `json:"hits"` // results holding the word said (hinted: the hint; general: WER 0)
	// Refused is the frames a recognition's full queue refused and that were offered again (fed as
	// fast as the engine takes them, a full queue is the engine's pace, not audio lost).
	Refused  uint64 `json:"refused_writes"`
	Errors   int    `json:"errors"`
	Text     string `json:"text"` // the first recognition's result
	FirstErr string `json:"first_error,omitempty"`
}

func runSpeech(ctx context.Context, o options, work string) (*SpeechResult, error) {
	voice := envOr("BENCH_VOICE", "awb")
	sr := &SpeechResult{Voice: voice, Phrase: speechPhrase, Sustained: map[string]int{}}
	if o.speechBench {
		fmt.Println("   go test -bench BenchmarkPocketsphinx ./speech")
		c := exec.CommandContext(ctx, "go", "test", "-run", "^$", "-bench", "^BenchmarkPocketsphinx$",
			"-benchtime", "1x", "-o", filepath.Join(work, "speech.test"), "./speech")
		c.Dir = o.repo
		out, err := c.CombinedOutput()
		sc := bufio.NewScanner(bytes.NewReader(out))
		for sc.Scan() {
			if m, ok := parseBenchLine(sc.Text()); ok {
				m.Package = "speech"
				sr.Bench = append(sr.Bench, m)
			}
		}
		if err != nil {
			return sr, fmt.Errorf("speech benchmark: %v: %s", err, tail(string(out), 600))
		}
	}
	pcm, err := spokenPhrase(ctx, voice, speechPhrase, work)
	if err != nil {
		return sr, err
	}
	sr.AudioS = float64(len(pcm)) / codec.SampleRate
	if b, err := os.ReadFile("/proc/loadavg"); err == nil {
		sr.LoadAvg = strings.TrimSpace(string(b))
	}
	top := 0
	for _, n := range o.speechLevels {
		top = max(top, n)
	}
	s := speech.DefaultSettings()
	s.MaxConcurrent = max(top, 1)
	if errs := s.Validate("speech"); len(errs) > 0 {
		return sr, fmt.Errorf("speech settings: %v", errs)
	}
	rec := s.New(nil)
	for _, model := range []string{"general", "hinted"} {
		var hints []string
		if model == "hinted" {
			hints = speechHints
		}
		for _, n := range o.speechLevels {
			if ctx.Err() != nil {
				return sr, ctx.Err()
			}
			l := speechLevel(ctx, rec, hints, pcm, n)
			l.Model = model
			sr.Ladder = append(sr.Ladder, l)
			fmt.Printf("   %s N=%d: RTF %.2f, %.3f cpu-s/audio-s, %d/%d right, %q\n", model, n, l.RTF, l.CPUPerAudioS, l.Hits, n, l.Text)
			if l.Errors > 0 || l.RTF >= 1 {
				break // the next N is slower still
			}
			sr.Sustained[model] = n
		}
	}
	return sr, nil
}

// speechLevel runs n recognitions at once, each fed pcm as fast as it takes it (a frame its queue
// had no room for is offered again a millisecond later), and measures the engine's children's CPU
// (wait4's rusage) and the wall time until the last result.
func speechLevel(ctx context.Context, rec speech.Recognizer, hints []string, pcm []int16, n int) SpeechLevel {
	l := SpeechLevel{N: n}
	audio := float64(len(pcm)) / codec.SampleRate
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	results := make([]speech.Result, n)
	errs := make([]error, n)
	cpu0 := childCPU()
	start := time.Now()
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			g, err := rec.Start(ctx, speech.Request{Hints: hints})
			if err != nil {
				errs[i] = err
				return
			}
			for j := 0; j < len(pcm); j += speech.FrameSamples {
				f := pcm[j:min(j+speech.FrameSamples, len(pcm))]
				for !g.Write(f) && !g.Truncated() && ctx.Err() == nil {
					time.Sleep(time.Millisecond)
				}
			}
			results[i], errs[i] = g.Close(ctx)
		}()
	}
	wg.Wait()
	l.WallS = round(time.Since(start).Seconds(), 3)
	cpu := childCPU() - cpu0
	l.RTF = round(l.WallS/audio, 3)
	l.CPUPerAudioS = round(cpu/(audio*float64(n)), 3)
	l.CorePct = round(100*cpu/l.WallS, 1)
	var wer float64
	for i, r := range results {
		if errs[i] != nil {
			l.Errors++
			if l.FirstErr == "" {
				l.FirstErr = errs[i].Error()
			}
			continue
		}
		if l.Text == "" {
			l.Text = r.Text
		}
		l.Refused += r.Dropped
		w := speech.WordErrorRate(speechPhrase, r.Text)
		wer += w
		if (hints != nil && strings.Contains(r.Text, speechHit)) || (hints == nil && w == 0) {
			l.Hits++
		}
	}
	if ok := n - l.Errors; ok > 0 && hints == nil {
		l.MeanWER = round(wer/float64(ok), 3)
	}
	return l
}

// spokenPhrase is text as a caller on a phone line says it (as the speech package's tests make
// it): flite's voice, at 8 kHz, through G.711 mu-law and back, with half a second of silence
// before and after.
func spokenPhrase(ctx context.Context, voice, text, work string) ([]int16, error) {
	wav := filepath.Join(work, "speech-phrase.wav")
	if out, err := exec.CommandContext(ctx, "flite", "-voice", voice, "-t", text, "-o", wav).CombinedOutput(); err != nil {
		return nil, fmt.Errorf("flite: %v: %s", err, out)
	}
	data, err := os.ReadFile(wav)
	if err != nil {
		return nil, err
	}
	pcm, rate, err := codec.DecodeWAV(data)
	if err != nil {
		return nil, fmt.Errorf("flite's wav: %w", err)
	}
	if rate != codec.SampleRate {
		pcm = codec.Resample(pcm, rate)
	}
	line := make([]byte, len(pcm))
	codec.EncodeFrame(codec.PCMU, line, pcm)
	codec.DecodeFrame(codec.PCMU, pcm, line)
	pad := make([]int16, codec.SampleRate/2)
	return append(append(append([]int16{}, pad...), pcm...), pad...), nil
}

// childCPU is the CPU seconds of this process's children that have been waited for.
func childCPU() float64 {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_CHILDREN, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()).Seconds()
}

// printSpeech is the speech table: the ladder of each model, then the go benchmark's figures.
func printSpeech(sr *SpeechResult) {
	if sr == nil {
		return
	}
	fmt.Printf("speech: %q, voice %s, %.2f s of audio; load %s\n", sr.Phrase, sr.Voice, sr.AudioS, sr.LoadAvg)
	w := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(w, "model\tN at once\twall s\tRTF\tcpu-s/audio-s\tcore %\tright\tmean WER\terrors\ttext\t")
	for _, l := range sr.Ladder {
		fmt.Fprintf(w, "%s\t%d\t%.2f\t%.2f\t%.3f\t%.0f\t%d/%d\t%.2f\t%d\t%s\t\n",
			l.Model, l.N, l.WallS, l.RTF, l.CPUPerAudioS, l.CorePct, l.Hits, l.N, l.MeanWER, l.Errors, l.Text)
	}
	w.Flush()
	for _, m := range []string{"general", "hinted"} {
		fmt.Printf("  %s: %d recognitions at once stay under real time\n", m, sr.Sustained[m])
	}
	if len(sr.Bench) > 0 {
		w = tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
		fmt.Fprintln(w, "go benchmark\tns/op\tcpu-s/audio-s\twall-s/audio-s\t")
		for _, m := range sr.Bench {
			fmt.Fprintf(w, "%s\t%.0f\t%.3f\t%.3f\t\n", m.Name, m.NsOp, m.Metrics["cpu-s/audio-s"], m.Metrics["wall-s/audio-s"])
		}
		w.Flush()
	}
	fmt.Println()
}
