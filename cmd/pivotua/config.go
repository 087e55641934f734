package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/pivotua/pivotua/callapi"
	"github.com/pivotua/pivotua/codec"
	"github.com/pivotua/pivotua/debugapi"
	"github.com/pivotua/pivotua/flow"
	"github.com/pivotua/pivotua/httpfetch"
	"github.com/pivotua/pivotua/media"
	"github.com/pivotua/pivotua/mediastream"
	"github.com/pivotua/pivotua/recordings"
	"github.com/pivotua/pivotua/sip"
	"github.com/pivotua/pivotua/speech"
	"go.yaml.in/yaml/v4"
)

// Config is the config file of product.md, as written (YAML or JSON). Each
// section is the Settings type of the package that uses it, with its YAML
// keys, defaults and checks; cmd/pivotua owns only what it wires itself
// (node, shutdown_grace, http, log) and what spans sections (accounts,
// callflows, trunks). Durations and addresses stay strings so that every
// problem is reported with its path.
type Config struct {
	Node string       `yaml:"node" json:"node"`
	SIP  sip.Settings `yaml:"sip" json:"sip"`
	// ShutdownGrace is how long live calls may go on after SIGTERM before they
	// get BYE (default 30s); new INVITEs get 503 meanwhile.
	ShutdownGrace string                 `yaml:"shutdown_grace" json:"shutdown_grace"`
	Fetch         httpfetch.Settings     `yaml:"fetch" json:"fetch"`
	RTP           media.Settings         `yaml:"rtp" json:"rtp"`
	HTTP          HTTPConfig             `yaml:"http" json:"http"`
	Store         debugapi.StoreSettings `yaml:"store" json:"store"`
	TTS           codec.TTSSettings      `yaml:"tts" json:"tts"`
	Media         flow.MediaSettings     `yaml:"media" json:"media"`
	Recordings    recordings.Settings    `yaml:"recordings" json:"recordings"`
	API           callapi.Settings       `yaml:"api" json:"api"`
	Streams       mediastream.Settings   `yaml:"streams" json:"streams"`
	Speech        speech.Settings        `yaml:"speech" json:"speech"`
	Log           LogConfig              `yaml:"log" json:"log"`
	Accounts      []AccountConfig        `yaml:"accounts" json:"accounts"`
	Callflows     []CallflowConfig       `yaml:"callflows" json:"callflows"`
	Trunks        []TrunkConfig          `yaml:"trunks" json:"trunks"`

	// MediaStore is where the Kazoo media API keeps accounts' audio (debugapi's).
	MediaStore debugapi.MediaStoreSettings `yaml:"media_store" json:"media_store"`
}

// RateLimitConfig is sip.rate_limit, by the name this file gave it before sip owned it.
type RateLimitConfig = sip.RateLimitSettings

// HTTPConfig is the http: section: pivotua's own listener, which this command serves.
type HTTPConfig struct {
	Listen string `yaml:"listen" json:"listen"`
	// Limits on what one client may hold; see httpLimits.
	ReadTimeout    string `yaml:"read_timeout" json:"read_timeout"`
	WriteTimeout   string `yaml:"write_timeout" json:"write_timeout"`
	IdleTimeout    string `yaml:"idle_timeout" json:"idle_timeout"`
	MaxHeaderBytes int    `yaml:"max_header_bytes" json:"max_header_bytes"`
	MaxConnections int    `yaml:"max_connections" json:"max_connections"`
}

type LogConfig struct {
	Level  string `yaml:"level" json:"level"`   // debug | info | warn | error
	Format string `yaml:"format" json:"format"` // text | json
}

type AccountConfig struct {
	ID     string `yaml:"id" json:"id"`
	Name   string `yaml:"name" json:"name"`
	APIKey string `yaml:"api_key" json:"api_key"`
}

type CallflowConfig struct {
	AccountID string   `yaml:"account_id" json:"account_id"`
	Numbers   []string `yaml:"numbers" json:"numbers"`
	Patterns  []string `yaml:"patterns" json:"patterns"`
	Flow      any      `yaml:"flow" json:"flow"`
}

