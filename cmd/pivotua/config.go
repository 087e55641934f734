package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/pivotua/pivotua/codec"
	"github.com/pivotua/pivotua/debugapi"
	"github.com/pivotua/pivotua/flow"
	"github.com/pivotua/pivotua/internal/rtprio"
	"github.com/pivotua/pivotua/sip"
	"go.yaml.in/yaml/v4"
)

// Config is the config file of product.md, as written (YAML or JSON).
// Durations and addresses stay strings here; validate parses them so that
// every problem is reported with its path.
type Config struct {
	Node string    `yaml:"node" json:"node"`
	SIP  SIPConfig `yaml:"sip" json:"sip"`
	// ShutdownGrace is how long live calls may go on after SIGTERM before they
	// get BYE (default 30s); new INVITEs get 503 meanwhile.
	ShutdownGrace string           `yaml:"shutdown_grace" json:"shutdown_grace"`
	Fetch         FetchConfig      `yaml:"fetch" json:"fetch"`
	RTP           RTPConfig        `yaml:"rtp" json:"rtp"`
	HTTP          HTTPConfig       `yaml:"http" json:"http"`
	Store         StoreConfig      `yaml:"store" json:"store"`
	TTS           TTSConfig        `yaml:"tts" json:"tts"`
	Media         MediaConfig      `yaml:"media" json:"media"`
	Recordings    RecordingsConfig `yaml:"recordings" json:"recordings"`
	Log           LogConfig        `yaml:"log" json:"log"`
	Accounts      []AccountConfig  `yaml:"accounts" json:"accounts"`
	Callflows     []CallflowConfig `yaml:"callflows" json:"callflows"`
	Trunks        []TrunkConfig    `yaml:"trunks" json:"trunks"`
}

type SIPConfig struct {
	Listen     []string        `yaml:"listen" json:"listen"`
	ExternalIP string          `yaml:"external_ip" json:"external_ip"`
	AllowCIDRs []string        `yaml:"allow_cidrs" json:"allow_cidrs"`
	MaxCalls   int             `yaml:"max_calls" json:"max_calls"`
	RateLimit  RateLimitConfig `yaml:"rate_limit" json:"rate_limit"`
	// MaxMessageBytes caps one SIP message (default 65535; on UDP sipgo reads
	// at most 32 KiB per datagram whatever this says).
	MaxMessageBytes int `yaml:"max_message_bytes" json:"max_message_bytes"`
	// Egress limits where Dial's SIP legs may go (fetch.deny_cidrs' rules).
	Egress SIPEgressConfig `yaml:"egress" json:"egress"`
}

// SIPEgressConfig is checked on an outbound leg's resolved target and on
// the next hop its 2xx names, before anything is sent there.
type SIPEgressConfig struct {
	DenyCIDRs  []string `yaml:"deny_cidrs" json:"deny_cidrs"`
	AllowCIDRs []string `yaml:"allow_cidrs" json:"allow_cidrs"` // empty: any address not denied
}

// FetchConfig governs pivotua's outbound HTTP: webhooks, media, recording uploads.
type FetchConfig struct {
	// DenyCIDRs are destinations pivotua never connects to, checked on the
	// resolved address (no DNS-rebinding bypass, every redirect hop). Empty by
	// default because the demo app lives on 127.0.0.1; when developers you do
	// not trust write the webhooks, deny at least 127.0.0.0/8, 10.0.0.0/8,
	// 172.16.0.0/12, 192.168.0.0/16, 169.254.0.0/16 (cloud metadata), ::1/128,
	// fc00::/7 and fe80::/10.
	DenyCIDRs []string `yaml:"deny_cidrs" json:"deny_cidrs"`
}

type RateLimitConfig struct {
	Requests    int      `yaml:"requests" json:"requests"`
	Window      string   `yaml:"window" json:"window"`
	Block       string   `yaml:"block" json:"block"`
	ExemptCIDRs []string `yaml:"exempt_cidrs" json:"exempt_cidrs"`
}

type RTPConfig struct {
	IP           string `yaml:"ip" json:"ip"`
	PortMin      int    `yaml:"port_min" json:"port_min"`
	PortMax      int    `yaml:"port_max" json:"port_max"`
	MediaTimeout string `yaml:"media_timeout" json:"media_timeout"`
	// RealtimePriority, 1..99, runs pivotua under SCHED_FIFO at that priority
	// so a busy box cannot delay the send clock's wake-ups; 0 leaves it off.
	RealtimePriority int `yaml:"realtime_priority" json:"realtime_priority"`
}

