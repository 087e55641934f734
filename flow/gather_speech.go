package flow

import (
	"context"
	"errors"
	"maps"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/pivotua/pivotua/codec"
	"github.com/pivotua/pivotua/httpfetch"
	"github.com/pivotua/pivotua/media"
	asr "github.com/pivotua/pivotua/speech"
)

// EventSpeech is what a speech input heard: speech_result, confidence, and the verb or collection.
const EventSpeech = "speech"

// Speech input bounds.
const (
	// speechAutoSilence is speechTimeout="auto": the pause that ends an answer.
	speechAutoSilence = time.Second
	// maxSpeechListen bounds one speech input, as Twilio's 60 s.
	maxSpeechListen = 60 * time.Second
	// speechResultWait bounds the wait for the engine's last words once the audio ended.
	speechResultWait = 10 * time.Second
	// partialQueue bounds the partial results waiting to be posted; more are dropped.
	partialQueue  = 16
	maxHintsBytes = 16 << 10
)

// speechInput is what a speech input listens for: <Gather input="speech"> attributes, or Kazoo
// collect_dtmf's speech options.
type speechInput struct {
	hints         []string
	language      string
	silence       time.Duration // speechTimeout: silence after speech that ends it
	model         string
	enhanced      bool
	profanity     bool
	partialURL    string // partialResultCallback; "" none
	partialMethod string
	verb          string        // "Gather" or "collect_dtmf", for events
	maxListen     time.Duration // maxSpeechTime; 0 = maxSpeechListen
	bargeIn       bool          // the caller's voice stops the prompts (Gather bargeIn)
}

// heardState is what the last speech input heard, sent with the next request as Twilio's
// SpeechResult and Confidence (Kazoo: the same names) and cleared once sent.
type heardState struct {
	vars map[string]string
}

// withVariables adds what was heard to a request's variables (<Set> ones win).
func (h heardState) withVariables(vars map[string]string) map[string]string {
	if len(h.vars) == 0 {
		return nilIfEmpty(vars)
	}
	out := maps.Clone(h.vars)
	maps.Copy(out, vars)
	return out
}

// splitHints splits Twilio's comma-separated hints.
func splitHints(s string) []string {
	var hints []string
	for h := range strings.SplitSeq(s, ",") {
		if h = strings.TrimSpace(h); h != "" {
			hints = append(hints, h)
		}
	}
	return hints
}

// parseSpeechAttrs reads <Gather>'s speech attributes.
// Without speechTimeout, Twilio waits timeout seconds after speech, as pivotua does.
func parseSpeechAttrs(p *twimlParser, a map[string]string, path string, timeout time.Duration) *speechInput {
	in := &speechInput{verb: "Gather", silence: timeout}
	if len(a["hints"]) > maxHintsBytes {
		p.fail(path+"@hints", "longer than 16 KiB")
	}
	in.hints = splitHints(a["hints"])
	in.language = strings.TrimSpace(a["language"])
	if in.language == "" {
		in.language = "en-US"
	} else if !languageTag.MatchString(in.language) {
		p.fail(path+"@language", "must be a language tag like en-US")
	}
	switch st, set := a["speechTimeout"]; {
	case !set:
	case strings.TrimSpace(st) == "auto":
		in.silence = speechAutoSilence
	default:
		n, err := strconv.Atoi(strings.TrimSpace(st))
		if err != nil || n < 1 || n > 60 {
			p.fail(path+"@speechTimeout", "must be auto or an integer between 1 and 60")
		}
		in.silence = time.Duration(n) * time.Second
	}
	in.model = strings.TrimSpace(a["speechModel"])
	if len(in.model) > 64 {
		p.fail(path+"@speechModel", "longer than 64 characters")
	}
	in.enhanced = p.boolAttr(a, path, "enhanced", false)
	in.profanity = p.boolAttr(a, path, "profanityFilter", true)
	if _, ok := a["partialResultCallback"]; ok {
		in.partialURL = p.urlAttr(a, path, "partialResultCallback")
	}
	in.partialMethod = p.enumAttr(a, path, "partialResultCallbackMethod", "POST", "GET", "POST")
	in.bargeIn = p.boolAttr(a, path, "bargeIn", true)
	in.maxListen = time.Duration(p.intAttr(a, path, "maxSpeechTime", 60, 1, 60, "must be an integer between 1 and 60")) * time.Second
	return in
}

// heard is the outcome of a speech input.
type heard struct {
	text       string
	confidence float64
	keys       []byte // the caller pressed a key first (dtmf allowed): it is in keys, speech was dropped
	failed     bool   // speech input could not run (warning sent): keys are gathered instead when allowed
}

