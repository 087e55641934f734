package main

import (
	"fmt"
	"io"
	"net"
	"net/url"
	"os/exec"
	"sort"
	"strings"

	"github.com/pivotua/pivotua/sip"
)

// demoAPIKey is the embedded config's demo account key: the one secret the
// banner prints, because it is public in the binary anyway.
const demoAPIKey = "demo-api-key-change-me"

// banner tells a newcomer, once everything listens, what to call and where to
// look: SIP addresses, numbers routed, the call inspector, and where the
// config came from. It never prints an api_key of a user's own config.
type banner struct {
	settings     *Settings
	sip          []sip.Listener
	httpAddr     net.Addr
	missingTools []string // helper programs not found on PATH
}

func (b banner) write(w io.Writer) {
	s := b.settings
	source := "the embedded demo config (pivotua serve --config FILE runs your own)"
	if s.Source != "" {
		source = s.Source
	}
	fmt.Fprintf(w, "pivotua %s is ready; config: %s\n", version, source)
	var sipHost string
	for _, l := range b.sip {
		fmt.Fprintf(w, "  SIP         %s://%s\n", l.Transport, l.Addr)
		if sipHost == "" {
			sipHost = l.Addr.String()
		}
	}
	for _, line := range b.routes(sipHost) {
		fmt.Fprintf(w, "  call        %s\n", line)
	}
	base := "http://" + b.httpAddr.String()
	for _, id := range sortedAccountIDs(s.Accounts) {
		a := s.Accounts[id]
		login := base + "/ui/"
		if s.Source == "" && a.APIKey == demoAPIKey {
			login += "#account=" + url.QueryEscape(id) + "&key=" + url.QueryEscape(a.APIKey)
		}
		fmt.Fprintf(w, "  inspector   %s  (account %s %s)\n", login, a.Name, id)
		fmt.Fprintf(w, "  debug API   %s/v2/accounts/%s/pivot/debug  (token: PUT %s/v2/api_auth with the api_key)\n", base, id, base)
	}
	fmt.Fprintf(w, "  metrics     %s/metrics\n", base)
	for _, tool := range b.missingTools {
		fmt.Fprintf(w, "  warning     %s is not installed: %s\n", tool, toolUse[tool])
	}
}

// routes describes each callflow as something to dial: its numbers as SIP
// URIs on host, its patterns as they are written.
func (b banner) routes(host string) []string {
	var lines []string
	for _, r := range b.settings.Routes {
		var what []string
		for _, n := range r.Numbers {
			what = append(what, "sip:"+n+"@"+host)
		}
		for _, p := range r.Patterns {
			if p.String() == ".*" {
				what = append(what, "any other number")
				continue
			}
			what = append(what, "numbers matching "+p.String())
		}
		lines = append(lines, strings.Join(what, ", "))
	}
	if len(lines) == 0 {
		lines = append(lines, "nothing: no callflow is configured, so every call gets 404")
	}
	return lines
}

func sortedAccountIDs(accounts map[string]AccountConfig) []string {
	ids := make([]string, 0, len(accounts))
	for id := range accounts {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	return ids
}

// toolUse says what stops working without each helper program.
var toolUse = map[string]string{
	"flite":     "tts/Say with the flite engine fails (apt-get install flite)",
	"espeak-ng": "tts/Say with the espeak-ng engine fails (apt-get install espeak-ng)",
	"lame":      "MP3 prompts and MP3 recordings fail (apt-get install lame)",
}

// missingTools lists the helper programs this config needs that are not on PATH.
func missingTools(ttsEngine string) []string {
	var missing []string
	for _, tool := range []string{ttsEngine, "lame"} {
		if _, err := exec.LookPath(tool); err != nil {
			missing = append(missing, tool)
		}
	}
	return missing
}
