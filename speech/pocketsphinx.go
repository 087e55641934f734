package speech

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"

	"github.com/pivotua/pivotua/internal/rtprio"
)

// Bounds on what the child process may make us hold.
const (
	maxLineBytes = 4096     // a longer stdout line is an engine failure
	maxTextBytes = 16 << 10 // text kept of one recognition
)

// Pocketsphinx is the offline engine: one pocketsphinx_continuous per recognition, reading raw
// 16 kHz 16-bit little-endian audio from its stdin (-infile /dev/stdin) and printing each utterance's
// hypothesis, followed by its words with their posterior probabilities (-time yes), as soon as its
// voice activity detector sees the utterance end. A pipe streams: the decoder works while the caller
// speaks, and the final words cost only the last utterance once the audio ends.
type Pocketsphinx struct {
	pool               *pool
	command, model, lm string
	dict               string
	words              dictionary // the dictionary's words, for hints
}

var _ Recognizer = (*Pocketsphinx)(nil)

// Check accepts US English only: Debian's pocketsphinx-en-us is the one model.
func (p *Pocketsphinx) Check(r Request) error {
	if !offlineLanguage(r.Language) {
		return fmt.Errorf("%w: %q (the offline engine knows en-US only)", ErrLanguage, r.Language)
	}
	return nil
}

// Start runs a decoder for r. With hints it decodes with a grammar of the hinted phrases amid
// common words (hints.go) instead of the general language model.
func (p *Pocketsphinx) Start(ctx context.Context, r Request) (*Recognition, error) {
	if err := p.Check(r); err != nil {
		return nil, err
	}
	if !p.pool.acquire() {
		return nil, ErrBusy
	}
	sess, err := p.start(ctx, r)
	if err != nil {
		p.pool.release()
		return nil, err
	}
	return newRecognition(p.pool, sess, r), nil
}

func (p *Pocketsphinx) args(grammar string) []string {
	args := []string{"-infile", "/dev/stdin", "-logfn", "/dev/null", "-time", "yes",
		"-hmm", p.model, "-dict", p.dict}
	if grammar != "" {
		return append(args, "-jsgf", grammar)
	}
	return append(args, "-lm", p.lm)
}

func (p *Pocketsphinx) start(ctx context.Context, r Request) (*sphinxSession, error) {
	grammarFile := ""
	if len(r.Hints) > 0 {
		dict, err := p.words.load()
		if err != nil {
			return nil, fmt.Errorf("%w: dictionary: %v", ErrEngine, err)
		}
		if g, _, ok := hintsGrammar(r.Hints, dict); ok {
			f, err := os.CreateTemp("", "pivotua-hints-*.gram")
			if err != nil {
				return nil, fmt.Errorf("%w: %v", ErrEngine, err)
			}
			_, err = f.WriteString(g)
			if cerr := f.Close(); err == nil {
				err = cerr
			}
			if err != nil {
				os.Remove(f.Name())
				return nil, fmt.Errorf("%w: %v", ErrEngine, err)
			}
			grammarFile = f.Name()
		}
	}
	ctx, cancel := context.WithCancel(ctx)
	cmd := exec.CommandContext(ctx, p.command, p.args(grammarFile)...)
	s := &sphinxSession{cancel: cancel, cmd: cmd, grammar: grammarFile, up: newUpsampler2(),
		partial: r.OnPartial, read: make(chan struct{})}
	stdin, err := cmd.StdinPipe()
	if err == nil {
		s.stdin = stdin
		var stdout io.ReadCloser
		if stdout, err = cmd.StdoutPipe(); err == nil {
			if err = rtprio.Start(cmd); err == nil {
				go s.readOutput(stdout)
				return s, nil
			}
		}
	}
	s.cleanup()
	return nil, fmt.Errorf("%w: %s: %v", ErrEngine, p.command, err)
}

// sphinxSession is one pocketsphinx_continuous process.
type sphinxSession struct {
	cancel  context.CancelFunc
	cmd     *exec.Cmd
	stdin   io.WriteCloser
	grammar string      // temporary grammar file, removed at the end; "" none
	up      *upsampler2 // owned by the pump goroutine
	buf     []byte      // owned by the pump goroutine
	partial func(stable, unstable string)

	read     chan struct{} // closed when readOutput is done; then out and readErr are final
	out      sphinxOutput
	readErr  error
	stopOnce sync.Once
}