// listen hears the caller until speech ends (in.silence after it), timeout passes with no speech,
// a key is pressed when dtmf is allowed (the key wins and stays in the type-ahead), or maxSpeechTime.
// Every failure (no recogniser, over the cap, language refused, engine error) is a warning event and
// an empty result (failed: keys are gathered instead when dtmf is allowed): the caller is never kept
// waiting. ok is false when the call ended.
func (c *Call) listen(ctx context.Context, in *speechInput, timeout time.Duration, dtmf bool) (h heard, ok bool) {
	l := c.startListening(ctx, in)
	return c.awaitSpeech(ctx, l, timeout, dtmf)
}

// speechListener feeds the caller's audio to a recognition from a goroutine of its own (run), from
// before a Gather's prompts until speech ends or the call's goroutine stops it; then the
// recognition is the call goroutine's again (finish, abort).
type speechListener struct {
	in       *speechInput
	failed   bool // could not start; a warning was sent
	rec      *asr.Recognition
	tap      *media.Tap
	ep       *asr.Endpointer
	partials *partialPoster
	deadline time.Time // maxSpeechTime from the start

	started chan struct{} // closed by run when the caller starts speaking
	ended   chan struct{} // closed by run when speech ended; run then stops feeding
	stop    chan struct{} // closed by the call's goroutine to end run
	done    chan struct{} // closed when run returned
}

// warnSpeech records why a speech input hears nothing.
func (c *Call) warnSpeech(in *speechInput, msg string, err error) {
	c.log.Warn("speech input: "+msg, "verb", in.verb, "err", err)
	data := map[string]any{"verb": in.verb, "message": "speech input: " + msg}
	if err != nil {
		data["error"] = err.Error()
	}
	c.event(EventWarning, data)
}

// startListening starts the recognition and the goroutine that feeds it; a listener that could
// not start is failed (and warned about), never nil.
func (c *Call) startListening(ctx context.Context, in *speechInput) *speechListener {
	l := &speechListener{in: in, failed: true}
	rec := c.deps.Recognizer
	if rec == nil {
		c.warnSpeech(in, "speech recognition is not configured (speech.engine)", nil)
		return l
	}
	req := asr.Request{Language: in.language, Hints: in.hints, Model: in.model, Enhanced: in.enhanced,
		ProfanityFilter: in.profanity, CallID: c.info.CallID, AccountID: c.accountID}
	if err := rec.Check(req); err != nil {
		c.warnSpeech(in, in.verb+" language "+in.language+" is not supported by the speech engine", err)
		return l
	}
	partials := c.partialPoster(in)
	req.OnPartial = partials.post
	r, err := rec.Start(ctx, req)
	if err != nil {
		partials.close()
		if errors.Is(err, asr.ErrBusy) {
			c.warnSpeech(in, "too many recognitions running (speech.max_concurrent); the result is empty", err)
		} else {
			c.warnSpeech(in, "the speech engine did not start", err)
		}
		return l
	}
	bl := c.ch.Bridge()
	if bl == nil || bl.Session() == nil {
		r.Abort()
		partials.close()
		c.warnSpeech(in, "the call has no RTP session of pivotua's own to listen to", nil)
		return l
	}
	tap, err := bl.Session().StartTap(media.TapInbound)
	if err != nil {
		r.Abort()
		partials.close()
		c.warnSpeech(in, "cannot tap the caller's audio", err)
		return l
	}
	maxListen := in.maxListen
	if maxListen <= 0 || maxListen > maxSpeechListen {
		maxListen = maxSpeechListen
	}
	*l = speechListener{in: in, rec: r, tap: tap, ep: asr.NewEndpointer(in.silence), partials: partials,
		deadline: time.Now().Add(maxListen),
		started:  make(chan struct{}), ended: make(chan struct{}), stop: make(chan struct{}), done: make(chan struct{})}
	go l.run()
	return l
}

// run decodes each frame of the caller as it comes and hands it to the recognition and the
// endpointer.
func (l *speechListener) run() {
	defer close(l.done)
	var (
		frame   media.TapFrame
		pcm     [codec.FrameSamples]int16
		started bool
	)
	for {
		select {
		case <-l.stop:
			return
		case <-l.tap.Ready():
			for l.tap.Next(&frame) {
				codec.DecodeFrame(codec.PCMU, pcm[:], frame.Payload[:])
				l.rec.Write(pcm[:])
				s, ended := l.ep.Frame(pcm[:])
				if s && !started {
					started = true
					close(l.started)
				}
				if ended {
					close(l.ended)
					return
				}
			}
		}
	}
}

// speaking is closed once the caller started speaking; nil (never) for a failed listener.
func (l *speechListener) speaking() <-chan struct{} { return l.started }

