package softphone

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/pion/rtp"
	"github.com/pivotua/pivotua/codec"
	"github.com/pivotua/pivotua/media"
	"github.com/pivotua/pivotua/sip"
)

// The softphone's RTP ports: away from pivotua's default range, so both can
// run on one host.
const (
	softphoneRTPMin = 40000
	softphoneRTPMax = 49998
)

// Options are what `pivotua call` asks of one call (its flags).
type Options struct {
	Target      string        // sip: URI (the "sip:" may be left out)
	Play        string        // WAV (or MP3) to send as our voice; empty sends silence
	Record      string        // where to write what we heard, 8 kHz 16-bit mono WAV
	DTMF        string        // RFC 4733 keys, sent DTMFDelay after the answer
	DTMFDelay   time.Duration // from the answer
	Duration    time.Duration // hang up this long after the answer
	RingTimeout time.Duration // CANCEL when no final answer came in time
	From        string        // user part of From
	Transport   string        // "udp" or "tcp"
	Local       string        // IP[:PORT] to bind SIP and RTP to
	UserAgent   string        // sent in User-Agent
}

// UsageError is an option Call cannot use: bad usage rather than a failed call.
type UsageError struct{ msg string }

func (e *UsageError) Error() string { return e.msg }

func usageErrorf(format string, args ...any) error {
	return &UsageError{msg: fmt.Sprintf(format, args...)}
}

// timeline prints one line per event with the milliseconds since the
// INVITE was sent. Safe for concurrent use.
type timeline struct {
	mu    sync.Mutex // serialises writes to w
	w     io.Writer
	start time.Time // immutable
}

func (t *timeline) add(format string, args ...any) {
	t.mu.Lock()
	defer t.mu.Unlock()
	fmt.Fprintf(t.w, "%7d ms  %s\n", time.Since(t.start).Milliseconds(), fmt.Sprintf(format, args...))
}

// softphoneTarget normalises the URI and applies --transport to it.
func softphoneTarget(uri, transport string) (string, error) {
	uri = strings.TrimSpace(uri)
	if !strings.HasPrefix(strings.ToLower(uri), "sip:") {
		uri = "sip:" + uri
	}
	if transport == "tcp" && !strings.Contains(strings.ToLower(uri), ";transport=") {
		uri += ";transport=tcp"
	}
	return uri, nil
}

// parseLocal reads --local: an IP, or IP:PORT.
func parseLocal(s string) (netip.AddrPort, error) {
	if ap, err := netip.ParseAddrPort(s); err == nil {
		return ap, nil
	}
	ip, err := netip.ParseAddr(strings.Trim(s, "[]"))
	if err != nil {
		return netip.AddrPort{}, usageErrorf("--local %q: want IP or IP:PORT", s)
	}
	return netip.AddrPortFrom(ip, 0), nil
}

// outboundIP is the local address the kernel would use towards host: what a
// softphone bound to 0.0.0.0 must put in its SDP and Contact.
func outboundIP(host string) (netip.Addr, error) {
	c, err := net.Dial("udp", net.JoinHostPort(host, "5060"))
	if err != nil {
		return netip.Addr{}, err
	}
	defer c.Close()
	return c.LocalAddr().(*net.UDPAddr).AddrPort().Addr().Unmap(), nil
}

// targetHost is the host part of a sip: URI, for outboundIP.
func targetHost(uri string) string {
	rest := uri[strings.Index(uri, ":")+1:]
	if i := strings.LastIndex(rest, "@"); i >= 0 {
		rest = rest[i+1:]
	}
	if i := strings.IndexAny(rest, ";?"); i >= 0 {
		rest = rest[:i]
	}
	if h, _, err := net.SplitHostPort(rest); err == nil {
		return h
	}
	return strings.Trim(rest, "[]")
}

