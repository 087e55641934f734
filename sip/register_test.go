package sip

import (
	"bufio"
	"context"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"
	"github.com/pivotua/pivotua/internal/testkit"
)

// fakeRegistrar is a registrar on a raw UDP socket that answers each request with what its
// script says (nil: no answer at all), and keeps every request it got.
type fakeRegistrar struct {
	conn   net.PacketConn
	script func(n int, req *sip.Request) *sip.Response // n counts requests of req's method, from 1

	mu   sync.Mutex
	reqs []*sip.Request
}

func newFakeRegistrar(t *testing.T, script func(n int, req *sip.Request) *sip.Response) *fakeRegistrar {
	t.Helper()
	conn, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	f := &fakeRegistrar{conn: conn, script: script}
	go f.serve()
	return f
}

func (f *fakeRegistrar) serve() {
	buf := make([]byte, 65535)
	parser := sip.NewParser()
	for {
		n, src, err := f.conn.ReadFrom(buf)
		if err != nil {
			return
		}
		msg, err := parser.ParseSIP(append([]byte(nil), buf[:n]...))
		if err != nil {
			continue
		}
		req, ok := msg.(*sip.Request)
		if !ok {
			continue
		}
		f.mu.Lock()
		f.reqs = append(f.reqs, req)
		count := 0
		for _, r := range f.reqs {
			if r.Method == req.Method {
				count++
			}
		}
		f.mu.Unlock()
		if res := f.script(count, req); res != nil {
			_, _ = f.conn.WriteTo([]byte(res.String()), src)
		}
	}
}

func (f *fakeRegistrar) uri() string { return "sip:" + f.conn.LocalAddr().String() }

// requests returns what arrived so far of method.
func (f *fakeRegistrar) requests(method sip.RequestMethod) []*sip.Request {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []*sip.Request
	for _, r := range f.reqs {
		if r.Method == method {
			out = append(out, r)
		}
	}
	return out
}

// reply builds a response to req with extra headers ("Name: value").
func reply(req *sip.Request, code int, reason string, headers ...string) *sip.Response {
	res := sip.NewResponseFromRequest(req, code, reason, nil)
	for _, h := range headers {
		name, value, _ := strings.Cut(h, ": ")
		res.AppendHeader(sip.NewHeader(name, value))
	}
	return res
}

// okWithContact answers a REGISTER 200 with its own Contact and an expires parameter.
func okWithContact(req *sip.Request, expires string) *sip.Response {
	res := sip.NewResponseFromRequest(req, 200, "OK", nil)
	c := req.Contact().Clone()
	c.Params = sip.NewParams()
	if expires != "" {
		c.Params.Add("expires", expires)
	}
	res.AppendHeader(c)
	return res
}

// attempts collects the results a registration reports.
type attempts struct {
	mu      sync.Mutex
	results []string
}

func (a *attempts) add(r string) { a.mu.Lock(); a.results = append(a.results, r); a.mu.Unlock() }
func (a *attempts) list() []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]string(nil), a.results...)
}

// startTestRegistration registers srv with f; the retry schedule is shortened unless cfg sets it.
func startTestRegistration(t *testing.T, srv *Server, f *fakeRegistrar, cfg RegistrationConfig) (*Registration, *attempts) {
	t.Helper()
	a := &attempts{}
	cfg.Trunk, cfg.URI = "carrier", f.uri()
	cfg.Username = cmpOr(cfg.Username, "3004")
	cfg.Password = cmpOr(cfg.Password, "secret")
	cfg.OnAttempt = a.add
	cfg.retryMin = cmpOr(cfg.retryMin, 20*time.Millisecond)
	cfg.retryMax = cmpOr(cfg.retryMax, 100*time.Millisecond)
	cfg.roundTimeout = cmpOr(cfg.roundTimeout, 300*time.Millisecond)
	r, err := srv.StartRegistration(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		r.Stop(ctx)
	})
	return r, a
}