type TrunkConfig struct {
	Name     string `yaml:"name" json:"name"`
	URI      string `yaml:"uri" json:"uri"`
	Username string `yaml:"username" json:"username"`
	Password string `yaml:"password" json:"password"`
	// Accounts may dial through the trunk; empty: every account.
	Accounts []string `yaml:"accounts" json:"accounts"`
	// CAFile holds the PEM roots the trunk's TLS certificate must chain to; empty: the system's.
	CAFile string `yaml:"ca_file" json:"ca_file"`
	// Source is the IP of the sip.listen entry the trunk's calls leave from; empty: the first of the transport.
	Source string `yaml:"source" json:"source"`
	// Register with the trunk as a client (sip.RegistrationSettings has the keys' meaning).
	Register      bool   `yaml:"register" json:"register"`
	Expires       string `yaml:"expires" json:"expires"`
	OutboundProxy string `yaml:"outbound_proxy" json:"outbound_proxy"`
	ContactUser   string `yaml:"contact_user" json:"contact_user"`
	Keepalive     string `yaml:"keepalive" json:"keepalive"`
	// Credentials the trunk's INVITEs from outside sip.allow_cidrs must prove by digest.
	InboundUsername string `yaml:"inbound_username" json:"inbound_username"`
	InboundPassword string `yaml:"inbound_password" json:"inbound_password"`
	// SRTP overrides rtp.srtp for the legs dialled through the trunk; empty: rtp.srtp.
	SRTP string `yaml:"srtp" json:"srtp"`
}

// Settings is a validated Config: each section in the form its package takes,
// handed over whole when wiring.
type Settings struct {
	// Source is the config file read, or "" for the embedded default.
	Source string
	// Warnings are what is legal but probably not meant (no callflow at all).
	Warnings      []string
	Node          string
	ShutdownGrace time.Duration
	LogLevel      string
	LogFormat     string
	HTTPListen    string
	HTTPLimits    httpLimits

	// SIP is the server's Config; its UserAgent, Logger and Egress are set when wiring.
	SIP sip.Config
	// SIPEgress is sip.egress, the policy on where Dial's legs may go.
	SIPEgress sip.EgressPolicy
	// RTP is the media engine's Config; its Logger is set when wiring.
	RTP media.Config
	// RealtimePrio is rtp.realtime_priority: the whole process's scheduling, not the engine's.
	RealtimePrio int
	// DenyCIDRs is fetch.deny_cidrs, for every outbound HTTP request.
	DenyCIDRs []netip.Prefix
	Store     debugapi.StoreConfig
	// StoreDSN is store.dsn, a sqlite file resolved against the config file's folder.
	StoreDSN string
	// MediaStore is media_store: checked, its dir resolved against the config file's folder.
	MediaStore debugapi.MediaStoreConfig
	// Recordings is recordings.dir resolved against the config file's folder: flow writes
	// recordings there, the upload spool lives in it and the recordings server serves from it.
	Recordings string
	Recording  recordings.Config
	TTS        codec.TTSSettings
	Media      flow.MediaSettings
	// API is the api: section: the Calls API's limits and how long ended calls stay listed.
	API callapi.Config
	// Streams is the streams: section checked, for the media stream client.
	Streams mediastream.Config
	// Speech is the speech: section checked, for the recogniser.
	Speech speech.Settings

	Accounts map[string]AccountConfig
	Routes   []flow.Route
	Trunks   []flow.Trunk
	// Registrations are the trunks with register: true.
	Registrations []sip.RegistrationConfig
}

// ConfigError is one problem in a config file, named by its path.
type ConfigError struct {
	Path    string
	Message string
}

func (e *ConfigError) Error() string {
	if e.Path == "" {
		return e.Message
	}
	return e.Path + ": " + e.Message
}

// errUnreadable marks a config file that could not be read or parsed at all.
var errUnreadable = errors.New("config unreadable")

func defaultConfig() Config {
	host, _ := os.Hostname()
	return Config{
		Node:          "pivotua@" + host,
		ShutdownGrace: "30s",
		SIP:           sip.DefaultSettings(),
		RTP:           media.DefaultSettings(),
		HTTP:          HTTPConfig{Listen: "127.0.0.1:8000", ReadTimeout: "10s", WriteTimeout: "30s", IdleTimeout: "60s", MaxHeaderBytes: 32 << 10, MaxConnections: 1024},
		Store:         debugapi.DefaultStoreSettings(),
		TTS:           codec.DefaultTTSSettings(),
		Media:         flow.DefaultMediaSettings(),
		Recordings:    recordings.DefaultSettings(),
		API:           callapi.DefaultSettings(),
		Streams:       mediastream.DefaultSettings(),
		Speech:        speech.DefaultSettings(),
		Log:           LogConfig{Level: "info", Format: "text"},
		MediaStore:    debugapi.DefaultMediaStoreSettings(),
	}
}

