package recordings

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
	"time"

	"github.com/pivotua/pivotua/flow"
)

// Server serves TwiML <Record> recordings from recordings.dir at unguessable URLs:
//
//	GET /recordings/{account_id}/{token}/{file}
//
// token is an HMAC-SHA256 (first 128 bits, hex) of the account and file name keyed by the account's
// api_key, so the URL cannot be guessed from the call-id in the file name, nothing needs storing, and
// any node sharing the config (and the recordings folder) serves it. Range requests, HEAD and
// conditional requests come from http.ServeContent; anything unknown or malformed is a 404 and
// folders are never listed.
type Server struct {
	dir     string            // recordings.dir; files are dir/<account_id>/<file>
	baseURL string            // "http://host:port" the URLs start with
	keys    map[string]string // account ID -> api_key
	// WriteTimeout, when set, is http.write_timeout: a recording download gets it plus
	// recordingSendTime of its size.
	WriteTimeout time.Duration
}

var _ flow.RecordingLinker = (*Server)(nil)

// accountIDPattern is what an account ID looks like (config accounts[].id): no other folder is
// served or purged.
var accountIDPattern = regexp.MustCompile(`^[0-9a-f]{32}$`)

// recordingFileName is what a recording's file name may look like: the flow's <call-id>-<nanos>.wav
// (or .mp3), the Call-ID made safe and short by codec.CallIDFilePart.
var recordingFileName = regexp.MustCompile(`^[A-Za-z0-9_-][A-Za-z0-9._-]{0,200}\.(wav|mp3)$`)

// NewServer serves the recordings under dir (recordings.dir) at links starting with baseURL,
// signed with keys (account ID -> api_key).
func NewServer(dir, baseURL string, keys map[string]string) *Server {
	return &Server{dir: dir, baseURL: strings.TrimRight(baseURL, "/"), keys: keys}
}

// BaseURL is the base of recording URLs pivotua hands out for its own HTTP listener: the listen
// address, with an unspecified host (0.0.0.0, ::) replaced by externalIP, else loopback.
func BaseURL(listen, externalIP string) string {
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
func (s *Server) RecordingURL(accountID, file string) string {
	return s.baseURL + "/recordings/" + accountID + "/" + Token(s.keys[accountID], accountID, file) + "/" + file
}

// Token signs account/file with the account's api_key.
func Token(key, accountID, file string) string {
	mac := hmac.New(sha256.New, []byte(key))
	mac.Write([]byte("pivotua recording\x00" + accountID + "/" + file))
	return hex.EncodeToString(mac.Sum(nil)[:16])
}

// Register routes the recordings' links on mux.
func (s *Server) Register(mux *http.ServeMux) {
	mux.HandleFunc("GET /recordings/{account}/{token}/{file}", s.serve)
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	account, token, file := r.PathValue("account"), r.PathValue("token"), r.PathValue("file")
	key, ok := s.keys[account]
	if !ok || key == "" || !accountIDPattern.MatchString(account) || !recordingFileName.MatchString(file) ||
		!hmac.Equal([]byte(token), []byte(Token(key, account, file))) {
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
	if s.WriteTimeout > 0 {
		// The listener's write timeout would cut a large file on a slow link. The kernel wakes a
		// writer blocked on a full send buffer only once half of it (megabytes) has drained, so a
		// deadline moved per write cuts slow readers too: the whole file gets its own.
		_ = http.NewResponseController(w).SetWriteDeadline(time.Now().Add(s.WriteTimeout + recordingSendTime(st.Size())))
	}
	http.ServeContent(w, r, file, st.ModTime(), f)
}

// minRecordingRate is the slowest download of a recording that is not cut: 16,000 bytes a second,
// the rate an 8 kHz 16-bit WAV plays at, so a listener may take as long as the recording lasts.
const minRecordingRate = 16000

// recordingSendTime is how long a download of size bytes may take beyond http.write_timeout.
func recordingSendTime(size int64) time.Duration {
	return time.Duration(size/minRecordingRate+1) * time.Second
}