func waitState(t *testing.T, r *Registration, st RegistrationState) RegistrationStatus {
	t.Helper()
	testkit.WaitFor(t, 10*time.Second, "registration "+string(st), func() bool { return r.Status().State == st })
	return r.Status()
}

// challenge401 is a registrar that challenges every REGISTER without credentials, checks the
// answer against password, and grants 60 s.
func challenge401(t *testing.T, algorithm, qop, password string) func(int, *sip.Request) *sip.Response {
	return func(n int, req *sip.Request) *sip.Response {
		h := req.GetHeader("Authorization")
		if h == nil {
			params := fmt.Sprintf(`Digest realm="carrier.test", nonce="n-%d", algorithm=%s`, n, algorithm)
			if qop != "" {
				params += `, qop="` + qop + `"`
			}
			return reply(req, 401, "Unauthorized", "WWW-Authenticate: "+params)
		}
		p, err := parseDigestParams(h.Value())
		if err != nil {
			t.Errorf("unparsable Authorization %q: %v", h.Value(), err)
			return reply(req, 400, "Bad Request")
		}
		want := digestResponse(algorithm, p["username"], p["realm"], password, "REGISTER", p["uri"], p["nonce"], p["nc"], p["cnonce"], p["qop"])
		if p["response"] != want || p["uri"] != req.Recipient.String() || p["username"] != "3004" || p["algorithm"] != algorithm {
			return reply(req, 403, "Forbidden")
		}
		return okWithContact(req, "60")
	}
}

func TestRegisterAnswersDigestChallenges(t *testing.T) {
	for _, c := range []struct{ algorithm, qop string }{{"MD5", "auth"}, {"SHA-256", "auth"}, {"MD5", ""}, {"SHA-256", "auth-int,auth"}} {
		t.Run(c.algorithm+"/"+c.qop, func(t *testing.T) {
			srv := newTestServer(t, func(*InboundCall) {})
			f := newFakeRegistrar(t, challenge401(t, c.algorithm, c.qop, "secret"))
			r, a := startTestRegistration(t, srv, f, RegistrationConfig{Expires: time.Minute})
			st := waitState(t, r, RegistrationRegistered)
			if left := time.Until(st.Until); left < 50*time.Second || left > time.Minute {
				t.Errorf("binding held until %v (in %v), want about 60 s from now", st.Until, left)
			}
			if got := a.list(); len(got) != 1 || got[0] != RegisterResultRegistered {
				t.Errorf("attempt results %v, want one registered", got)
			}
			regs := f.requests(sip.REGISTER)
			if len(regs) != 2 {
				t.Fatalf("%d REGISTERs, want the first and its answer to the challenge", len(regs))
			}
			if regs[0].CallID().Value() != regs[1].CallID().Value() || regs[1].CSeq().SeqNo != regs[0].CSeq().SeqNo+1 {
				t.Errorf("REGISTERs must share a Call-ID and count CSeq up (RFC 3261 §10.2): %v %v / %v %v",
					regs[0].CallID(), regs[0].CSeq(), regs[1].CallID(), regs[1].CSeq())
			}
			if v := regs[0].Via(); !v.Params.Has("rport") || v.Host != "127.0.0.1" || v.Port != int(srv.Listeners()[0].Addr.Port()) {
				t.Errorf("Via %v: want our address and listening port, with rport (RFC 3581) for NAT", v)
			}
			if regs[0].Recipient.User != "" || regs[0].To().Address.User != "3004" || regs[0].Contact().Address.User != "3004" {
				t.Errorf("Request-URI %v, To %v, Contact %v: want no user, the AOR's user, the contact user", regs[0].Recipient, regs[0].To(), regs[0].Contact())
			}
		})
	}
}