// parseConfig reads YAML (JSON is YAML too) over the defaults. A file that is
// empty or not YAML at all is errUnreadable and cfg is unusable; unknown keys
// and wrong-typed values are ConfigErrors, left out of cfg (their defaults
// stay) so that validate still checks the rest and every problem shows at once.
func parseConfig(data []byte) (Config, []error) {
	cfg := defaultConfig()
	if len(bytes.TrimSpace(data)) == 0 {
		return cfg, []error{fmt.Errorf("%w: the file is empty", errUnreadable)}
	}
	var doc yaml.Node
	if err := yaml.Load(data, &doc); err != nil {
		return cfg, []error{fmt.Errorf("%w: %v", errUnreadable, err)}
	}
	var errs []error
	if len(doc.Content) == 1 && checkNode(doc.Content[0], reflect.TypeFor[Config](), "", &errs) {
		if err := doc.Load(&cfg); err != nil {
			// checkNode cut out what the decoder refuses, bar merge keys (<<).
			errs = append(errs, &ConfigError{Message: loadProblem(err)})
		}
	}
	return cfg, errs
}

// checkNode reports what in n does not fit t, by the path the user wrote:
// unknown keys (typos), keys set twice and values of the wrong type. It cuts
// them out of n so that decoding the rest cannot fail; it returns false when n
// itself must go. A bad list item becomes a zero value rather than going, so
// that the items after it keep their index.
func checkNode(n *yaml.Node, t reflect.Type, path string, errs *[]error) bool {
	bad := func(format string, args ...any) bool {
		*errs = append(*errs, &ConfigError{Path: path, Message: fmt.Sprintf(format, args...)})
		return false
	}
	switch {
	case n.ShortTag() == "!!null":
		return true
	case n.Kind == yaml.AliasNode || t.Kind() == reflect.Interface:
		// Aliases and free-form values (a flow) are left to the decoder,
		// which knows their cycles and duplicate keys.
		if err := n.Load(reflect.New(t).Interface()); err != nil {
			return bad("%s", loadProblem(err))
		}
		return true
	case t.Kind() == reflect.Struct:
		if n.Kind != yaml.MappingNode {
			if path == "" {
				return bad("the file must be a mapping of settings such as sip: and callflows:, not %s (line %d)", nodeWhat(n), n.Line)
			}
			return bad("must be a mapping, not %s (line %d)", nodeWhat(n), n.Line)
		}
		fields := map[string]reflect.Type{}
		var names []string
		for f := range t.Fields() {
			name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
			fields[name] = f.Type
			names = append(names, name)
		}
		seen := map[string]int{} // key: line
		kept := n.Content[:0]
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			p := joinKey(path, k.Value)
			ft, known := fields[k.Value]
			switch {
			case k.Value == "<<": // a merge key: what it merges is checked as if written here
				merged, ok := []*yaml.Node{v}, true
				if v.Kind == yaml.SequenceNode {
					merged = v.Content
				}
				for _, m := range merged {
					ok = checkNode(m, t, path, errs) && ok
				}
				if !ok {
					continue
				}
			case !known:
				*errs = append(*errs, &ConfigError{Path: p, Message: fmt.Sprintf("unknown key (line %d); expected one of %s", k.Line, strings.Join(names, ", "))})
				continue
			case seen[k.Value] > 0:
				*errs = append(*errs, &ConfigError{Path: p, Message: fmt.Sprintf("set twice (lines %d and %d)", seen[k.Value], k.Line)})
				continue
			case !checkNode(v, ft, p, errs):
				continue
			}
			seen[k.Value] = k.Line
			kept = append(kept, k, v)
		}
		n.Content = kept
		return true
	case t.Kind() == reflect.Slice:
		if n.Kind != yaml.SequenceNode {
			return bad("must be a list, not %s (line %d)", nodeWhat(n), n.Line)
		}
		for i, item := range n.Content {
			if !checkNode(item, t.Elem(), fmt.Sprintf("%s[%d]", path, i), errs) {
				_ = item.Encode(reflect.Zero(t.Elem()).Interface())
			}
		}
		return true
	}
	if err := n.Load(reflect.New(t).Interface()); err != nil {
		want := "a " + t.Kind().String()
		switch t.Kind() {
		case reflect.Int, reflect.Int64:
			want = "an integer"
		case reflect.String:
			want = "a string"
		}
		return bad("must be %s, not %s (line %d)", want, nodeWhat(n), n.Line)
	}
	return true
}