type HTTPConfig struct {
	Listen string `yaml:"listen" json:"listen"`
	// Limits on what one client may hold; see httpLimits.
	ReadTimeout    string `yaml:"read_timeout" json:"read_timeout"`
	WriteTimeout   string `yaml:"write_timeout" json:"write_timeout"`
	IdleTimeout    string `yaml:"idle_timeout" json:"idle_timeout"`
	MaxHeaderBytes int    `yaml:"max_header_bytes" json:"max_header_bytes"`
	MaxConnections int    `yaml:"max_connections" json:"max_connections"`
}

type StoreConfig struct {
	Driver    string `yaml:"driver" json:"driver"`
	DSN       string `yaml:"dsn" json:"dsn"`
	Retention string `yaml:"retention" json:"retention"` // how long debug records are kept; default 744h (31 days)
	// QueueBytes bounds the debug records waiting for the store (default 64 MiB); past it new records
	// are dropped and counted in pivotua_debug_records_dropped_total{reason="queue_full"}.
	QueueBytes int `yaml:"queue_bytes" json:"queue_bytes"`
}

type TTSConfig struct {
	Engine string `yaml:"engine" json:"engine"`
	// CacheBytes bounds the rendered speech kept for reuse (default 64 MiB).
	CacheBytes int64 `yaml:"cache_bytes" json:"cache_bytes"`
}

// MediaConfig bounds what webhooks' media may cost in memory and processes.
type MediaConfig struct {
	// PromptCacheBytes bounds the decoded prompts kept for reuse (default 256 MiB); a prompt bigger
	// than all of it still plays, but is decoded for each play.
	PromptCacheBytes int64 `yaml:"prompt_cache_bytes" json:"prompt_cache_bytes"`
	// MaxProcesses caps the lame, flite and espeak-ng processes running at once; 0 means twice the CPUs.
	MaxProcesses int `yaml:"max_processes" json:"max_processes"`
}

type RecordingsConfig struct {
	Dir string `yaml:"dir" json:"dir"`
	// Retention is how long local recordings are kept (default 744h, as store.retention); "0"
	// keeps them forever. One still waiting in the upload spool or of a live call is never purged.
	Retention string `yaml:"retention" json:"retention"`
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
}