func TestRegisterWithWrongPasswordFailsOnTheSecondChallenge(t *testing.T) {
	srv := newTestServer(t, func(*InboundCall) {})
	// The registrar challenges again with the same nonce when the answer is wrong.
	f := newFakeRegistrar(t, func(n int, req *sip.Request) *sip.Response {
		return reply(req, 401, "Unauthorized", `WWW-Authenticate: Digest realm="carrier.test", nonce="same", qop="auth"`)
	})
	r, a := startTestRegistration(t, srv, f, RegistrationConfig{Password: "wrong", retryMin: time.Hour})
	st := waitState(t, r, RegistrationRetrying)
	if !strings.Contains(st.Error, "refused our credentials") {
		t.Errorf("error %q should say the credentials were refused", st.Error)
	}
	if got := a.list(); len(got) != 1 || got[0] != RegisterResultAuthFailed {
		t.Errorf("attempt results %v, want one auth_failed", got)
	}
	if n := len(f.requests(sip.REGISTER)); n != 2 {
		t.Errorf("%d REGISTERs in one attempt against endless 401s, want 2 (one challenge answered)", n)
	}
}

func TestRegisterAnswersOneStaleNonceThenGivesUp(t *testing.T) {
	for _, c := range []struct {
		name      string
		staleFrom int // REGISTERs from this one on get stale=true with a new nonce
		want      RegistrationState
		sends     int
	}{
		{"one stale nonce is answered", 2, RegistrationRegistered, 3},
		{"endless stale nonces are not", 1, RegistrationRetrying, 3},
	} {
		t.Run(c.name, func(t *testing.T) {
			srv := newTestServer(t, func(*InboundCall) {})
			f := newFakeRegistrar(t, func(n int, req *sip.Request) *sip.Response {
				if n == 3 && c.want == RegistrationRegistered {
					return okWithContact(req, "60")
				}
				stale := ""
				if n >= c.staleFrom && n > 1 {
					stale = ", stale=true"
				}
				return reply(req, 401, "Unauthorized", fmt.Sprintf(`WWW-Authenticate: Digest realm="r", nonce="n%d"%s`, n, stale))
			})
			r, _ := startTestRegistration(t, srv, f, RegistrationConfig{retryMin: time.Hour})
			waitState(t, r, c.want)
			if n := len(f.requests(sip.REGISTER)); n != c.sends {
				t.Errorf("%d REGISTERs, want %d", n, c.sends)
			}
		})
	}
}

// TestRegisterRefusesHostileChallenges: a challenge we cannot or should not answer fails the
// attempt at once, with its reason, costing one REGISTER.
func TestRegisterRefusesHostileChallenges(t *testing.T) {
	for _, c := range []struct{ name, header, wantErr string }{
		{"huge nonce", `WWW-Authenticate: Digest realm="r", nonce="` + strings.Repeat("x", 3000) + `"`, "over the 1024-byte cap"},
		{"huge header", `WWW-Authenticate: Digest realm="r", nonce="n", opaque="` + strings.Repeat("o,", 2500) + `"`, "over the 4096-byte cap"},
		{"unknown algorithm", `WWW-Authenticate: Digest realm="r", nonce="n", algorithm=AKAv1-MD5`, "not MD5 or SHA-256"},
		{"auth-int only", `WWW-Authenticate: Digest realm="r", nonce="n", qop="auth-int"`, "does not offer auth"},
		{"no nonce", `WWW-Authenticate: Digest realm="r"`, "no nonce"},
		{"basic", `WWW-Authenticate: Basic realm="r"`, "not Digest"},
		{"unterminated", `WWW-Authenticate: Digest realm="r, nonce=n`, "unterminated"},
		{"no challenge", ``, "no challenge"},
		{"nonce twice", `WWW-Authenticate: Digest realm="r", nonce="a", nonce="b"`, "given twice"},
	} {
		t.Run(c.name, func(t *testing.T) {
			srv := newTestServer(t, func(*InboundCall) {})
			f := newFakeRegistrar(t, func(n int, req *sip.Request) *sip.Response {
				if c.header == "" {
					return reply(req, 401, "Unauthorized")
				}
				return reply(req, 401, "Unauthorized", c.header)
			})
			r, a := startTestRegistration(t, srv, f, RegistrationConfig{retryMin: time.Hour})
			st := waitState(t, r, RegistrationRetrying)
			if !strings.Contains(st.Error, c.wantErr) {
				t.Errorf("error %q, want it to say %q", st.Error, c.wantErr)
			}
			if got := a.list(); len(got) != 1 || got[0] != RegisterResultAuthFailed {
				t.Errorf("attempt results %v, want one auth_failed", got)
			}
			if n := len(f.requests(sip.REGISTER)); n != 1 {
				t.Errorf("%d REGISTERs, want 1", n)
			}
		})
	}
}

