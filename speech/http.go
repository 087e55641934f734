package speech

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/pivotua/pivotua/codec"
)

// maxHTTPAnswer bounds the service's JSON answer.
const maxHTTPAnswer = 64 << 10

// HTTPEngine sends each recognition's audio to a speech service the operator runs (speech.http_url),
// so better recognisers than the offline one can be plugged in. The protocol (README "HTTP speech
// engine"): one POST per recognition whose body is the caller's audio as it arrives, chunked
// (HTTP/1.1 chunked transfer coding), 8 kHz mono, as Content-Type audio/L16;rate=8000 (16-bit
// big-endian, RFC 2586) or audio/PCMU;rate=8000 (G.711 mu-law); the request says what to listen for
// in X-Speech-Language, X-Speech-Hints (the phrases, comma-separated), X-Speech-Model,
// X-Speech-Enhanced, X-Speech-Profanity-Filter, and X-Call-Sid and X-Account-Sid; it is signed in
// X-Pivot-Signature like pivot requests, over the URL and an empty body (the audio is not known
// when the headers go). The service answers, once the body ended, 200 with
// {"text": "...", "confidence": 0.93}.
type HTTPEngine struct {
	pool     *pool
	url      string
	encoding string // l16 | pcmu
	key      string
	timeout  time.Duration
	http     *http.Client
}

var _ Recognizer = (*HTTPEngine)(nil)

// Check accepts every language: the service decides.
func (e *HTTPEngine) Check(Request) error { return nil }

// Start opens the POST; audio follows as it is written.
func (e *HTTPEngine) Start(ctx context.Context, r Request) (*Recognition, error) {
	if !e.pool.acquire() {
		return nil, ErrBusy
	}
	ctx, cancel := context.WithCancel(ctx)
	pr, pw := io.Pipe()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, e.url, pr)
	if err != nil {
		cancel()
		e.pool.release()
		return nil, fmt.Errorf("%w: %v", ErrEngine, err)
	}
	req.ContentLength = -1 // chunked: the audio is sent as it comes
	if e.encoding == "pcmu" {
		req.Header.Set("Content-Type", "audio/PCMU;rate=8000")
	} else {
		req.Header.Set("Content-Type", "audio/L16;rate=8000")
	}
	lang := r.Language
	if lang == "" {
		lang = "en-US"
	}
	setHeader(req.Header, "X-Speech-Language", lang)
	setHeader(req.Header, "X-Speech-Hints", strings.Join(r.Hints, ","))
	setHeader(req.Header, "X-Speech-Model", r.Model)
	req.Header.Set("X-Speech-Enhanced", strconv.FormatBool(r.Enhanced))
	req.Header.Set("X-Speech-Profanity-Filter", strconv.FormatBool(r.ProfanityFilter))
	setHeader(req.Header, "X-Call-Sid", r.CallID)
	setHeader(req.Header, "X-Account-Sid", r.AccountID)
	if e.key != "" {
		req.Header.Set("X-Pivot-Signature", SignatureHeader(e.key, time.Now().Unix(), e.url))
	}
	s := &httpSession{cancel: cancel, pw: pw, pcmu: e.encoding == "pcmu", timeout: e.timeout, answer: make(chan httpAnswer, 1)}
	go func() {
		s.answer <- e.do(req)
		pr.CloseWithError(io.ErrClosedPipe) // a service that answered early takes no more audio
	}()
	return newRecognition(e.pool, s, r), nil
}

// SignatureHeader is the X-Pivot-Signature of a request to rawURL with an empty body:
// "t=<unix seconds>,v1=<hex HMAC-SHA256(key, t + "." + URL + ".")>", as httpfetch signs pivot
// requests (httpfetch.ValidatePivotSignature checks it).
func SignatureHeader(key string, t int64, rawURL string) string {
	mac := hmac.New(sha256.New, []byte(key))
	mac.Write([]byte(strconv.FormatInt(t, 10) + "." + rawURL + "."))
	return "t=" + strconv.FormatInt(t, 10) + ",v1=" + hex.EncodeToString(mac.Sum(nil))
}

// setHeader sets a header from text a document chose, without line breaks and bounded.
func setHeader(h http.Header, name, v string) {
	v = strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return ' '
		}
		return r
	}, v)
	if len(v) > 4096 {
		v = v[:4096]
	}
	if v != "" {
		h.Set(name, v)
	}
}

type httpAnswer struct {
	res Result
	err error
}

func (e *HTTPEngine) do(req *http.Request) httpAnswer {
	resp, err := e.http.Do(req)
	if err != nil {
		return httpAnswer{err: fmt.Errorf("%w: %v", ErrEngine, err)}
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxHTTPAnswer+1))
	switch {
	case err != nil:
		return httpAnswer{err: fmt.Errorf("%w: reading the answer: %v", ErrEngine, err)}
	case resp.StatusCode != http.StatusOK:
		return httpAnswer{err: fmt.Errorf("%w: the service answered %d", ErrEngine, resp.StatusCode)}
	case len(body) > maxHTTPAnswer:
		return httpAnswer{err: fmt.Errorf("%w: the answer is over %d bytes", ErrEngine, maxHTTPAnswer)}
	}
	var a struct {
		Text       *string  `json:"text"`
		Confidence *float64 `json:"confidence"`
	}
	if err := json.Unmarshal(body, &a); err != nil || a.Text == nil {
		return httpAnswer{err: fmt.Errorf("%w: the answer is not {\"text\",\"confidence\"} JSON", ErrEngine)}
	}
	res := Result{Text: strings.TrimSpace(*a.Text)}
	if len(res.Text) > maxTextBytes {
		res.Text = res.Text[:maxTextBytes]
	}
	if a.Confidence != nil && *a.Confidence >= 0 && *a.Confidence <= 1 {
		res.Confidence = *a.Confidence
	}
	return httpAnswer{res: res}
}

// httpSession is one POST in progress.
type httpSession struct {
	cancel  context.CancelFunc
	pw      *io.PipeWriter
	pcmu    bool
	timeout time.Duration
	answer  chan httpAnswer
	buf     []byte // owned by the pump goroutine
}

func (s *httpSession) write(pcm []int16) error {
	s.buf = s.buf[:0]
	if s.pcmu {
		s.buf = append(s.buf, make([]byte, len(pcm))...)
		codec.EncodeFrame(codec.PCMU, s.buf, pcm)
	} else {
		for _, x := range pcm {
			s.buf = append(s.buf, byte(uint16(x)>>8), byte(x)) // RFC 2586: network byte order
		}
	}
	if _, err := s.pw.Write(s.buf); err != nil {
		return fmt.Errorf("%w: sending audio: %v", ErrEngine, err)
	}
	return nil
}

func (s *httpSession) finish(ctx context.Context) (Result, error) {
	s.pw.Close()
	t := time.NewTimer(s.timeout)
	defer t.Stop()
	select {
	case a := <-s.answer:
		s.cancel()
		return a.res, a.err
	case <-t.C:
		return Result{}, fmt.Errorf("%w: no answer within %v", ErrEngine, s.timeout)
	case <-ctx.Done():
		return Result{}, ctx.Err()
	}
}

func (s *httpSession) abort() {
	s.pw.CloseWithError(context.Canceled)
	s.cancel()
}
