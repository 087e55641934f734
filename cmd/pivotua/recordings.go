package main

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"

	"github.com/pivotua/pivotua/flow"
)

// recordingServer serves TwiML <Record> recordings from recordings.dir at unguessable URLs:
//
//	GET /recordings/{account_id}/{token}/{file}
//
// token is an HMAC-SHA256 (first 128 bits, hex) of the account and file name keyed by the account's
// api_key, so the URL cannot be guessed from the call-id in the file name, nothing needs storing, and
// any node sharing the config (and the recordings folder) serves it. Range requests, HEAD and
// conditional requests come from http.ServeContent; anything unknown or malformed is a 404 and
// folders are never listed.
type recordingServer struct {
	dir     string            // recordings.dir; files are dir/<account_id>/<file>
	baseURL string            // "http://host:port" the URLs start with
	keys    map[string]string // account ID -> api_key
}

var _ flow.RecordingLinker = (*recordingServer)(nil)

// recordingFileName is what a recording's file name may look like: the flow's <call-id>-<nanos>.wav
// (or .mp3), made file-safe.
var recordingFileName = regexp.MustCompile(`^[A-Za-z0-9_-][A-Za-z0-9._-]{0,200}\.(wav|mp3)$`)

func newRecordingServer(dir, baseURL string, keys map[string]string) *recordingServer {
	return &recordingServer{dir: dir, baseURL: strings.TrimRight(baseURL, "/"), keys: keys}
}

// publicHTTPBase is the base of URLs pivotua hands out for its own HTTP listener: the listen
// address, with an unspecified host (0.0.0.0, ::) replaced by externalIP, else loopback.
func publicHTTPBase(listen, externalIP string) string {
	ap, err := netip.ParseAddrPort(listen)
	if err != nil {
		return "http://" + listen
	}
	host := ap.Addr().String()
	if ap.Addr().IsUnspecified() {
		host = "127.0.0.1"
		if externalIP != "" {
			host = externalIP
		}
	}
	return "http://" + net.JoinHostPort(host, strconv.Itoa(int(ap.Port())))
}

// RecordingURL implements flow.RecordingLinker.
func (s *recordingServer) RecordingURL(accountID, file string) string {
	return s.baseURL + "/recordings/" + accountID + "/" + recordingToken(s.keys[accountID], accountID, file) + "/" + file
}

// recordingToken signs account/file with the account's api_key.
func recordingToken(key, accountID, file string) string {
	mac := hmac.New(sha256.New, []byte(key))
	mac.Write([]byte("pivotua recording\x00" + accountID + "/" + file))
	return hex.EncodeToString(mac.Sum(nil)[:16])
}

func (s *recordingServer) register(mux *http.ServeMux) {
	mux.HandleFunc("GET /recordings/{account}/{token}/{file}", s.serve)
}

func (s *recordingServer) serve(w http.ResponseWriter, r *http.Request) {
	account, token, file := r.PathValue("account"), r.PathValue("token"), r.PathValue("file")
	key, ok := s.keys[account]
	if !ok || key == "" || !accountIDPattern.MatchString(account) || !recordingFileName.MatchString(file) ||
		!hmac.Equal([]byte(token), []byte(recordingToken(key, account, file))) {
		http.NotFound(w, r)
		return
	}
	f, err := os.Open(filepath.Join(s.dir, account, file))
	if err != nil {
		http.NotFound(w, r)
		return
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil || !st.Mode().IsRegular() {
		http.NotFound(w, r)
		return
	}
	contentType := "audio/wav"
	if path.Ext(file) == ".mp3" {
		contentType = "audio/mpeg"
	}
	w.Header().Set("Content-Type", contentType)
	w.Header().Set("Cache-Control", "private, max-age=3600")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	http.ServeContent(w, r, file, st.ModTime(), f)
}