func (s *sphinxSession) write(pcm []int16) error {
	s.buf = s.up.push(s.buf[:0], pcm)
	if _, err := s.stdin.Write(s.buf); err != nil {
		return fmt.Errorf("%w: writing audio: %v", ErrEngine, err)
	}
	return nil
}

func (s *sphinxSession) finish(ctx context.Context) (Result, error) {
	// Half a second of silence lets the detector close the last utterance as it would live.
	var silence [FrameSamples]int16
	for range 25 {
		if err := s.write(silence[:]); err != nil {
			return Result{}, err
		}
	}
	s.stdin.Close()
	select {
	case <-s.read:
	case <-ctx.Done():
		return Result{}, ctx.Err()
	}
	werr := s.cmd.Wait()
	s.cleanup()
	if s.readErr != nil {
		return Result{}, s.readErr
	}
	if werr != nil {
		return Result{}, fmt.Errorf("%w: pocketsphinx_continuous: %v", ErrEngine, werr)
	}
	return Result{Text: s.out.text(), Confidence: s.out.confidence()}, nil
}

func (s *sphinxSession) abort() {
	s.cancel() // kills the process
	if s.stdin != nil {
		s.stdin.Close()
	}
	s.stopOnce.Do(func() {
		go func() { // reap it without holding up the call
			<-s.read
			s.cmd.Wait()
			s.cleanup()
		}()
	})
}

func (s *sphinxSession) cleanup() {
	s.cancel()
	if s.grammar != "" {
		os.Remove(s.grammar)
	}
}

// readOutput parses the decoder's stdout until it closes, telling each new utterance to partial.
func (s *sphinxSession) readOutput(stdout io.Reader) {
	defer close(s.read)
	sc := bufio.NewScanner(stdout)
	sc.Buffer(make([]byte, 0, 512), maxLineBytes)
	for sc.Scan() {
		if s.out.line(sc.Text()) && s.partial != nil {
			s.partial(s.out.text(), "")
		}
	}
	if err := sc.Err(); err != nil {
		s.readErr = fmt.Errorf("%w: reading its output: %v", ErrEngine, err)
		io.Copy(io.Discard, stdout) // let it finish writing rather than die on a broken pipe
	}
}

// sphinxOutput is what pocketsphinx_continuous -time yes printed: per utterance a hypothesis line
// ("hello world"), then one line per word with its start and end seconds and posterior
// probability ("hello 0.710 1.670 0.929965"), fillers included ("<s>", "<sil>", "[NOISE]").
type sphinxOutput struct {
	utterances []string
	bytes      int
	posterior  float64 // sum over the recognised words
	words      int
}

// line takes one line of output and reports whether it was a new utterance's hypothesis.
func (o *sphinxOutput) line(l string) bool {
	f := strings.Fields(l)
	if len(f) == 0 {
		return false
	}
	if len(f) == 4 {
		if p, ok := wordLine(f); ok {
			w := f[0]
			if i := strings.IndexByte(w, '('); i > 0 {
				w = w[:i]
			}
			if isWord(w) {
				o.posterior += p
				o.words++
			}
			return false
		}
	}
	var words []string
	for _, w := range f {
		if isWord(w) {
			words = append(words, strings.ToLower(w))
		}
	}
	text := strings.Join(words, " ")
	if text == "" || o.bytes+len(text) > maxTextBytes {
		return false
	}
	o.bytes += len(text) + 1
	o.utterances = append(o.utterances, text)
	return true
}

// wordLine reports whether f is a word line and its posterior probability.
func wordLine(f []string) (float64, bool) {
	var n [3]float64
	for i, s := range f[1:] {
		v, err := strconv.ParseFloat(s, 64)
		if err != nil || v < 0 {
			return 0, false
		}
		n[i] = v
	}
	return min(n[2], 1), true
}

// isWord rejects the decoder's fillers and markers ("<s>", "<sil>", "[NOISE]", "(NULL)").
func isWord(w string) bool {
	if w == "" || strings.ContainsAny(w, "<>[]()") {
		return false
	}
	for _, r := range w {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '\'' || r == '-' || r == '.') {
			return false
		}
	}
	return true
}

func (o *sphinxOutput) text() string { return strings.Join(o.utterances, " ") }

// confidence is the mean posterior of the recognised words; with a grammar pocketsphinx reports 1
// for every word, so hinted results say 1 when anything was heard.
func (o *sphinxOutput) confidence() float64 {
	if o.words == 0 {
		if len(o.utterances) > 0 {
			return 0.5
		}
		return 0
	}
	return o.posterior / float64(o.words)
}