// nodeWhat names a YAML value in an error: the scalar as written, or its kind.
func nodeWhat(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	}
	return strconv.Quote(n.Value)
}

// loadProblem is the decoder's first complaint, without the yaml package's prefixes.
func loadProblem(err error) string {
	var (
		all *yaml.LoadErrors
		one *yaml.LoadError
	)
	if errors.As(err, &all) && len(all.Errors) > 0 {
		one = all.Errors[0]
	}
	if one != nil || errors.As(err, &one) {
		return fmt.Sprintf("%s (line %d)", one.Message, one.Mark.Line)
	}
	return err.Error()
}

func joinKey(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// loadConfigFile reads and validates a config file. Relative paths in it are
// resolved against the file's folder.
func loadConfigFile(path string) (*Settings, []error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, []error{fmt.Errorf("%w: %v", errUnreadable, err)}
	}
	s, errs := loadConfig(data, filepath.Dir(path))
	if s != nil {
		s.Source = path
	}
	for i, err := range errs {
		if errors.Is(err, errUnreadable) {
			errs[i] = fmt.Errorf("%s: %w", path, err)
		}
	}
	return s, errs
}

// loadConfig parses and validates a config, returning every problem at once.
// What parseConfig reported (say a list item of the wrong type, now a zero
// value) is not reported again by validate, nor is anything under it.
func loadConfig(data []byte, baseDir string) (*Settings, []error) {
	cfg, errs := parseConfig(data)
	reported := map[string]bool{}
	for _, err := range errs {
		if errors.Is(err, errUnreadable) {
			return nil, errs
		}
		reported[errPath(err)] = true
	}
	s, verrs := cfg.validate(baseDir)
	for _, err := range verrs {
		if !underReported(errPath(err), reported) {
			errs = append(errs, err)
		}
	}
	if len(errs) > 0 {
		return nil, errs
	}
	return s, nil
}

// asConfigError turns a package's "path: message" error about its section into a
// ConfigError, so that every problem in the file has one shape.
func asConfigError(err error) error {
	path, msg, ok := strings.Cut(err.Error(), ": ")
	if !ok || strings.ContainsAny(path, " \"") {
		return &ConfigError{Message: err.Error()}
	}
	return &ConfigError{Path: path, Message: msg}
}

// errPath is the path a config or callflow error names.
func errPath(err error) string {
	var cerr *ConfigError
	var verr *flow.ValidationError
	switch {
	case errors.As(err, &cerr):
		return cerr.Path
	case errors.As(err, &verr):
		return verr.Path
	}
	return ""
}

// underReported says whether path is one of reported or lies under one.
func underReported(path string, reported map[string]bool) bool {
	for p := path; p != ""; {
		if reported[p] {
			return true
		}
		i := strings.LastIndexAny(p, ".[")
		if i < 0 {
			break
		}
		p = p[:i]
	}
	return false
}

var accountIDPattern = regexp.MustCompile(`^[0-9a-f]{32}$`)