// TestRegisterReadsWhatTheRegistrarGranted: our Contact's expires, else Expires, else what we
// asked, never more than we asked; absurd values cost only the registration.
func TestRegisterReadsWhatTheRegistrarGranted(t *testing.T) {
	for _, c := range []struct {
		name    string
		answer  func(req *sip.Request) *sip.Response
		granted time.Duration // 0: the attempt must fail
	}{
		{"contact expires", func(req *sip.Request) *sip.Response { return okWithContact(req, "30") }, 30 * time.Second},
		{"contact expires 2^63", func(req *sip.Request) *sip.Response { return okWithContact(req, "9223372036854775808") }, time.Minute},
		{"contact expires 2^70", func(req *sip.Request) *sip.Response {
			return okWithContact(req, "1180591620717411303424")
		}, time.Minute},
		{"Expires header when the contact has none", func(req *sip.Request) *sip.Response {
			res := okWithContact(req, "")
			res.AppendHeader(sip.NewHeader("Expires", "20"))
			return res
		}, 20 * time.Second},
		{"negative: what we asked", func(req *sip.Request) *sip.Response { return okWithContact(req, "-5") }, time.Minute},
		{"no Contact, Expires header", func(req *sip.Request) *sip.Response { return reply(req, 200, "OK", "Expires: 40") }, 40 * time.Second},
		{"zero: no binding", func(req *sip.Request) *sip.Response { return okWithContact(req, "0") }, 0},
		{"someone else's binding only", func(req *sip.Request) *sip.Response {
			res := sip.NewResponseFromRequest(req, 200, "OK", nil)
			res.AppendHeader(&sip.ContactHeader{Address: sip.Uri{Scheme: "sip", User: "other", Host: "192.0.2.1", Port: 5060}})
			return res
		}, 0},
	} {
		t.Run(c.name, func(t *testing.T) {
			srv := newTestServer(t, func(*InboundCall) {})
			f := newFakeRegistrar(t, func(n int, req *sip.Request) *sip.Response { return c.answer(req) })
			r, a := startTestRegistration(t, srv, f, RegistrationConfig{Expires: time.Minute, retryMin: time.Hour})
			if c.granted == 0 {
				waitState(t, r, RegistrationRetrying)
				if got := a.list(); len(got) != 1 || got[0] != RegisterResultRejected {
					t.Errorf("attempt results %v, want one rejected", got)
				}
				return
			}
			st := waitState(t, r, RegistrationRegistered)
			if left := time.Until(st.Until); left > c.granted || left < c.granted-5*time.Second {
				t.Errorf("binding held for %v, want %v", left.Round(time.Second), c.granted)
			}
		})
	}
}