// halt ends run and takes the recognition back; the tap is detached.
func (l *speechListener) halt() {
	close(l.stop)
	<-l.done
	l.tap.Stop()
}

// abort drops the recognition.
func (l *speechListener) abort() {
	if l.failed {
		return
	}
	l.halt()
	l.rec.Abort()
	l.partials.close()
}

// awaitSpeech waits, after the prompts, for the end of what l hears (see listen).
func (c *Call) awaitSpeech(ctx context.Context, l *speechListener, timeout time.Duration, dtmf bool) (heard, bool) {
	alive := func() bool { return ctx.Err() == nil && !c.ended() }
	if l.failed {
		return heard{failed: true}, alive()
	}
	c.activity++
	if dtmf && len(c.keys.typeAhead) > 0 { // a key during the prompts came first
		l.abort()
		return heard{keys: c.keys.typeAhead}, true
	}
	first := time.NewTimer(timeout)
	defer first.Stop()
	limit := time.NewTimer(time.Until(l.deadline))
	defer limit.Stop()
	speaking := l.speaking()
	started := false
waiting:
	for {
		select {
		case <-speaking:
			started, speaking = true, nil
			first.Stop()
		case <-l.ended:
			break waiting
		case k := <-c.ch.Digits():
			c.pressed(k)
			if dtmf {
				l.abort()
				return heard{keys: c.keys.typeAhead}, true
			}
		case <-first.C:
			if !started {
				l.abort()
				return heard{}, true
			}
		case <-limit.C:
			break waiting
		case <-ctx.Done():
			l.abort()
			return heard{}, false
		}
	}
	l.halt()
	defer l.partials.close()
	wctx, cancel := context.WithTimeout(ctx, speechResultWait)
	defer cancel()
	res, err := l.rec.Close(wctx)
	if err != nil {
		if !alive() {
			return heard{}, false
		}
		c.warnSpeech(l.in, "the speech engine failed", err)
		return heard{failed: true}, true
	}
	if res.Dropped > 0 {
		c.log.Warn("speech input: frames dropped by a slow engine", "dropped", res.Dropped)
	}
	return heard{text: res.Text, confidence: res.Confidence}, true
}

// keep stores what was heard for the next request.
func (h heard) keep(c *Call) {
	c.heard.vars = map[string]string{
		"SpeechResult": h.text,
		"Confidence":   strconv.FormatFloat(h.confidence, 'f', 8, 64),
	}
}

// partialPoster posts a speech input's partial results to its partialResultCallback from a
// goroutine of its own, in order, each a signed request like the pivot's with Twilio's
// UnstableSpeechResult, StableSpeechResult and SequenceNumber. Results that find the queue full are
// dropped. A nil *partialPoster posts nothing.
type partialPoster struct {
	language string
	mu       sync.Mutex // post (the recognition's goroutine) against close (the call's)
	events   chan map[string]string
	seq      int
	closed   bool
}

func (c *Call) partialPoster(in *speechInput) *partialPoster {
	a := c.pivot.action
	if in.partialURL == "" || a == nil || c.deps.Documents == nil {
		return nil
	}
	target, err := c.resolveURL(in.partialURL)
	if err != nil {
		c.log.Warn("partialResultCallback unusable", "url", in.partialURL, "err", err)
		return nil
	}
	req := c.pivotRequest(a, target, in.partialMethod)
	req.Format, req.BodyFormat = httpfetch.FormatTwiML, httpfetch.BodyForm
	fetch, log := c.deps.Documents, c.log
	pp := &partialPoster{language: in.language, events: make(chan map[string]string, partialQueue)}
	go func() {
		for vars := range pp.events {
			r := req
			r.Params.Variables = vars
			ctx, cancel := context.WithTimeout(context.Background(), r.Timeout+fetchGrace)
			if _, err := fetch.FetchDocument(ctx, r); err != nil {
				log.Warn("partialResultCallback failed", "url", target, "err", err)
			}
			cancel()
		}
	}()
	return pp
}

// post queues one partial result; called from the recognition's goroutine, in order.
func (pp *partialPoster) post(stable, unstable string) {
	if pp == nil {
		return
	}
	pp.mu.Lock()
	defer pp.mu.Unlock()
	if pp.closed {
		return
	}
	pp.seq++
	select {
	case pp.events <- map[string]string{
		"StableSpeechResult": stable, "UnstableSpeechResult": unstable,
		"SequenceNumber": strconv.Itoa(pp.seq), "LanguageCode": pp.language,
	}:
	default:
	}
}

// close ends the posts once the recognition is over; the queued ones still go.
func (pp *partialPoster) close() {
	if pp == nil {
		return
	}
	pp.mu.Lock()
	defer pp.mu.Unlock()
	if !pp.closed {
		pp.closed = true
		close(pp.events)
	}
}