// validate checks every section and callflow and returns all problems at once:
// each package checks its own section, named by its path; this file checks
// what it wires itself and what spans sections. baseDir anchors relative paths
// ("" keeps them relative to the working directory).
func (c Config) validate(baseDir string) (*Settings, []error) {
	var errs []error
	bad := func(path, format string, args ...any) {
		errs = append(errs, &ConfigError{Path: path, Message: fmt.Sprintf(format, args...)})
	}
	section := func(perrs []error) {
		for _, err := range perrs {
			errs = append(errs, asConfigError(err))
		}
	}
	duration := func(path, v string) time.Duration {
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 {
			bad(path, "%q is not a positive duration such as 15s or 5m", v)
		}
		return d
	}
	resolve := func(p string) string {
		if baseDir == "" || p == "" || filepath.IsAbs(p) {
			return p
		}
		return filepath.Join(baseDir, p)
	}

	s := &Settings{
		Node: c.Node, HTTPListen: c.HTTP.Listen, LogLevel: c.Log.Level, LogFormat: c.Log.Format,
		RealtimePrio: c.RTP.RealtimePriority, TTS: c.TTS, Media: c.Media,
		Recordings: resolve(c.Recordings.Dir), StoreDSN: c.Store.DSN,
		Accounts: map[string]AccountConfig{},
	}
	if s.Node == "" {
		host, _ := os.Hostname()
		s.Node = "pivotua@" + host
	}
	var perrs []error
	s.SIP, perrs = c.SIP.Config("sip")
	section(perrs)
	s.SIPEgress, perrs = c.SIP.Egress.Policy("sip.egress")
	section(perrs)
	s.DenyCIDRs, perrs = c.Fetch.DenyPrefixes("fetch.deny_cidrs")
	section(perrs)
	s.ShutdownGrace = duration("shutdown_grace", c.ShutdownGrace)
	s.RTP, perrs = c.RTP.Config("rtp")
	section(perrs)
	if _, err := netip.ParseAddrPort(c.HTTP.Listen); err != nil {
		bad("http.listen", "%q is not IP:PORT", c.HTTP.Listen)
	}
	s.HTTPLimits = httpLimits{
		ReadTimeout:    duration("http.read_timeout", c.HTTP.ReadTimeout),
		WriteTimeout:   duration("http.write_timeout", c.HTTP.WriteTimeout),
		IdleTimeout:    duration("http.idle_timeout", c.HTTP.IdleTimeout),
		MaxHeaderBytes: c.HTTP.MaxHeaderBytes,
		MaxConnections: c.HTTP.MaxConnections,
	}
	if c.HTTP.MaxHeaderBytes < 1024 || c.HTTP.MaxHeaderBytes > 1<<20 {
		bad("http.max_header_bytes", "must be between 1024 and 1048576, not %d", c.HTTP.MaxHeaderBytes)
	}
	if c.HTTP.MaxConnections < 0 {
		bad("http.max_connections", "must be 0 (no cap) or more, not %d", c.HTTP.MaxConnections)
	}
	s.Store, perrs = c.Store.Config("store")
	section(perrs)
	if c.Store.Driver == "sqlite" {
		s.StoreDSN = resolve(c.Store.DSN)
	}
	s.MediaStore, perrs = c.MediaStore.Config("media_store")
	section(perrs)
	s.MediaStore.Dir = resolve(s.MediaStore.Dir)
	s.Recording, perrs = c.Recordings.Config("recordings")
	section(perrs)
	s.API, perrs = c.API.Config("api")
	section(perrs)
	section(c.TTS.Validate("tts"))
	section(c.Media.Validate("media"))
	s.Streams, perrs = c.Streams.Config("streams")
	section(perrs)
	section(c.Speech.Validate("speech"))
	s.Speech = c.Speech
	switch c.Log.Level {
	case "debug", "info", "warn", "error":
	default:
		bad("log.level", "%q is not debug, info, warn or error", c.Log.Level)
	}
	switch c.Log.Format {
	case "text", "json":
	default:
		bad("log.format", "%q is not text or json", c.Log.Format)
	}

	for i, a := range c.Accounts {
		p := fmt.Sprintf("accounts[%d]", i)
		if !accountIDPattern.MatchString(a.ID) {
			bad(p+".id", "%q is not 32 lowercase hex characters", a.ID)
		}
		if a.APIKey == "" {
			bad(p+".api_key", "required: it signs requests and is exchanged for API tokens")
		}
		if _, dup := s.Accounts[a.ID]; dup {
			bad(p+".id", "account %s is listed twice", a.ID)
		}
		s.Accounts[a.ID] = a
	}
	if len(c.Callflows) == 0 {
		s.Warnings = append(s.Warnings, "callflows: none configured, so every call gets 404")
	}
	numberAt := map[string]string{} // number -> path of the first callflow entry routing it
	for i, cf := range c.Callflows {
		p := fmt.Sprintf("callflows[%d]", i)
		route := flow.Route{AccountID: cf.AccountID, Numbers: cf.Numbers}
		for j, n := range cf.Numbers {
			np := fmt.Sprintf("%s.numbers[%d]", p, j)
			if first, dup := numberAt[n]; dup {
				bad(np, "%q is already routed by %s; a number belongs to one callflow", n, first)
				continue
			}
			numberAt[n] = np
		}
		if _, ok := s.Accounts[cf.AccountID]; !ok {
			bad(p+".account_id", "%q is not one of the accounts", cf.AccountID)
		}
		if len(cf.Numbers) == 0 && len(cf.Patterns) == 0 {
			bad(p, "needs numbers or patterns to match calls")
		}
		for j, pat := range cf.Patterns {
			re, err := regexp.Compile(pat)
			if err != nil {
				bad(fmt.Sprintf("%s.patterns[%d]", p, j), "invalid regular expression: %v", err)
				continue
			}
			route.Patterns = append(route.Patterns, re)
		}
		if cf.Flow == nil {
			bad(p+".flow", "required: the callflow to run")
			continue
		}
		raw, err := json.Marshal(cf.Flow)
		if err != nil {
			bad(p+".flow", "cannot be read as a callflow: %v", err)
			continue
		}
		node, err := flow.ParseNode(raw, p+".flow")
		if err != nil {
			// Its validation errors carry their paths already; only a
			// document error (too big) lacks one.
			var verrs interface{ Unwrap() []error }
			if errors.As(err, &verrs) {
				errs = append(errs, verrs.Unwrap()...)
			} else {
				bad(p+".flow", "%v", err)
			}
			continue
		}
		errs = append(errs, flow.ValidateNode(node, p+".flow")...)
		errs = append(errs, flow.UnknownDataFields(node, p+".flow")...)
		route.Flow = node
		s.Routes = append(s.Routes, route)
	}
	inboundUsers := map[string]string{} // inbound_username -> the trunk path that has it
	for i, t := range c.Trunks {
		p := fmt.Sprintf("trunks[%d]", i)
		if t.Name == "" {
			bad(p+".name", "required")
		}
		if msg := flow.CheckSIPURI(t.URI); msg != "" { // what Dial would refuse on every call
			bad(p+".uri", "%s (%q)", msg, t.URI)
		}
		for j, id := range t.Accounts {
			if _, ok := s.Accounts[id]; !ok {
				bad(fmt.Sprintf("%s.accounts[%d]", p, j), "%q is not one of the accounts", id)
			}
		}
		if t.SRTP != "" && !media.ValidSRTPPolicy(t.SRTP) {
			bad(p+".srtp", "must be off, optional or mandatory, not %q", t.SRTP)
		}
		tr := flow.Trunk{Name: t.Name, URI: t.URI, Username: t.Username, Password: t.Password, Accounts: t.Accounts,
			SRTP: sip.SRTPPolicy(t.SRTP)}
		if t.CAFile != "" {
			roots, err := sip.LoadRootCAs(t.CAFile)
			if err != nil {
				bad(p+".ca_file", "%v", err)
			}
			tr.RootCAs = roots
		}
		if t.Source != "" {
			tr.Source = trunkSource(s.SIP.Listen, t.Source, p+".source", bad)
		}
		s.Trunks = append(s.Trunks, tr)
		reg, registers, perrs := sip.RegistrationSettings{Trunk: t.Name, URI: t.URI, Username: t.Username, Password: t.Password,
			Register: t.Register, Expires: t.Expires, OutboundProxy: t.OutboundProxy, ContactUser: t.ContactUser, Keepalive: t.Keepalive}.Config(p)
		section(perrs)
		reg.RootCAs = tr.RootCAs // a registrar on TLS is checked like the trunk's Dial legs
		if registers {
			for _, r := range s.Registrations { // its name labels its metrics and /readyz line
				if r.Trunk == t.Name {
					bad(p+".name", "%q is the name of another registering trunk", t.Name)
				}
			}
			s.Registrations = append(s.Registrations, reg)
		}
		if t.InboundUsername != "" || t.InboundPassword != "" {
			switch {
			case t.InboundUsername == "" || t.InboundPassword == "":
				bad(p+".inbound_username", "inbound_username and inbound_password go together")
			case strings.ContainsFunc(t.InboundUsername+t.InboundPassword, func(r rune) bool { return r < 0x20 || r == 0x7f }):
				bad(p+".inbound_username", "inbound_username and inbound_password may hold no control character")
			case inboundUsers[t.InboundUsername] != "":
				bad(p+".inbound_username", "%q is also %s's", t.InboundUsername, inboundUsers[t.InboundUsername])
			default:
				inboundUsers[t.InboundUsername] = p
				s.SIP.InboundAuth = append(s.SIP.InboundAuth, sip.InboundCredential{Trunk: t.Name, Username: t.InboundUsername, Password: t.InboundPassword})
			}
		}
	}
	if len(errs) > 0 {
		return nil, errs
	}
	return s, nil
}

// trunkSource reads trunks[].source: the IP of one of the listeners, since
// a leg can leave only from an address pivotua has bound.
func trunkSource(listen []string, source, path string, bad func(p, format string, args ...any)) netip.Addr {
	a, err := netip.ParseAddr(source)
	if err != nil {
		bad(path, "%q is not an IP address", source)
		return netip.Addr{}
	}
	for _, l := range listen {
		if _, addr, err := sip.ParseListen(l); err == nil && addr.Addr() == a {
			return a
		}
	}
	bad(path, "%s is not the address of any sip.listen entry", source)
	return netip.Addr{}
}
