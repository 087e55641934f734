package debugapi

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Account is an account that may read its own debug records: its api_key is exchanged for tokens.
type Account struct {
	ID     string
	Name   string
	APIKey string
}

// APIConfig wires the Crossbar-compatible API.
type APIConfig struct {
	Store    Store
	Accounts []Account
	Node     string        // "node" of every envelope
	Version  string        // "version" of every envelope
	TokenTTL time.Duration // 0 = DefaultTokenTTL
	Now      func() time.Time
	Logger   *slog.Logger
	Media    *MediaStore // the media API's store (media_api.go); nil: no media routes

	// AuthFailures wrong api_keys from one source within AuthFailWindow block it from
	// PUT /v2/api_auth for AuthBlock (0 = DefaultAuthFailures, DefaultAuthFailWindow, DefaultAuthBlock).
	AuthFailures   int
	AuthFailWindow time.Duration
	AuthBlock      time.Duration
}

// API serves PUT /v2/api_auth and the pivot debug endpoints of Kazoo's crossbar (cb_pivot).
type API struct {
	cfg      APIConfig
	accounts map[string]Account // by ID; read-only after NewAPI
	auth     *authThrottle
	log      *slog.Logger
	channels ChannelControl // the channels API's calls (channels.go); set by UseChannels before serving
	// conferences are the conferences API's rooms (conferences.go); set by UseConferences before serving.
	conferences ConferenceControl
	confFwd     *Forwarder // asks the other live nodes for rooms this one does not host; nil: one node
}

// NewAPI prepares the API; Register puts it on a mux.
func NewAPI(cfg APIConfig) *API {
	if cfg.TokenTTL <= 0 {
		cfg.TokenTTL = DefaultTokenTTL
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	a := &API{cfg: cfg, accounts: make(map[string]Account, len(cfg.Accounts)), log: cfg.Logger,
		auth: newAuthThrottle(cfg.AuthFailures, cfg.AuthFailWindow, cfg.AuthBlock)}
	for _, acc := range cfg.Accounts {
		a.accounts[acc.ID] = acc
	}
	return a
}

// Register adds the API's routes to mux, and the call inspector page at /ui/. Methods are checked
// by the API's handlers, so a wrong one gets the error envelope (405) rather than the mux's plain text.
func (a *API) Register(mux *http.ServeMux) {
	mux.HandleFunc("/v2/api_auth", a.apiAuth)
	mux.HandleFunc("/v2/accounts/{account_id}/pivot/debug", a.listCalls)
	mux.HandleFunc("/v2/accounts/{account_id}/pivot/debug/{call_id}", a.callDetail)
	a.registerChannels(mux)
	a.registerConferences(mux)
	a.registerMedia(mux)
	mux.Handle("GET /ui/", inspector())
	mux.Handle("GET /ui", http.RedirectHandler("/ui/", http.StatusMovedPermanently))
}

// envelope is crossbar's response wrapper, for success and error alike.
type envelope struct {
	AuthToken    string          `json:"auth_token"`
	Data         json.RawMessage `json:"data"`
	Error        string          `json:"error,omitempty"`
	Message      string          `json:"message,omitempty"`
	NextStartKey string          `json:"next_start_key,omitempty"`
	Node         string          `json:"node"`
	PageSize     *int            `json:"page_size,omitempty"`
	RequestID    string          `json:"request_id"`
	Revision     string          `json:"revision"`
	StartKey     string          `json:"start_key,omitempty"`
	Status       string          `json:"status"`
	Timestamp    string          `json:"timestamp"`
	Version      string          `json:"version"`
}

// reply is one answer in the making: the request's id and token, echoed in its envelope.
type reply struct {
	w         http.ResponseWriter
	api       *API
	requestID string
	authToken string
}

func (a *API) newReply(w http.ResponseWriter, r *http.Request) *reply {
	id := r.Header.Get("X-Request-ID")
	if !validRequestID(id) {
		var b [16]byte
		_, _ = rand.Read(b[:])
		id = hex.EncodeToString(b[:])
	}
	w.Header().Set("X-Request-ID", id)
	return &reply{w: w, api: a, requestID: id}
}

func validRequestID(s string) bool {
	if s == "" || len(s) > 128 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] <= ' ' || s[i] >= 0x7f {
			return false
		}
	}
	return true
}

func (rp *reply) send(code int, env envelope, data any) {
	raw, err := json.Marshal(data)
	if err != nil {
		rp.api.log.Error("debug api: encoding a reply", "error", err)
		code, raw = http.StatusInternalServerError, []byte(`{"message":"internal error"}`)
		env = envelope{Status: "error", Error: "500", Message: "internal error"}
	}
	sum := sha256.Sum256(raw)
	env.AuthToken, env.Data, env.RequestID = rp.authToken, raw, rp.requestID
	env.Revision = hex.EncodeToString(sum[:16])
	env.Node, env.Version = rp.api.cfg.Node, rp.api.cfg.Version
	env.Timestamp = rp.api.cfg.Now().UTC().Format("2006-01-02T15:04:05Z")
	if env.Status == "" {
		env.Status = "success"
	}
	body, _ := json.Marshal(env)
	h := rp.w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	rp.w.WriteHeader(code)
	_, _ = rp.w.Write(append(body, '\n'))
}

