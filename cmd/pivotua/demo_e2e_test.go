package main

import (
	"bufio"
	"context"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/pivotua/pivotua/codec"
	"github.com/pivotua/pivotua/internal/testkit"
)

// TestE2EDemoAppHeardByBaresip is the newcomer's first call: the embedded
// default config (ports moved so the test can run anywhere) answered by an
// independent softphone, baresip, whose recording of what it heard must hold
// the spoken welcome, the demo chime (E5 then A5) and the spoken goodbye.
func TestE2EDemoAppHeardByBaresip(t *testing.T) {
	needE2E(t)
	cfg, err := parseConfig(defaultConfigYAML)
	if err != nil {
		t.Fatal(err)
	}
	sipPort, httpPort := testkit.FreePort(t), testkit.FreePort(t)
	cfg.SIP.Listen = []string{fmt.Sprintf("udp://127.0.0.1:%d", sipPort)}
	cfg.HTTP.Listen = fmt.Sprintf("127.0.0.1:%d", httpPort)
	cfg.RTP.PortMin, cfg.RTP.PortMax = rtpRange()
	pivot := cfg.Callflows[0].Flow.(map[string]any)
	pivot["data"].(map[string]any)["voice_url"] = fmt.Sprintf("http://127.0.0.1:%d/demo/voice", httpPort)
	p := startPivotuaWithConfig(t, cfg)

	pcm := runBaresip(t, p, make([]int16, 20*codec.SampleRate))
	assertHeardDemo(t, "baresip", pcm)
}

// assertHeardDemo judges what a caller heard of the demo application: over a second of spoken
// welcome, the chime's 300 ms E5 and 500 ms A5, then the spoken goodbye.
func assertHeardDemo(t *testing.T, who string, pcm []int16) {
	t.Helper()
	// One letter per 20 ms: s speech, E and A the chime's notes, _ silence.
	var timeline strings.Builder
	for i := 0; i+codec.FrameSamples <= len(pcm); i += codec.FrameSamples {
		f := pcm[i : i+codec.FrameSamples]
		var e float64
		for _, v := range f {
			e += float64(v) * float64(v)
		}
		switch {
		case math.Sqrt(e/float64(len(f))) < 100:
			timeline.WriteByte('_')
		case testkit.ToneShare(f, 659.25) > 0.8:
			timeline.WriteByte('E')
		case testkit.ToneShare(f, 880) > 0.8:
			timeline.WriteByte('A')
		default:
			timeline.WriteByte('s')
		}
	}
	want := regexp.MustCompile(`^_*(s[s_]*){50,}_*E{12,16}A{22,26}_*(s[s_]*){40,}`)
	if !want.MatchString(timeline.String()) {
		t.Errorf("what %s heard, per 20 ms (s speech, E/A chime notes, _ silence):\n%s", who, timeline.String())
	}
}

// runBaresip has baresip (an independent softphone) call 3004 on p, sending in as its voice; it
// returns what baresip heard (8 kHz mono) once the call ended with pivotua's BYE or baresip's own
// hangup when in ran out.
func runBaresip(t *testing.T, p *pivotuaInstance, in []int16) []int16 {
	t.Helper()
	if _, err := exec.LookPath("baresip"); err != nil {
		t.Fatal("baresip is not installed: run `make deps` (Debian package baresip-core)")
	}
	dir := t.TempDir()
	writeBaresipConfig(t, dir, testkit.FreePort(t), "e2e", in)
	return runBaresipIn(t, p, dir)
}

// runBaresipIn is runBaresip with the configuration already in dir (writeBaresipConfig, then any
// changes a test makes to it).
func runBaresipIn(t *testing.T, p *pivotuaInstance, dir string) []int16 {
	t.Helper()
	return runBaresipDial(t, p, dir, fmt.Sprintf("sip:3004@127.0.0.1:%d", p.sipPort))
}

// runBaresipDial is runBaresipIn calling uri (another transport, another number).
func runBaresipDial(t *testing.T, p *pivotuaInstance, dir, uri string) []int16 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 45*time.Second)
	defer cancel()
	bs := exec.CommandContext(ctx, "baresip", "-f", dir, "-e", "/dial "+uri, "-t", "40")
	out, err := bs.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	bs.Stderr = bs.Stdout
	if err := bs.Start(); err != nil {
		t.Fatal(err)
	}
	var transcript strings.Builder
	terminated := false
	sc := bufio.NewScanner(out)
	sc.Split(scanLinesOrStatus)
	for sc.Scan() {
		line := sc.Text()
		if !strings.Contains(line, "audio=") {
			transcript.WriteString(line + "\n")
		}
		if strings.Contains(line, "terminated") {
			terminated = true
			break
		}
	}
	_ = bs.Process.Signal(os.Interrupt)
	_ = bs.Wait()
	if !terminated {
		t.Fatalf("baresip's call did not end:\n%s\npivotua:\n%s", transcript.String(), p.log.String())
	}
	heard, _ := filepath.Glob(filepath.Join(dir, "rec", "*-dec.wav"))
	if len(heard) != 1 {
		t.Fatalf("baresip recorded %v", heard)
	}
	return readWAV(t, heard[0])
}

// writeBaresipConfig prepares a headless baresip in dir: SIP on 127.0.0.1:port as user, in as its
// voice, what it sends and hears written to dir/rec, and calls answered automatically.
func writeBaresipConfig(t *testing.T, dir string, port int, user string, in []int16) {
	t.Helper()
	rtpMin, _ := rtpRange()
	f, err := os.Create(filepath.Join(dir, "in.wav"))
	if err != nil {
		t.Fatal(err)
	}
	if err := codec.EncodeWAV(f, in, codec.SampleRate); err != nil {
		t.Fatal(err)
	}
	f.Close()
	conf := strings.Join([]string{
		fmt.Sprintf("sip_listen 127.0.0.1:%d", port),
		"audio_source aufile," + filepath.Join(dir, "in.wav"),
		"audio_player alsa,null", "audio_alert alsa,null",
		"net_interface 127.0.0.1",
		fmt.Sprintf("rtp_ports %d-%d", rtpMin, rtpMin+100),
		"module_path /usr/lib/baresip/modules",
		"module g711.so", "module aufile.so", "module alsa.so", "module sndfile.so", "module account.so", "module menu.so",
		"snd_path " + filepath.Join(dir, "rec"),
	}, "\n") + "\n"
	if err := os.MkdirAll(filepath.Join(dir, "rec"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "config"), []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	account := fmt.Sprintf("<sip:%s@127.0.0.1:%d>;regint=0;answermode=auto\n", user, port)
	if err := os.WriteFile(filepath.Join(dir, "accounts"), []byte(account), 0o644); err != nil {
		t.Fatal(err)
	}
}

// scanLinesOrStatus splits baresip's output on newlines and on the carriage
// returns of its status line.
func scanLinesOrStatus(data []byte, atEOF bool) (int, []byte, error) {
	for i, b := range data {
		if b == '\n' || b == '\r' {
			return i + 1, data[:i], nil
		}
	}
	if atEOF && len(data) > 0 {
		return len(data), data, nil
	}
	return 0, nil, nil
}