// Settings is a validated Config, parsed into the types the packages take.
type Settings struct {
	// Source is the config file read, or "" for the embedded default.
	Source string
	// Warnings are what is legal but probably not meant (no callflow at all).
	Warnings     []string
	Node         string
	SIPListen    []string
	ExternalIP   string
	AllowCIDRs   []netip.Prefix
	MaxCalls     int
	RTPIP        netip.Addr
	PortMin      int
	PortMax      int
	MediaTimeout time.Duration
	RealtimePrio int
	HTTPListen   string
	TTSEngine    string
	Recordings   string
	StoreDriver  string
	StoreDSN     string
	Retention    time.Duration
	QueueBytes   int64
	LogLevel     string
	LogFormat    string
	Accounts     map[string]AccountConfig
	Routes       []flow.Route
	Trunks       []flow.Trunk
	// RateLimit and MaxMessageBytes feed sip.GuardConfig.
	RateLimit       sip.RateLimit
	MaxMessageBytes int
	DenyCIDRs       []netip.Prefix
	SIPEgress       sip.EgressPolicy
	ShutdownGrace   time.Duration
	HTTPLimits      httpLimits
	// RecordingRetention is recordings.retention; 0 keeps recordings forever.
	RecordingRetention time.Duration

	// Media bounds (codec, flow): the speech and prompt caches' bytes, lame/TTS processes at once.
	SpeechCacheBytes int64
	PromptCacheBytes int64
	MaxProcesses     int
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
		SIP: SIPConfig{
			Listen:          []string{"udp://127.0.0.1:5060", "tcp://127.0.0.1:5060"},
			MaxCalls:        5000,
			MaxMessageBytes: sip.DefaultMaxMessageBytes,
			RateLimit: RateLimitConfig{
				Requests: 100, Window: "2s", Block: "5m",
			},
		},
		RTP:        RTPConfig{IP: "127.0.0.1", PortMin: 16384, PortMax: 32767, MediaTimeout: "15s"},
		HTTP:       HTTPConfig{Listen: "127.0.0.1:8000", ReadTimeout: "10s", WriteTimeout: "30s", IdleTimeout: "60s", MaxHeaderBytes: 32 << 10, MaxConnections: 1024},
		Store:      StoreConfig{Driver: "sqlite", DSN: "data/pivotua.db", Retention: "744h", QueueBytes: debugapi.DefaultQueueBytes},
		TTS:        TTSConfig{Engine: "flite", CacheBytes: codec.DefaultSpeechCacheBytes},
		Media:      MediaConfig{PromptCacheBytes: flow.DefaultPromptCacheBytes},
		Recordings: RecordingsConfig{Dir: "data/recordings", Retention: "744h"},
		Log:        LogConfig{Level: "info", Format: "text"},
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

// Bounds on the media settings: a cache under 1 MiB holds not even a minute of audio, and more
// lame/flite/espeak-ng processes than this would starve the send clock of CPU on any box.
const (
	minCacheBytes = 1 << 20
	maxProcesses  = 1024
)

var accountIDPattern = regexp.MustCompile(`^[0-9a-f]{32}$`)

// minQueueBytes is the smallest store.queue_bytes: a few large records (1 MiB bodies) must fit.
const minQueueBytes = 1 << 20

// validate checks every field and callflow and returns all problems at once.
// baseDir anchors relative paths ("" keeps them relative to the working directory).
func (c Config) validate(baseDir string) (*Settings, []error) {
	var errs []error
	bad := func(path, format string, args ...any) {
		errs = append(errs, &ConfigError{Path: path, Message: fmt.Sprintf(format, args...)})
	}
	duration := func(path, v string) time.Duration {
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 {
			bad(path, "%q is not a positive duration such as 15s or 5m", v)
		}
		return d
	}
	prefixes := func(path string, list []string) []netip.Prefix {
		var out []netip.Prefix
		for i, s := range list {
			p, err := netip.ParsePrefix(s)
			if err != nil {
				if a, aerr := netip.ParseAddr(s); aerr == nil {
					p = netip.PrefixFrom(a, a.BitLen())
				} else {
					bad(fmt.Sprintf("%s[%d]", path, i), "%q is not a CIDR such as 203.0.113.0/24", s)
					continue
				}
			}
			out = append(out, p.Masked())
		}
		return out
	}
	resolve := func(p string) string {
		if baseDir == "" || p == "" || filepath.IsAbs(p) {
			return p
		}
		return filepath.Join(baseDir, p)
	}

	s := &Settings{
		Node: c.Node, ExternalIP: c.SIP.ExternalIP, MaxCalls: c.SIP.MaxCalls,
		PortMin: c.RTP.PortMin, PortMax: c.RTP.PortMax, HTTPListen: c.HTTP.Listen,
		TTSEngine: c.TTS.Engine, Recordings: resolve(c.Recordings.Dir),
		SpeechCacheBytes: c.TTS.CacheBytes, PromptCacheBytes: c.Media.PromptCacheBytes, MaxProcesses: c.Media.MaxProcesses,
		StoreDriver: c.Store.Driver, StoreDSN: c.Store.DSN,
		LogLevel: c.Log.Level, LogFormat: c.Log.Format,
		Accounts: map[string]AccountConfig{},
	}
	if s.Node == "" {
		host, _ := os.Hostname()
		s.Node = "pivotua@" + host
	}
	if len(c.SIP.Listen) == 0 {
		bad("sip.listen", "at least one listener is required, e.g. udp://127.0.0.1:5060")
	}
	for i, l := range c.SIP.Listen {
		if _, _, err := sip.ParseListen(l); err != nil {
			bad(fmt.Sprintf("sip.listen[%d]", i), "%v", err)
		}
	}
	s.SIPListen = c.SIP.Listen
	if c.SIP.ExternalIP != "" {
		if _, err := netip.ParseAddr(c.SIP.ExternalIP); err != nil {
			bad("sip.external_ip", "%q is not an IP address", c.SIP.ExternalIP)
		}
	}
	s.AllowCIDRs = prefixes("sip.allow_cidrs", c.SIP.AllowCIDRs)
	if c.SIP.MaxCalls < 0 {
		bad("sip.max_calls", "must be 0 (no cap) or more, not %d", c.SIP.MaxCalls)
	}
	if c.SIP.RateLimit.Requests < 0 {
		bad("sip.rate_limit.requests", "must be 0 (off) or more, not %d", c.SIP.RateLimit.Requests)
	}
	s.RateLimit = sip.RateLimit{
		Requests: c.SIP.RateLimit.Requests,
		Window:   duration("sip.rate_limit.window", c.SIP.RateLimit.Window),
		Block:    duration("sip.rate_limit.block", c.SIP.RateLimit.Block),
		Exempt:   prefixes("sip.rate_limit.exempt_cidrs", c.SIP.RateLimit.ExemptCIDRs),
	}
	if c.SIP.MaxMessageBytes < 1024 || c.SIP.MaxMessageBytes > 65535 {
		bad("sip.max_message_bytes", "must be between 1024 and 65535, not %d", c.SIP.MaxMessageBytes)
	}
	s.MaxMessageBytes = c.SIP.MaxMessageBytes
	s.SIPEgress = sip.EgressPolicy{
		Deny:  prefixes("sip.egress.deny_cidrs", c.SIP.Egress.DenyCIDRs),
		Allow: prefixes("sip.egress.allow_cidrs", c.SIP.Egress.AllowCIDRs),
	}
	s.DenyCIDRs = prefixes("fetch.deny_cidrs", c.Fetch.DenyCIDRs)
	s.ShutdownGrace = duration("shutdown_grace", c.ShutdownGrace)

	ip, err := netip.ParseAddr(c.RTP.IP)
	if err != nil {
		bad("rtp.ip", "%q is not an IP address", c.RTP.IP)
	}
	s.RTPIP = ip
	if c.RTP.PortMin < 1024 || c.RTP.PortMin > 65534 {
		bad("rtp.port_min", "must be between 1024 and 65534, not %d", c.RTP.PortMin)
	}
	if c.RTP.PortMax > 65535 || c.RTP.PortMax < c.RTP.PortMin+1 {
		bad("rtp.port_max", "must be above port_min (%d) and at most 65535, not %d", c.RTP.PortMin, c.RTP.PortMax)
	}
	s.MediaTimeout = duration("rtp.media_timeout", c.RTP.MediaTimeout)
	if c.RTP.RealtimePriority < 0 || c.RTP.RealtimePriority > rtprio.MaxPriority {
		bad("rtp.realtime_priority", "must be 0 (off) or a SCHED_FIFO priority from 1 to %d, not %d", rtprio.MaxPriority, c.RTP.RealtimePriority)
	}
	s.RealtimePrio = c.RTP.RealtimePriority
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
	switch c.Store.Driver {
	case "sqlite", "postgres":
	default:
		bad("store.driver", "%q is not sqlite or postgres", c.Store.Driver)
	}
	switch {
	case c.Store.DSN == "":
		bad("store.dsn", "required: a file for sqlite, postgres://user:pass@host:5432/db for postgres")
	case c.Store.Driver == "sqlite":
		s.StoreDSN = resolve(c.Store.DSN)
	case c.Store.Driver == "postgres" && !strings.HasPrefix(c.Store.DSN, "postgres://") && !strings.HasPrefix(c.Store.DSN, "postgresql://"):
		bad("store.dsn", "%q is not a postgres:// URL", redactDSN(c.Store.DSN))
	}
	s.Retention = duration("store.retention", c.Store.Retention)
	if c.Store.QueueBytes < minQueueBytes {
		bad("store.queue_bytes", "must be at least %d (1 MiB), not %d", minQueueBytes, c.Store.QueueBytes)
	}
	s.QueueBytes = int64(c.Store.QueueBytes)
	if r := c.Recordings.Retention; r != "0" {
		s.RecordingRetention = duration("recordings.retention", r)
	}
	switch c.TTS.Engine {
	case "flite", "espeak-ng":
	default:
		bad("tts.engine", "%q is not flite or espeak-ng", c.TTS.Engine)
	}
	if c.TTS.CacheBytes < minCacheBytes {
		bad("tts.cache_bytes", "must be at least %d (1 MiB), not %d", minCacheBytes, c.TTS.CacheBytes)
	}
	if c.Media.PromptCacheBytes < minCacheBytes {
		bad("media.prompt_cache_bytes", "must be at least %d (1 MiB), not %d", minCacheBytes, c.Media.PromptCacheBytes)
	}
	if c.Media.MaxProcesses < 0 || c.Media.MaxProcesses > maxProcesses {
		bad("media.max_processes", "must be 0 (twice the CPUs) or up to %d, not %d", maxProcesses, c.Media.MaxProcesses)
	}
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
		s.Trunks = append(s.Trunks, flow.Trunk{Name: t.Name, URI: t.URI, Username: t.Username, Password: t.Password, Accounts: t.Accounts})
	}
	if len(errs) > 0 {
		return nil, errs
	}
	return s, nil
}

// redactDSN hides a password in a DSN quoted back in an error.
func redactDSN(dsn string) string {
	if u, err := url.Parse(dsn); err == nil && u.User != nil {
		if _, has := u.User.Password(); has {
			u.User = url.UserPassword(u.User.Username(), "xxxxx")
			return u.String()
		}
	}
	return dsn
}
