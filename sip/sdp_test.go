package sip

import (
	"errors"
	"net/netip"
	"strings"
	"testing"

	"github.com/emiago/sipgo/sip"
)

// An offer as Zoiper sends it: session-level c=, several codecs, telephone-event.
const zoiperOffer = "v=0\r\no=Z 0 0 IN IP4 192.0.2.10\r\ns=Z\r\nc=IN IP4 192.0.2.10\r\nt=0 0\r\n" +
	"m=audio 8000 RTP/AVP 106 9 98 101 0 8 3\r\na=rtpmap:106 opus/48000/2\r\na=rtpmap:98 telephone-event/48000\r\n" +
	"a=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-16\r\na=sendrecv\r\n"

func TestParseRemoteSDPNegotiates(t *testing.T) {
	tests := []struct {
		name string
		sdp  string
		want MediaDesc
	}{
		{
			name: "zoiper prefers PCMU after unsupported codecs, picks the 8 kHz telephone-event",
			sdp:  zoiperOffer,
			want: MediaDesc{Addr: netip.MustParseAddrPort("192.0.2.10:8000"), PayloadType: 0, EventPayloadType: 101, Direction: SendRecv},
		},
		{
			name: "PCMA first wins, media-level c= overrides session-level",
			sdp:  "v=0\r\no=- 1 1 IN IP4 10.0.0.1\r\ns=-\r\nc=IN IP4 10.0.0.1\r\nt=0 0\r\nm=audio 4000 RTP/AVP 8 0\r\nc=IN IP4 198.51.100.7\r\n",
			want: MediaDesc{Addr: netip.MustParseAddrPort("198.51.100.7:4000"), PayloadType: 8, Direction: SendRecv},
		},
		{
			name: "hold offer sendonly is answered recvonly",
			sdp:  "v=0\r\no=- 1 2 IN IP4 10.0.0.1\r\ns=-\r\nc=IN IP4 10.0.0.1\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\na=sendonly\r\n",
			want: MediaDesc{Addr: netip.MustParseAddrPort("10.0.0.1:4000"), PayloadType: 0, Direction: RecvOnly},
		},
		{
			name: "inactive is answered inactive",
			sdp:  "v=0\r\no=- 1 2 IN IP4 10.0.0.1\r\ns=-\r\nc=IN IP4 10.0.0.1\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\na=inactive\r\n",
			want: MediaDesc{Addr: netip.MustParseAddrPort("10.0.0.1:4000"), PayloadType: 0, Direction: Inactive},
		},
		{
			name: "RFC 2543 hold with c=0.0.0.0 means we must not send",
			sdp:  "v=0\r\no=- 1 2 IN IP4 10.0.0.1\r\ns=-\r\nc=IN IP4 0.0.0.0\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\n",
			want: MediaDesc{Addr: netip.MustParseAddrPort("0.0.0.0:4000"), PayloadType: 0, Direction: RecvOnly},
		},
		{
			name: "a video stream before the audio stream, over IPv6",
			sdp: "v=0\r\no=- 1 1 IN IP6 ::1\r\ns=-\r\nc=IN IP6 2001:db8::5\r\nt=0 0\r\nm=video 5000 RTP/AVP 96\r\n" +
				"m=audio 6000 RTP/AVP 0 110\r\na=rtpmap:110 telephone-event/8000\r\n",
			want: MediaDesc{Addr: netip.MustParseAddrPort("[2001:db8::5]:6000"), PayloadType: 0, EventPayloadType: 110, Direction: SendRecv},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			off, err := parseRemoteSDP([]byte(tt.sdp))
			if err != nil {
				t.Fatal(err)
			}
			got, err := off.negotiate()
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestParseRemoteSDPRejects(t *testing.T) {
	tests := []struct {
		name string
		sdp  string
		want error
	}{
		{"empty body", "", ErrNoSDP},
		{"no audio", "v=0\r\no=- 1 1 IN IP4 10.0.0.1\r\ns=-\r\nc=IN IP4 10.0.0.1\r\nt=0 0\r\nm=video 5000 RTP/AVP 96\r\n", ErrNoAudio},
		{"audio port 0 (declined)", "v=0\r\no=- 1 1 IN IP4 10.0.0.1\r\ns=-\r\nc=IN IP4 10.0.0.1\r\nt=0 0\r\nm=audio 0 RTP/AVP 0\r\n", ErrNoAudio},
		{"hostname instead of an address", "v=0\r\no=- 1 1 IN IP4 pbx\r\ns=-\r\nc=IN IP4 pbx.example.com\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\n", ErrBadAddress},
		{"no c= line", "v=0\r\no=- 1 1 IN IP4 10.0.0.1\r\ns=-\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\n", ErrBadAddress},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := parseRemoteSDP([]byte(tt.sdp))
			if !errors.Is(err, tt.want) {
				t.Errorf("got %v, want %v", err, tt.want)
			}
		})
	}
	off, err := parseRemoteSDP([]byte("v=0\r\no=- 1 1 IN IP4 10.0.0.1\r\ns=-\r\nc=IN IP4 10.0.0.1\r\nt=0 0\r\nm=audio 4000 RTP/AVP 9 18\r\n"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := off.negotiate(); !errors.Is(err, ErrNoCommonCodec) {
		t.Errorf("G.722/G.729 only: got %v, want ErrNoCommonCodec", err)
	}
}

func TestLocalSDPAnswerAndOffer(t *testing.T) {
	l := localSDP{sessionID: 42, version: 3, addr: netip.MustParseAddrPort("203.0.113.5:20000")}
	ans, err := l.answer(MediaDesc{PayloadType: 8, EventPayloadType: 96, Direction: RecvOnly})
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range []string{
		"o=pivotua 42 3 IN IP4 203.0.113.5", "c=IN IP4 203.0.113.5", "m=audio 20000 RTP/AVP 8 96",
		"a=rtpmap:8 PCMA/8000", "a=rtpmap:96 telephone-event/8000", "a=fmtp:96 0-16", "a=ptime:20", "a=recvonly",
	} {
		if !strings.Contains(string(ans), line+"\r\n") {
			t.Errorf("answer lacks %q:\n%s", line, ans)
		}
	}
	// Our own answer parses back to what it says.
	off, err := parseRemoteSDP(ans)
	if err != nil {
		t.Fatal(err)
	}
	if off.addr != l.addr || off.laws[0] != 8 || off.eventPT != 96 || off.direction != RecvOnly {
		t.Errorf("answer reads back as %+v", off)
	}
	offer, err := l.offer()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(offer), "m=audio 20000 RTP/AVP 0 8 101\r\n") || !strings.Contains(string(offer), "a=sendrecv\r\n") {
		t.Errorf("offer:\n%s", offer)
	}
}

func TestDirectionComplement(t *testing.T) {
	for in, want := range map[Direction]Direction{SendRecv: SendRecv, SendOnly: RecvOnly, RecvOnly: SendOnly, Inactive: Inactive} {
		if got := in.Complement(); got != want {
			t.Errorf("%s.Complement() = %s, want %s", in, got, want)
		}
	}
	if !SendRecv.WeSend() || !SendOnly.WeSend() || RecvOnly.WeSend() || Inactive.WeSend() {
		t.Error("WeSend: only sendrecv and sendonly send")
	}
}

func TestParseListen(t *testing.T) {
	if tr, a, err := ParseListen("TCP://[::1]:5070"); err != nil || tr != "tcp" || a.String() != "[::1]:5070" {
		t.Errorf("got %q %v %v", tr, a, err)
	}
	if tr, _, err := ParseListen("tls://127.0.0.1:5061"); err != nil || tr != "tls" {
		t.Errorf("tls listener: %q %v", tr, err)
	}
	for _, bad := range []string{"127.0.0.1:5060", "wss://127.0.0.1:5061", "udp://localhost:5060", "udp://127.0.0.1"} {
		if _, _, err := ParseListen(bad); err == nil {
			t.Errorf("ParseListen(%q) should fail", bad)
		}
	}
}

func FuzzParseRemoteSDP(f *testing.F) {
	f.Add([]byte(zoiperOffer))
	f.Add([]byte("v=0\r\no=- 1 1 IN IP4 10.0.0.1\r\ns=-\r\nc=IN IP4 0.0.0.0\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0 8\r\na=inactive\r\n"))
	f.Fuzz(func(t *testing.T, body []byte) {
		off, err := parseRemoteSDP(body)
		if err != nil {
			return
		}
		md, err := off.negotiate()
		if err != nil {
			return
		}
		if md.PayloadType != PayloadPCMU && md.PayloadType != PayloadPCMA {
			t.Fatalf("negotiated payload type %d", md.PayloadType)
		}
		l := localSDP{sessionID: 1, version: 1, addr: netip.MustParseAddrPort("127.0.0.1:4000")}
		if _, err := l.answer(md); err != nil {
			t.Fatal(err)
		}
	})
}

func TestParseDTMFInfo(t *testing.T) {
	tests := []struct {
		contentType, body string
		want              byte
		ok                bool
	}{
		{"application/dtmf-relay", "Signal=5\r\nDuration=160\r\n", '5', true},
		{"application/dtmf-relay", "signal= #\nduration=100", '#', true},
		{"Application/DTMF-Relay; charset=x", "Signal=*\r\n", '*', true},
		{"application/dtmf-relay", "Signal=11\r\n", '#', true},
		{"application/dtmf", "7", '7', true},
		{"application/dtmf-relay", "Signal=b\r\n", 'B', true},
		{"application/dtmf-relay", "Signal=x\r\n", 0, false},
		{"application/dtmf-relay", "Duration=160\r\n", 0, false},
		{"application/media_control+xml", "<x/>", 0, false},
	}
	for _, tt := range tests {
		req := sip.NewRequest(sip.INFO, sip.Uri{User: "3004", Host: "127.0.0.1"})
		req.AppendHeader(sip.NewHeader("Content-Type", tt.contentType))
		req.SetBody([]byte(tt.body))
		got, ok := parseDTMFInfo(req)
		if got != tt.want || ok != tt.ok {
			t.Errorf("%s %q: got %q %v, want %q %v", tt.contentType, tt.body, got, ok, tt.want, tt.ok)
		}
	}
}