func TestRegister423RaisesExpiresToMinExpires(t *testing.T) {
	for _, c := range []struct {
		minExpires string
		want       RegistrationState
	}{
		{"120", RegistrationRegistered},
		{"9223372036854775807", RegistrationRetrying}, // more than a day: refused
		{"30", RegistrationRetrying},                  // less than we asked: no sense
		{"", RegistrationRetrying},
	} {
		t.Run(c.minExpires, func(t *testing.T) {
			srv := newTestServer(t, func(*InboundCall) {})
			f := newFakeRegistrar(t, func(n int, req *sip.Request) *sip.Response {
				if req.GetHeader("Expires").Value() == "60" {
					return reply(req, 423, "Interval Too Brief", "Min-Expires: "+c.minExpires)
				}
				return okWithContact(req, "")
			})
			r, _ := startTestRegistration(t, srv, f, RegistrationConfig{Expires: time.Minute, retryMin: time.Hour})
			waitState(t, r, c.want)
			regs := f.requests(sip.REGISTER)
			if c.want == RegistrationRegistered && (len(regs) != 2 || regs[1].GetHeader("Expires").Value() != c.minExpires) {
				t.Errorf("after 423 the REGISTERs asked %v, want 60 then %s", expiresOf(regs), c.minExpires)
			}
			if c.want == RegistrationRetrying && len(regs) != 1 {
				t.Errorf("a 423 we cannot meet should cost one REGISTER, not %d", len(regs))
			}
		})
	}
}

func expiresOf(regs []*sip.Request) []string {
	var out []string
	for _, r := range regs {
		out = append(out, r.GetHeader("Expires").Value())
	}
	return out
}

func TestRegisterRetriesUntilTheRegistrarAnswers(t *testing.T) {
	srv := newTestServer(t, func(*InboundCall) {})
	var mu sync.Mutex
	down := true
	f := newFakeRegistrar(t, func(n int, req *sip.Request) *sip.Response {
		mu.Lock()
		defer mu.Unlock()
		if down {
			return nil
		}
		return okWithContact(req, "60")
	})
	r, a := startTestRegistration(t, srv, f, RegistrationConfig{})
	testkit.WaitFor(t, 10*time.Second, "three timed-out attempts", func() bool { return len(a.list()) >= 3 })
	if st := r.Status(); st.State != RegistrationRetrying || !strings.Contains(st.Error, "no answer") {
		t.Errorf("status %+v, want retrying after no answer", st)
	}
	mu.Lock()
	down = false
	mu.Unlock()
	waitState(t, r, RegistrationRegistered)
	got := a.list()
	for _, res := range got[:len(got)-1] {
		if res != RegisterResultTimeout {
			t.Errorf("attempt results %v: want timeouts, then registered", got)
		}
	}
	if got[len(got)-1] != RegisterResultRegistered {
		t.Errorf("attempt results %v: want timeouts, then registered", got)
	}
}

func TestRetryWaitsAreSpreadByAFifth(t *testing.T) {
	for range 1000 {
		if d := jitter(10 * time.Second); d < 8*time.Second || d > 12*time.Second {
			t.Fatalf("jitter(10s) = %v, outside ±20 %%", d)
		}
	}
}

func TestRegisterStopUnregisters(t *testing.T) {
	srv := newTestServer(t, func(*InboundCall) {})
	f := newFakeRegistrar(t, challenge401(t, "MD5", "auth", "secret"))
	r, a := startTestRegistration(t, srv, f, RegistrationConfig{})
	waitState(t, r, RegistrationRegistered)
	r.Stop(t.Context())
	if st := r.Status(); st.State != RegistrationUnregistered {
		t.Errorf("state after Stop: %v", st.State)
	}
	regs := f.requests(sip.REGISTER)
	last := regs[len(regs)-1]
	if last.GetHeader("Expires").Value() != "0" || last.GetHeader("Authorization") == nil {
		t.Errorf("last REGISTER asked Expires %s (authorized: %v); want 0, answering the challenge",
			last.GetHeader("Expires").Value(), last.GetHeader("Authorization") != nil)
	}
	if got := a.list(); got[len(got)-1] != RegisterResultUnregistered {
		t.Errorf("attempt results %v, want the last unregistered", got)
	}
}

