package debugapi

import (
	"embed"
	"io/fs"
	"net/http"
)

// uiFiles is the call inspector: one page, plain HTML, CSS and JavaScript, no build step. It talks
// to this API only (PUT /v2/api_auth, the pivot debug endpoints with ?events=true) and plays
// recordings from the same origin.
//
//go:embed ui
var uiFiles embed.FS

// uiRoot is the ui folder itself (fs.Sub fails only on an invalid path name).
var uiRoot, _ = fs.Sub(uiFiles, "ui")

// uiPolicy allows the page its own files, its API calls and the recordings pivotua serves, nothing
// else: the page renders data that came from webhooks.
const uiPolicy = "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; " +
	"media-src 'self'; img-src 'self'; form-action 'none'; frame-ancestors 'none'; base-uri 'none'"

// inspector serves GET /ui/ (and redirects /ui there).
func inspector() http.Handler {
	files := http.StripPrefix("/ui/", http.FileServerFS(uiRoot))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", uiPolicy)
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("Cache-Control", "no-cache")
		files.ServeHTTP(w, r)
	})
}