// Call places one call and writes its timeline to out. It returns nil
// when the call was answered and RTP came back.
func Call(ctx context.Context, o Options, out io.Writer) error {
	if o.Transport != "udp" && o.Transport != "tcp" {
		return usageErrorf("--transport %q: want udp or tcp", o.Transport)
	}
	if o.Duration <= 0 {
		return usageErrorf("--duration must be positive")
	}
	target, err := softphoneTarget(o.Target, o.Transport)
	if err != nil {
		return err
	}
	local, err := parseLocal(o.Local)
	if err != nil {
		return err
	}
	var prompt *codec.Prompt
	if o.Play != "" {
		data, err := os.ReadFile(o.Play)
		if err != nil {
			return usageErrorf("--play: %v", err)
		}
		pcm, err := codec.DecodeAudio(data, "")
		if err != nil {
			return usageErrorf("--play %s: %v", o.Play, err)
		}
		prompt = codec.NewPrompt(pcm)
	}

	advertise := local.Addr()
	if advertise.IsUnspecified() {
		if advertise, err = outboundIP(targetHost(target)); err != nil {
			return fmt.Errorf("find a local address towards %s: %w", target, err)
		}
	}
	quiet := slog.New(slog.DiscardHandler)
	srvCfg := sip.Config{
		Listen:    []string{fmt.Sprintf("%s://%s", o.Transport, local)},
		UserAgent: o.UserAgent,
		Logger:    quiet,
	}
	if local.Addr().IsUnspecified() {
		srvCfg.ExternalIP = advertise.String()
	}
	srv, err := sip.NewServer(srvCfg, func(c *sip.InboundCall) { _ = c.Reject(486, "Busy Here") })
	if err != nil {
		return err
	}
	if err := srv.Listen(); err != nil {
		return err
	}
	defer srv.Close()

	engine, err := media.NewEngine(media.Config{IP: local.Addr(), PortMin: softphoneRTPMin, PortMax: softphoneRTPMax, MediaTimeout: -1})
	if err != nil {
		return err
	}
	defer engine.Close()
	sess, err := engine.Open()
	if err != nil {
		return fmt.Errorf("open RTP socket: %w", err)
	}
	defer sess.Close()
	rtpAddr := netip.AddrPortFrom(advertise, sess.LocalAddr().Port())

	var rec *media.Recording
	var wav *codec.WAVFileWriter
	if o.Record != "" {
		// Written beside the target and renamed at the end, so an old file is
		// replaced only by a complete recording.
		tmp := o.Record + ".part"
		_ = os.Remove(tmp)
		if wav, err = codec.CreateWAV(tmp, codec.SampleRate); err != nil {
			return usageErrorf("--record: %v", err)
		}
		if rec, err = sess.StartRecording(wav); err != nil {
			wav.Close()
			os.Remove(tmp)
			return err
		}
	}

	tl := &timeline{w: out, start: time.Now()}
	callErr := runSoftphoneCall(ctx, o, tl, srv, sess, target, rtpAddr, prompt)

	if rec != nil {
		samples, recErr := rec.Stop()
		if err := wav.Close(); recErr == nil {
			recErr = err
		}
		unanswered := errors.Is(callErr, errNotAnswered)
		if recErr == nil && !unanswered {
			recErr = os.Rename(o.Record+".part", o.Record)
		}
		switch {
		case recErr != nil:
			os.Remove(o.Record + ".part")
			tl.add("recording to %s failed: %v", o.Record, recErr)
			if callErr == nil {
				callErr = fmt.Errorf("record: %w", recErr)
			}
		case unanswered: // no empty file, and say why
			os.Remove(o.Record + ".part")
			tl.add("nothing recorded to %s: the call was not answered", o.Record)
		default:
			tl.add("recorded %.1f s to %s", float64(samples)/codec.SampleRate, o.Record)
		}
	}
	if callErr != nil {
		tl.add("FAILED: %v", callErr)
		return &ShownError{callErr}
	}
	tl.add("OK")
	return nil
}

// errNotAnswered: no 2xx came (a final error response, a timeout, a transport error).
var errNotAnswered = errors.New("not answered")

// ShownError is a failed call whose failure the timeline has printed already.
type ShownError struct{ err error }

func (e *ShownError) Error() string { return e.err.Error() }
func (e *ShownError) Unwrap() error { return e.err }