func (rp *reply) ok(code int, data any) { rp.send(code, envelope{}, data) }

// fail answers with the error envelope: status "error", error = the HTTP code as a string.
func (rp *reply) fail(code int, message string) {
	rp.send(code, envelope{Status: "error", Error: strconv.Itoa(code), Message: message},
		map[string]string{"message": message})
}

// badParam answers 400 naming the parameter, its data in Kazoo's validation layout.
func (rp *reply) badParam(pe *paramError) {
	msg := "invalid " + pe.Param + ": " + pe.Message
	rp.send(http.StatusBadRequest, envelope{Status: "error", Error: "400", Message: msg},
		map[string]map[string]map[string]string{pe.Param: {"invalid": {"message": pe.Message}}})
}

func (rp *reply) methodNotAllowed(allow ...string) {
	rp.w.Header().Set("Allow", strings.Join(allow, ", "))
	rp.fail(http.StatusMethodNotAllowed, "method not allowed; use "+strings.Join(allow, " or "))
}

// requestToken is the crossbar auth token: the X-Auth-Token header, an Authorization bearer, or the
// auth_token query parameter.
func requestToken(r *http.Request) string {
	if t := r.Header.Get("X-Auth-Token"); t != "" {
		return t
	}
	if t, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer "); ok {
		return strings.TrimSpace(t)
	}
	return r.URL.Query().Get("auth_token")
}

// authorize checks the token against the account in the path: 401 without a valid token, 403 when it
// belongs to another account. It answers the request itself when it returns false.
func (a *API) authorize(rp *reply, r *http.Request) (string, bool) {
	token := requestToken(r)
	account, err := verifyToken(token, a.accounts, a.cfg.Now())
	if err != nil {
		rp.fail(http.StatusUnauthorized, err.Error())
		return "", false
	}
	rp.authToken = token
	if r.PathValue("account_id") != account {
		rp.fail(http.StatusForbidden, "the token's account may not read this account")
		return "", false
	}
	return account, true
}

// maxAuthBody bounds the PUT /v2/api_auth body.
const maxAuthBody = 64 << 10

// apiAuth exchanges an account's api_key for a token: PUT /v2/api_auth {"data":{"api_key":"..."}}.
func (a *API) apiAuth(w http.ResponseWriter, r *http.Request) {
	rp := a.newReply(w, r)
	if r.Method != http.MethodPut {
		rp.methodNotAllowed(http.MethodPut)
		return
	}
	src := authSourceKey(r.RemoteAddr)
	if wait := a.auth.blocked(src, a.cfg.Now()); wait > 0 {
		rp.tooManyFailures(wait)
		return
	}
	var body struct {
		Data struct {
			APIKey string `json:"api_key"`
		} `json:"data"`
	}
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxAuthBody))
	if err := dec.Decode(&body); err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			rp.badParam(&paramError{"data", "the body is over 64 KiB"})
			return
		}
		rp.badParam(&paramError{"data", `the body must be JSON: {"data":{"api_key":"..."}}`})
		return
	}
	if body.Data.APIKey == "" {
		rp.badParam(&paramError{"data.api_key", "required"})
		return
	}
	acc, ok := a.accountByAPIKey(body.Data.APIKey)
	if !ok {
		if wait := a.auth.failed(src, a.cfg.Now()); wait > 0 {
			a.log.Warn("debug api: too many wrong api_keys; source blocked from api_auth",
				"source", src.String(), "block", wait)
		}
		rp.fail(http.StatusUnauthorized, "invalid credentials")
		return
	}
	expires := a.cfg.Now().Add(a.cfg.TokenTTL)
	rp.authToken = signToken(acc.ID, acc.APIKey, expires)
	rp.ok(http.StatusCreated, map[string]any{
		"account_id":   acc.ID,
		"account_name": acc.Name,
		"expires_at":   expires.UTC().Format("2006-01-02T15:04:05Z"),
	})
}

// accountByAPIKey compares against every key in constant time (over their hashes, so lengths leak
// nothing either).
func (a *API) accountByAPIKey(key string) (Account, bool) {
	want := sha256.Sum256([]byte(key))
	var found Account
	var ok bool
	for _, acc := range a.cfg.Accounts {
		have := sha256.Sum256([]byte(acc.APIKey))
		if subtle.ConstantTimeCompare(want[:], have[:]) == 1 && acc.APIKey != "" {
			found, ok = acc, true
		}
	}
	return found, ok
}