func TestRegisterKeepaliveUnansweredRegistersAgain(t *testing.T) {
	srv := newTestServer(t, func(*InboundCall) {})
	f := newFakeRegistrar(t, func(n int, req *sip.Request) *sip.Response {
		if req.Method == sip.OPTIONS && n == 1 {
			return reply(req, 200, "OK")
		}
		if req.Method == sip.OPTIONS {
			return nil // the path went dead
		}
		return okWithContact(req, "3600")
	})
	r, _ := startTestRegistration(t, srv, f, RegistrationConfig{Keepalive: 50 * time.Millisecond})
	waitState(t, r, RegistrationRegistered)
	// The binding is good for an hour: only a dead keep-alive brings the second REGISTER this soon.
	testkit.WaitFor(t, 10*time.Second, "a REGISTER after an unanswered keep-alive", func() bool { return len(f.requests(sip.REGISTER)) >= 2 })
	if n := len(f.requests(sip.OPTIONS)); n < 2 {
		t.Errorf("%d keep-alive OPTIONS before the new REGISTER, want 2 or more", n)
	}
}

func TestStartRegistrationNeedsAListenerForTheTransport(t *testing.T) {
	srv := startTestServer(t, Config{Listen: []string{"udp://127.0.0.1:0"}, Logger: slog.New(slog.DiscardHandler)}, func(*InboundCall) {})
	for _, uri := range []string{"sip:carrier.example;transport=tls", "sips:carrier.example", "sip:carrier.example;transport=tcp"} {
		if _, err := srv.StartRegistration(RegistrationConfig{Trunk: "t", URI: uri, Username: "u"}); err == nil || !strings.Contains(err.Error(), "no listener") {
			t.Errorf("%s with only a UDP listener: %v, want ErrNoTransport", uri, err)
		}
	}
}

// TestRegisterOverTCPFollowsTheTrunkURI: ;transport=tcp registers over TCP, with a Contact that
// says so, and the keep-alives go on the same connection.
func TestRegisterOverTCPFollowsTheTrunkURI(t *testing.T) {
	srv := startTestServer(t, Config{Listen: []string{"udp://127.0.0.1:0", "tcp://127.0.0.1:0"}, Logger: slog.New(slog.DiscardHandler)}, func(*InboundCall) {})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	got := make(chan *sip.Request, 16)
	conns := make(chan struct{}, 16)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			conns <- struct{}{}
			go func() {
				defer c.Close()
				r := bufio.NewReader(c)
				parser := sip.NewParser()
				for {
					var head strings.Builder
					for {
						line, err := r.ReadString('\n')
						if err != nil {
							return
						}
						if line == "\r\n" && head.Len() == 0 {
							continue // a CRLF keep-alive
						}
						head.WriteString(line)
						if line == "\r\n" {
							break
						}
					}
					msg, err := parser.ParseSIP([]byte(head.String()))
					if err != nil {
						t.Errorf("unparsable request over TCP: %v\n%s", err, head.String())
						return
					}
					req := msg.(*sip.Request)
					got <- req
					res := reply(req, 200, "OK")
					if req.Method == sip.REGISTER {
						res = okWithContact(req, "3600")
					}
					_, _ = c.Write([]byte(res.String()))
				}
			}()
		}
	}()
	r, err := srv.StartRegistration(RegistrationConfig{Trunk: "tcp", URI: "sip:" + ln.Addr().String() + ";transport=tcp", Username: "3004",
		Keepalive: 50 * time.Millisecond, retryMin: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Stop(context.Background()) })
	waitState(t, r, RegistrationRegistered)
	reg := <-got
	if reg.Method != sip.REGISTER || !strings.EqualFold(reg.Via().Transport, "TCP") {
		t.Errorf("first request %s over %s, want REGISTER over TCP", reg.Method, reg.Via().Transport)
	}
	if tp, _ := reg.Contact().Address.UriParams.Get("transport"); tp != "tcp" {
		t.Errorf("Contact %s: want transport=tcp, so calls come back over TCP", reg.Contact().Address.String())
	}
	for range 2 {
		select {
		case ka := <-got:
			if ka.Method != sip.OPTIONS {
				t.Errorf("%s while registered, want OPTIONS keep-alives", ka.Method)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("no keep-alive over TCP")
		}
	}
	if n := len(conns); n != 1 {
		t.Errorf("%d TCP connections, want the REGISTER's one reused by the keep-alives", n)
	}
}