// runSoftphoneCall is the call itself, from INVITE to BYE and the RTP stats.
func runSoftphoneCall(ctx context.Context, o Options, tl *timeline, srv *sip.Server, sess *media.Session,
	target string, rtpAddr netip.AddrPort, prompt *codec.Prompt) error {
	startMedia := func(md sip.MediaDesc) error {
		err := sess.Start(media.Params{
			Remote:           md.Addr,
			Law:              codec.Law(md.PayloadType),
			PayloadType:      md.PayloadType,
			EventPayloadType: md.EventPayloadType,
		})
		sess.SetSending(md.Direction.WeSend())
		return err
	}
	// The first packet's arrival (read within 20 ms of it), for its latency;
	// the media clock must not block, so the timeline line is written by this
	// goroutine.
	firstRTP := make(chan time.Time, 1)
	var firstOnce sync.Once
	sess.SetReceiver(func(*rtp.Header, []byte) {
		firstOnce.Do(func() { firstRTP <- time.Now() })
	})

	from := ""
	if l := srv.Listeners(); len(l) > 0 {
		from = l[0].Addr.String()
	}
	tl.add("INVITE %s sent via %s from %s (RTP %s)", target, o.Transport, from, rtpAddr)
	call, err := srv.Dial(ctx, sip.OutboundRequest{
		Target:      target,
		FromUser:    o.From,
		LocalRTP:    rtpAddr,
		RingTimeout: o.RingTimeout,
		OnProgress: func(p sip.Progress) {
			if p.EarlyMedia == nil {
				tl.add("%d %s", p.Code, p.Reason)
				return
			}
			tl.add("%d %s with early media from %s", p.Code, p.Reason, p.EarlyMedia.Addr)
			if err := startMedia(*p.EarlyMedia); err != nil {
				tl.add("early media not started: %v", err)
			}
		},
	})
	if err != nil {
		var de *sip.DialError
		if errors.As(err, &de) && de.Code != 0 {
			tl.add("%d %s", de.Code, de.Reason)
		}
		return fmt.Errorf("%w: %w", errNotAnswered, err)
	}
	answered := time.Now()
	md := call.Media()
	tl.add("200 OK: answered after %d ms, Call-ID %s, media %s PT %d (telephone-event PT %d), %s",
		answered.Sub(tl.start).Milliseconds(), call.CallID(), md.Addr, md.PayloadType, md.EventPayloadType, md.Direction)
	tl.add("ACK sent")
	if err := startMedia(md); err != nil {
		_ = call.Hangup(context.Background())
		return fmt.Errorf("start RTP: %w", err)
	}
	call.OnMediaChange(func(md sip.MediaDesc) {
		tl.add("re-INVITE: media now %s PT %d, %s", md.Addr, md.PayloadType, md.Direction)
		if err := startMedia(md); err != nil {
			tl.add("re-INVITE media not started: %v", err)
		}
	})

	callCtx, endCall := context.WithCancel(ctx)
	defer endCall()
	var wg sync.WaitGroup
	defer wg.Wait()
	if prompt != nil {
		wg.Add(1)
		go func() {
			defer wg.Done()
			tl.add("playing %s (%.1f s)", o.Play, prompt.Duration().Seconds())
			if err := sess.Play(callCtx, prompt); err == nil {
				tl.add("playback of %s finished", o.Play)
			}
		}()
	}
	var dtmfErr error
	if o.DTMF != "" {
		wg.Add(1)
		go func() {
			defer wg.Done()
			select {
			case <-time.After(o.DTMFDelay):
			case <-callCtx.Done():
				return
			}
			tl.add("sending DTMF %q (RFC 4733)", o.DTMF)
			err := sess.SendDigits(callCtx, o.DTMF, 0)
			switch {
			case err == nil:
				tl.add("DTMF %q sent", o.DTMF)
			case callCtx.Err() != nil: // the far end may hang up on the last key's end packets
				tl.add("DTMF %q cut short: the call ended", o.DTMF)
			default:
				dtmfErr = fmt.Errorf("send DTMF: %w", err)
				tl.add("DTMF not sent: %v", err)
			}
		}()
	}

	var gotRTP time.Time
	hangup := time.NewTimer(o.Duration)
	defer hangup.Stop()
	byWhom := ""
	for byWhom == "" {
		select {
		case at := <-firstRTP:
			gotRTP = at
			tl.add("first RTP packet received, %d ms after the answer", at.Sub(answered).Milliseconds())
		case <-call.Done():
			byWhom = "far end"
		case <-hangup.C:
			byWhom = "us (--duration)"
		case <-ctx.Done():
			byWhom = "us (interrupted)"
		}
	}
	endCall()
	if byWhom == "far end" {
		tl.add("BYE received from the far end")
	} else {
		tl.add("BYE sent by %s", byWhom)
		hctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		err := call.Hangup(hctx)
		cancel()
		if err != nil {
			tl.add("BYE not answered: %v", err)
		} else {
			tl.add("BYE answered")
		}
	}
	wg.Wait()

	st := sess.Stats()
	latency := "none"
	if gotRTP.IsZero() && st.PacketsReceived > 0 {
		select { // arrived as the call ended
		case gotRTP = <-firstRTP:
		default:
		}
	}
	if !gotRTP.IsZero() {
		latency = fmt.Sprintf("%d ms", gotRTP.Sub(answered).Milliseconds())
	}
	tl.add("RTP: sent %d packets, received %d, lost %d, first packet latency %s, remote %s",
		st.PacketsSent, st.PacketsReceived, st.PacketsLost, latency, st.Remote)
	if st.PacketsReceived == 0 {
		return errors.New("no RTP received")
	}
	return dtmfErr
}
