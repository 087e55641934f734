//go:build ignore

// gen writes the RFC 4475 ("SIP Torture Test Messages") cases as .dat files:
// valid/ holds the messages the RFC calls well-formed (§3.1.1 parser tests,
// §3.3 application-layer tests, §3.4 backward compatibility), invalid/ the
// malformed ones (§3.1.2) and the transaction-layer case (§3.2). Each message
// is written for pivotua's tests from the RFC's section descriptions: it
// carries the same fault (or the same oddity) as the RFC's message, not its
// text. Run from the repository root:
//
//	go run ./sip/testdata/torture/gen.go
package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// sdp is a plain PCMU offer used as a body.
const sdp = `v=0
o=torture 4475 1 IN IP4 192.0.2.10
s=-
c=IN IP4 192.0.2.10
t=0 0
m=audio 49170 RTP/AVP 0
a=rtpmap:0 PCMU/8000
`

type message struct {
	dir, name, section string
	text               string // "\n" line ends become CRLF; {CL} becomes the body length
	body               string // appended after the empty line; CRLF-converted too
	rawBody            []byte // appended as is, after body
}

func main() {
	root := filepath.Join("sip", "testdata", "torture")
	msgs := messages()
	for _, m := range msgs {
		body := crlf(m.body)
		body = append(body, m.rawBody...)
		head := strings.ReplaceAll(m.text, "{CL}", fmt.Sprint(len(body)))
		data := append(crlf(head), body...)
		path := filepath.Join(root, m.dir, m.name+".dat")
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			panic(err)
		}
		if err := os.WriteFile(path, data, 0o644); err != nil {
			panic(err)
		}
	}
	fmt.Println("wrote", len(msgs), "messages")
}

func crlf(s string) []byte { return []byte(strings.ReplaceAll(s, "\n", "\r\n")) }

func messages() []message {
	long := strings.Repeat("x", 900)
	manyVias := ""
	for i := range 20 {
		manyVias += fmt.Sprintf("Via: SIP/2.0/UDP relay%d.example.net;branch=z9hG4bK.longreq%d%s\n", i, i, strings.Repeat("a", 40))
	}
	binary := make([]byte, 256)
	for i := range binary {
		binary[i] = byte(i)
	}
	mpart := "--pivotua-torture\r\nContent-Type: application/sdp\r\n\r\n" + strings.ReplaceAll(sdp, "\n", "\r\n") +
		"\r\n--pivotua-torture\r\nContent-Type: application/octet-stream\r\nContent-Transfer-Encoding: binary\r\n\r\n"
	mpartBody := append([]byte(mpart), binary...)
	mpartBody = append(mpartBody, "\r\n--pivotua-torture--\r\n"...)

	return []message{
		// §3.1.1.1: a short tortuous INVITE: odd case, space before colons,
		// folded values, leading zeros, an escaped quote in a display name,
		// compact forms, unknown headers with odd values, an empty Subject.
		{dir: "valid", name: "wsinv", section: "3.1.1.1", text: `INVITE sip:agent7@ivr.example.com;oddparam SIP/2.0
tO :
 sip:agent7@ivr.example.com ;   tag    = 77x1
fRoM   : "T. Orture \\\""       <sip:torture@example.com>
  ;
  tag = 5unusual
mAx-FoRwArDs: 0070
Call-ID: wsinv.q8d7s6@192.0.2.10
Content-Length   : {CL}
cseq: 0010
  INVITE
Via  : SIP  /   2.0
 /UDP
    192.0.2.10;branch=z9hG4bKwsinv01
s :
OddlyNewHeader:   first part of a value
 and the rest of it
UnknownHeaderOddValue: ;;,,;;,;
c: application/sdp
m:"Quoted \"\" name" <sip:torture@192.0.2.10> ; somep =
      somev ;
  otherp ; q = 0.5

`, body: sdp},
		// §3.1.1.2: a wide range of valid characters in method, URI, header names.
		{dir: "valid", name: "intmeth", section: "3.1.1.2", text: "!odd-Method0123456789_*+`.%indeed'~ sip:1_odd.URI~(so-it!is)&isn't+it$/odd?,/;;*:&and+has=1,weird!*p4s$wo~d_too.(isn't-it)@example.com SIP/2.0\n" + `Via: SIP/2.0/TCP host1.example.com;branch=z9hG4bK-.!%66*_+` + "`'~" + `
To: "BEL:` + "\\\x07 NUL:\\\x00 DEL:\\\x7f" + `" <sip:1_odd.URI~(so-it!is)&isn't+it$/odd?,/;;*@example.com>
From: token1~` + "`" + `token2'+_token3*%!.- <sip:mundane@example.com>;fromParam''~+*_!.-%="тест";tag=_token~1'+` + "`" + `*%!-.
Call-ID: intmeth.word%ZK-!.*_+'@word` + "`~)(><:\\\\/\"][?}{" + `
CSeq: 139122385 !odd-Method0123456789_*+` + "`.%indeed'~" + `
Max-Forwards: 255
extensionHeader-!.%*+_` + "`'~" + `:` + "\ufeff" + `大停電
Content-Length: 0

`},
		// §3.1.1.3: valid %-escapes in the Request-URI and header URIs.
		{dir: "valid", name: "esc01", section: "3.1.1.3", text: `INVITE sip:sips%3Auser%40example.com@example.net SIP/2.0
To: sip:%75se%72@example.com
From: <sip:I%20have%20spaces@example.net>;tag=938
Max-Forwards: 87
i: esc01.239409asdfakjkn23onasd0-3234
CSeq: 234234 INVITE
Via: SIP/2.0/UDP host5.example.net;branch=z9hG4bKkdjuw
C: application/sdp
Contact:
  <sip:cal%6Cer@host5.example.net;%6C%72;n%61me=v%61lue%25%34%31>
Content-Length: {CL}

`, body: sdp},
		// §3.1.1.4: escaped NULs in URIs.
		{dir: "valid", name: "escnull", section: "3.1.1.4", text: `REGISTER sip:example.com SIP/2.0
To: sip:null-%00-null@example.com
From: sip:null-%00-null@example.com;tag=839923423
Max-Forwards: 70
Call-ID: escnull.39203ndfvkjdasfkq3w4otrq0adsfdfnavd
CSeq: 14398234 REGISTER
Via: SIP/2.0/UDP host5.example.com;branch=z9hG4bKkdjuw
Contact: <sip:%00@host5.example.com>
Contact: <sip:%00%00@host5.example.com>
L:0

`},
		// §3.1.1.5: "%" that is not an escape (in a method token, a display name, a header name).
		{dir: "valid", name: "esc02", section: "3.1.1.5", text: `RE%47IST%45R sip:registrar.example.com SIP/2.0
To: "%Z%45" <sip:resource@example.com>
From: "%11" <sip:resource@example.com>;tag=f232jadfj23
Call-ID: esc02.asdfnqwo34rq23i34jrjasdcnl23nrlknsdf
Via: SIP/2.0/TCP host.example.com;branch=z9hG4bK209%fzsnel234
CSeq: 29344 RE%47IST%45R
Max-Forwards: 70
Contact: <sip:alias1@host1.example.com>
C%6Fntact: <sip:alias2@host2.example.com>
Contact: <sip:alias3@host3.example.com>
l: 0

`},
		// §3.1.1.6: no LWS between a display name and "<".
		{dir: "valid", name: "lwsdisp", section: "3.1.1.6", text: `OPTIONS sip:user@example.com SIP/2.0
To: sip:user@example.com
From: caller<sip:caller@example.com>;tag=323
Max-Forwards: 70
Call-ID: lwsdisp.1234abcd@funky.example.com
CSeq: 60 OPTIONS
Via: SIP/2.0/UDP funky.example.com;branch=z9hG4bKkdjuw
l: 0

`},
		// §3.1.1.7: long values: a long user, tag, Call-ID, unknown header, many Vias.
		{dir: "valid", name: "longreq", section: "3.1.1.7", text: `INVITE sip:user@example.com SIP/2.0
To: "I have a user name of ` + long[:200] + ` proportion" <sip:user@example.com:6000;unknownparam1=very` + long[:100] + `long;unknownparam2=shortvalue>
From: sip:` + long[:300] + `@example.net;tag=12` + long[:200] + `
Call-ID: longreq.one` + long + `
CSeq: 3882340 INVITE
Unknown-` + long[:100] + `-Header: unknown-` + long[:200] + `-value; unknown-` + long[:50] + `-parameter-name = unknown-` + long[:50] + `-parameter-value
` + manyVias + `Max-Forwards: 70
Contact: <sip:amazinglylongcallername` + long[:100] + `@host5.example.net>
Content-Type: application/sdp
l: {CL}

`, body: sdp},
		// §3.1.1.8: extra octets after Content-Length in a datagram (a second request): ignored.
		{dir: "valid", name: "dblreq", section: "3.1.1.8", text: `REGISTER sip:example.com SIP/2.0
To: sip:j.user@example.com
From: sip:j.user@example.com;tag=43251j3j324
Max-Forwards: 8
I: dblreq.0ha0isndaksdj99sdfafnl3lk233412
Contact: sip:j.user@host.example.com
CSeq: 8 REGISTER
Via: SIP/2.0/UDP 192.0.2.125;branch=z9hG4bKkdjuw23492
Content-Length: 0

INVITE sip:joe@example.com SIP/2.0
t: sip:joe@example.com
From: sip:caller@example.net;tag=141334
Max-Forwards: 8
Call-ID: dblreq.0ha0isnda977644900765@192.0.2.15
CSeq: 8 INVITE
Via: SIP/2.0/UDP 192.0.2.15;branch=z9hG4bKkdjuw380234
Content-Type: application/sdp
Content-Length: {CL}

`, body: sdp},
		// §3.1.1.9: semicolon-separated parameters in a URI's user part.
		{dir: "valid", name: "semiuri", section: "3.1.1.9", text: `OPTIONS sip:user;par=u%40example.net@example.com SIP/2.0
To: sip:j_user@example.com
From: sip:caller@example.org;tag=33242
Max-Forwards: 3
Call-ID: semiuri.0ha0isndaksdj
CSeq: 8 OPTIONS
Accept: application/sdp, application/pkcs7-mime,
        multipart/mixed, multipart/signed,
        message/sip, message/sipfrag
Via: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bKkdjuw
l: 0

`},
		// §3.1.1.10: varied and unknown transports in Via.
		{dir: "valid", name: "transports", section: "3.1.1.10", text: `OPTIONS sip:user@example.com SIP/2.0
To: sip:user@example.com
From: <sip:caller@example.com>;tag=323
Max-Forwards: 70
Call-ID: transports.kijh4akdnaqjkwendsasfdj
Accept: application/sdp
CSeq: 60 OPTIONS
Via: SIP/2.0/UDP t1.example.com;branch=z9hG4bKkdjuw
Via: SIP/2.0/SCTP t2.example.com;branch=z9hG4bKklasjdhf
Via: SIP/2.0/TLS t3.example.com;branch=z9hG4bK2980unddj
Via: SIP/2.0/UNKNOWN t4.example.com;branch=z9hG4bKasd0f3en
Via: SIP/2.0/TCP t5.example.com;branch=z9hG4bK0a9idfnee
l: 0

`},
		// §3.1.1.11: a multipart MIME body with a binary part.
		{dir: "valid", name: "mpart01", section: "3.1.1.11", text: `INVITE sip:kumiko@example.org SIP/2.0
Via: SIP/2.0/UDP 192.0.2.77;branch=z9hG4bKmpart01
Max-Forwards: 70
From: <sip:yasuhiro@example.com>;tag=4ed6a
To: <sip:kumiko@example.org>
Call-ID: mpart01.ed5b4ddb6e8d
CSeq: 1 INVITE
Contact: <sip:yasuhiro@192.0.2.77>
Content-Type: multipart/mixed;boundary=pivotua-torture
Content-Length: {CL}

`, rawBody: mpartBody},
		// §3.1.1.12: an unusual reason phrase (UTF-8, symbols).
		{dir: "valid", name: "unreason", section: "3.1.1.12", text: `SIP/2.0 200 = 2**3 * 5**2 но сто девяносто девять - простое
Via: SIP/2.0/UDP 192.0.2.198;branch=z9hG4bK1324923
Call-ID: unreason.1234ksdfak3j2erwedfsASdf
CSeq: 35 INVITE
From: sip:user@example.com;tag=11141343
To: sip:user@example.edu;tag=2229
Content-Type: application/sdp
Contact: <sip:user@host198.example.com>
l: {CL}

`, body: sdp},
		// §3.1.1.13: an empty reason phrase.
		{dir: "valid", name: "noreason", section: "3.1.1.13", text: `SIP/2.0 100 
Via: SIP/2.0/UDP 192.0.2.105;branch=z9hG4bK2398ndaoe
Call-ID: noreason.asndj203insdf99223ndf
CSeq: 35 INVITE
From: <sip:user@example.com>;tag=39ansfi3
To: <sip:user@example.edu>;tag=902jndnke3
Content-Length: 0
Contact: <sip:user@host105.example.com>

`},

		// §3.1.2.1: extraneous header field separators.
		{dir: "invalid", name: "badinv01", section: "3.1.2.1", text: `INVITE sip:user@example.com SIP/2.0
To: sip:j.user@example.com
From: sip:caller@example.net;;tag=134161461246
Max-Forwards: 7
Call-ID: badinv01.0ha0isndaksdjasdf3234nas
CSeq: 8 INVITE
Via: SIP/2.0/UDP 192.0.2.15;;,;,,
Contact: "Joe" <sip:joe@example.org>;;;;
Content-Length: {CL}
Content-Type: application/sdp

`, body: sdp},
		// §3.1.2.2: Content-Length larger than the message.
		{dir: "invalid", name: "clerr", section: "3.1.2.2", text: `INVITE sip:user@example.com SIP/2.0
Max-Forwards: 80
To: sip:j.user@example.com
From: sip:caller@example.net;tag=93942939o2
Contact: <sip:caller@hungry.example.net>
Call-ID: clerr.0ha0isndaksdjweiafasdk3
CSeq: 8 INVITE
Via: SIP/2.0/UDP host5.example.com;branch=z9hG4bK-39234-23523
Content-Type: application/sdp
Content-Length: 9999

`, body: sdp},
		// §3.1.2.3: request scalar fields with overlarge values.
		{dir: "invalid", name: "scalar02", section: "3.1.2.3", text: `REGISTER sip:example.com SIP/2.0
Via: SIP/2.0/TCP host129.example.com;branch=z9hG4bK342sdfoi3
To: <sip:user@example.com>
From: <sip:user@example.com>;tag=239232jh3
CSeq: 36893488147419103232 REGISTER
Call-ID: scalar02.23o0pd9vanlq3wnrlnewofjas9ui32
Max-Forwards: 300
Expires: 1000000000000000000000
Contact: <sip:user@host129.example.com>
  ;expires=280297596632815
Content-Length: 0

`},
		// §3.1.2.4: response scalar fields with overlarge values.
		{dir: "invalid", name: "scalarlg", section: "3.1.2.4", text: `SIP/2.0 503 Service Unavailable
Via: SIP/2.0/TCP host129.example.com;branch=z9hG4bKzzxdiwo34sw;received=192.0.2.129
To: <sip:user@example.com>
From: <sip:other@example.net>;tag=2easdjfejw
CSeq: 9292394834772304023312 OPTIONS
Call-ID: scalarlg.noase0of0234hn2qofoaf0232aewf2394r
Retry-After: 949302838503028349304023988
Warning: 1812 overture "In Progress"
Content-Length: 0

`},
		// §3.1.2.5: unterminated quoted string in a display name.
		{dir: "invalid", name: "quotbal", section: "3.1.2.5", text: `INVITE sip:user@example.com SIP/2.0
To: "Mr. J. User <sip:j.user@example.com>
From: sip:caller@example.net;tag=93334
Max-Forwards: 10
Call-ID: quotbal.aksdj
Contact: <sip:caller@host59.example.net>
CSeq: 8 INVITE
Via: SIP/2.0/UDP 192.0.2.59:5050;branch=z9hG4bKkdjuw39234
Content-Type: application/sdp
Content-Length: {CL}

`, body: sdp},
		// §3.1.2.6: <> around the Request-URI.
		{dir: "invalid", name: "ltgtruri", section: "3.1.2.6", text: `INVITE <sip:user@example.com> SIP/2.0
To: sip:user@example.com
From: sip:caller@example.net;tag=39291
Max-Forwards: 23
Call-ID: ltgtruri.1@192.0.2.5
CSeq: 1 INVITE
Via: SIP/2.0/UDP 192.0.2.5;branch=z9hG4bKkdjuw
Contact: <sip:caller@host5.example.net>
Content-Type: application/sdp
Content-Length: {CL}

`, body: sdp},
		// §3.1.2.7: LWS inside the Request-URI.
		{dir: "invalid", name: "lwsruri", section: "3.1.2.7", text: `INVITE sip:user@example.com; lr SIP/2.0
To: sip:user@example.com;tag=3xfe-9921883-z9f
From: sip:caller@example.net;tag=231413434
Max-Forwards: 5
Call-ID: lwsruri.2098asdfnk23rnwnaksnf90asdfnaq@caller.example.net
CSeq: 2923420123 INVITE
Via: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bKkdjuw
Contact: <sip:caller@host101.example.net>
Content-Type: application/sdp
Content-Length: {CL}

`, body: sdp},
		// §3.1.2.8: several SPs between Request-Line elements.
		{dir: "invalid", name: "lwsstart", section: "3.1.2.8", text: `INVITE  sip:user@example.com  SIP/2.0
Max-Forwards: 8
To: sip:user@example.com
From: sip:caller@example.net;tag=8814
Call-ID: lwsstart.dfknq234oi243099adsdfnawe3@example.com
CSeq: 1893884 INVITE
Via: SIP/2.0/UDP host1.example.com;branch=z9hG4bKkdjuw3923
Contact: <sip:caller@host1.example.net>
Content-Type: application/sdp
Content-Length: {CL}

`, body: sdp},
		// §3.1.2.9: SPs at the end of the Request-Line.
		{dir: "invalid", name: "trws", section: "3.1.2.9", text: `OPTIONS sip:remote-target@example.com SIP/2.0  
Via: SIP/2.0/TCP host1.example.com;branch=z9hG4bK299342093
To: <sip:remote-target@example.com>
From: <sip:local-resource@example.com>;tag=329429089
Call-ID: trws.oij3r4pos
Accept: application/sdp
CSeq: 238923 OPTIONS
Max-Forwards: 70
Content-Length: 0

`},
		// §3.1.2.10: header fields escaped into the Request-URI.
		{dir: "invalid", name: "escruri", section: "3.1.2.10", text: `INVITE sip:user@example.com?Route=%3Csip:example.com%3E SIP/2.0
To: sip:user@example.com
From: sip:caller@example.net;tag=341518
Max-Forwards: 7
Contact: <sip:caller@host39923.example.net>
Call-ID: escruri.23940-asdfhj-aje3br-234q098w-fawerh3q-h4n
CSeq: 8 INVITE
Via: SIP/2.0/UDP host-of-the-hour.example.com;branch=z9hG4bKkdjuw
Content-Type: application/sdp
Content-Length: {CL}

`, body: sdp},
		// §3.1.2.11: a Date outside GMT.
		{dir: "invalid", name: "baddate", section: "3.1.2.11", text: `INVITE sip:user@example.com SIP/2.0
To: sip:user@example.com
From: sip:caller@example.net;tag=2234923
Max-Forwards: 70
Call-ID: baddate.239423mnsadf3j23lj42--sedfnm234
CSeq: 1392934 INVITE
Via: SIP/2.0/UDP host.example.com;branch=z9hG4bKkdjuw
Date: Fri, 01 Jan 2010 16:00:00 EST
Contact: <sip:caller@host5.example.net>
Content-Type: application/sdp
Content-Length: {CL}

`, body: sdp},
		// §3.1.2.12: a name-addr URI with header fields not enclosed in <>.
		{dir: "invalid", name: "regbadct", section: "3.1.2.12", text: `REGISTER sip:example.com SIP/2.0
To: sip:user@example.com
From: sip:user@example.com;tag=998332
Max-Forwards: 70
Call-ID: regbadct.k345asrl3fdbv@10.0.0.1
CSeq: 1 REGISTER
Via: SIP/2.0/UDP 135.180.130.133:5060;branch=z9hG4bKkdjuw
Contact: sip:user@example.com?Route=%3Csip:sip.example.com%3E
l: 0

`},
		// §3.1.2.13: spaces inside an addr-spec.
		{dir: "invalid", name: "badaspec", section: "3.1.2.13", text: `OPTIONS sip:user@example.org SIP/2.0
Via: SIP/2.0/UDP host4.example.com:5060;branch=z9hG4bKkdju43234
Max-Forwards: 70
From: "Bell, Alexander" <sip:a.g.bell@example.com>;tag=433423
To: "Watson, Thomas" < sip:t.watson@example.org >
Call-ID: badaspec.sdf0234n2nds0a099u23h3hnnw009cdkne3
Accept: application/sdp
CSeq: 3923239 OPTIONS
l: 0

`},
		// §3.1.2.14: non-token characters in an unquoted display name.
		{dir: "invalid", name: "baddn", section: "3.1.2.14", text: `OPTIONS sip:t.watson@example.org SIP/2.0
Via:     SIP/2.0/UDP c.example.com:5060;branch=z9hG4bKkdjuw
Max-Forwards:      70
From:    Bell, Alexander <sip:a.g.bell@example.com>;tag=43
To:      Watson, Thomas <sip:t.watson@example.org>
Call-ID: baddn.31415@c.example.com
Accept: application/sdp
CSeq:    3923239 OPTIONS
l: 0

`},
		// §3.1.2.15: an unknown protocol version.
		{dir: "invalid", name: "badvers", section: "3.1.2.15", text: `OPTIONS sip:t.watson@example.org SIP/7.0
Via:     SIP/7.0/UDP c.example.com;branch=z9hG4bKkdjuw
Max-Forwards:     70
From:    A. Bell <sip:a.g.bell@example.com>;tag=qweoiqpe
To:      T. Watson <sip:t.watson@example.org>
Call-ID: badvers.31417@c.example.com
CSeq:    1 OPTIONS
l: 0

`},
		// §3.1.2.16: start-line and CSeq methods differ.
		{dir: "invalid", name: "mismatch01", section: "3.1.2.16", text: `OPTIONS sip:user@example.com SIP/2.0
To: sip:j.user@example.com
From: sip:caller@example.net;tag=34525
Max-Forwards: 6
Call-ID: mismatch01.dfaosidfoiwe83ifkdf
CSeq: 8 INVITE
Via: SIP/2.0/UDP host.example.com;branch=z9hG4bKkdjuw
l: 0

`},
		// §3.1.2.17: an unknown method whose CSeq names another.
		{dir: "invalid", name: "mismatch02", section: "3.1.2.17", text: `NEWMETHOD sip:user@example.com SIP/2.0
To: sip:j.user@example.com
From: sip:caller@example.net;tag=34525
Max-Forwards: 6
Call-ID: mismatch02.dfaosidfoiwe83ifkdf
CSeq: 8 INVITE
Contact: <sip:caller@host.example.net>
Via: SIP/2.0/UDP host.example.net;branch=z9hG4bKkdjuw
Content-Type: application/sdp
l: {CL}

`, body: sdp},
		// §3.1.2.18: an overlarge response code.
		{dir: "invalid", name: "bigcode", section: "3.1.2.18", text: `SIP/2.0 4294967301 better not break the receiver
Via: SIP/2.0/UDP 192.0.2.105;branch=z9hG4bK2398ndaoe
Call-ID: bigcode.asdof3uj203asdnf3429uasdhfas3ehjasdfas9i
CSeq: 353494 INVITE
From: <sip:user@example.com>;tag=39ansfi3
To: <sip:user@example.edu>;tag=902jndnke3
Content-Length: 0
Contact: <sip:user@host105.example.com>

`},
		// §3.1.2.19: a negative Content-Length.
		{dir: "invalid", name: "ncl", section: "3.1.2.19", text: `INVITE sip:user@example.com SIP/2.0
Max-Forwards: 254
To: sip:j.user@example.com
From: sip:caller@example.net;tag=32394234
Call-ID: ncl.0ha0isndaksdj2193423r542w35
CSeq: 0 INVITE
Via: SIP/2.0/UDP 192.0.2.53;branch=z9hG4bKkdjuw
Contact: <sip:caller@example53.example.net>
Content-Type: application/sdp
Content-Length: -999

`, body: sdp},
		// §3.2.1: a branch that is only the magic cookie (no transaction ID).
		{dir: "invalid", name: "badbranch", section: "3.2.1", text: `OPTIONS sip:user@example.com SIP/2.0
To: sip:user@example.com
From: sip:caller@example.org;tag=33242
Max-Forwards: 3
Via: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bK
Accept: application/sdp
Call-ID: badbranch.sadonfo23i420jv0as0derf3j3n
CSeq: 8 OPTIONS
l: 0

`},

		// §3.3.1: Call-ID, From and To missing.
		{dir: "valid", name: "insuf", section: "3.3.1", text: `INVITE sip:user@example.com SIP/2.0
CSeq: 193942 INVITE
Via: SIP/2.0/UDP 192.0.2.95;branch=z9hG4bKkdj.insuf
Content-Type: application/sdp
l: {CL}

`, body: sdp},
		// §3.3.2: a Request-URI with an unknown scheme.
		{dir: "valid", name: "unkscm", section: "3.3.2", text: `OPTIONS nobodyKnowsThisScheme:totallyopaquecontent SIP/2.0
To: sip:user@example.com
From: sip:caller@example.net;tag=384
Max-Forwards: 3
Call-ID: unkscm.nasdfasser0q239nwsdfasdkl34
CSeq: 3923423 OPTIONS
Via: SIP/2.0/TCP host9.example.com;branch=z9hG4bKkdjuw39234
Content-Length: 0

`},
		// §3.3.3: a Request-URI with a known but atypical scheme.
		{dir: "valid", name: "novelsc", section: "3.3.3", text: `OPTIONS soap.beep://192.0.2.103:3002 SIP/2.0
To: sip:user@example.com
From: sip:caller@example.net;tag=384
Max-Forwards: 3
Call-ID: novelsc.asdfasser0q239nwsdfasdkl34
CSeq: 3923423 OPTIONS
Via: SIP/2.0/TCP host9.example.com;branch=z9hG4bKkdjuw39234
Content-Length: 0

`},
		// §3.3.4: unknown URI schemes in header fields.
		{dir: "valid", name: "unksm2", section: "3.3.4", text: `REGISTER sip:example.com SIP/2.0
To: isbn:2983792873
From: <http://www.example.com>;tag=3234233
Call-ID: unksm2.daksdj@hyphenated-host.example.com
CSeq: 234902 REGISTER
Max-Forwards: 70
Via: SIP/2.0/UDP 192.0.2.21:5060;branch=z9hG4bKkdjuw
Contact: <name:John_Smith>
l: 0

`},
		// §3.3.5: Require and Proxy-Require with extensions nobody supports.
		{dir: "valid", name: "bext01", section: "3.3.5", text: `OPTIONS sip:user@example.com SIP/2.0
To: sip:j_user@example.com
From: sip:caller@example.net;tag=242etr
Max-Forwards: 6
Call-ID: bext01.0ha0isndaksdj
Require: nothingSupportsThis, nothingSupportsThisEither
Proxy-Require: noProxiesSupportThis, norDoAnyProxiesSupportThis
CSeq: 8 OPTIONS
Via: SIP/2.0/TLS fold-and-staple.example.com;branch=z9hG4bKkdjuw
Content-Length: 0

`},
		// §3.3.6: an INVITE body of an unknown type.
		{dir: "valid", name: "invut", section: "3.3.6", text: `INVITE sip:user@example.com SIP/2.0
Contact: <sip:caller@host5.example.net>
To: sip:j.user@example.com
From: sip:caller@example.net;tag=8392034
Max-Forwards: 70
Call-ID: invut.0ha0isndaksdjadsfij34n23d
CSeq: 235448 INVITE
Via: SIP/2.0/UDP somehost.example.com;branch=z9hG4bKkdjuw
Content-Type: application/unknownformat
Content-Length: {CL}

`, body: "<audio>\n <pcmu port=\"443\"/>\n</audio>\n"},
		// §3.3.7: an Authorization with an unknown scheme.
		{dir: "valid", name: "regaut01", section: "3.3.7", text: `REGISTER sip:example.com SIP/2.0
To: sip:j.user@example.com
From: sip:j.user@example.com;tag=87321hj23128
Max-Forwards: 8
Call-ID: regaut01.0ha0isndaksdj
CSeq: 9338 REGISTER
Via: SIP/2.0/TCP 192.0.2.253;branch=z9hG4bKkdjuw
Authorization: NoOneKnowsThisScheme opaque-data=here
Content-Length:0

`},
		// §3.3.8: several values in single-value header fields.
		{dir: "valid", name: "multi01", section: "3.3.8", text: `INVITE sip:user@company.com SIP/2.0
Contact: <sip:caller@host25.example.net>
Via: SIP/2.0/UDP 192.0.2.25;branch=z9hG4bKkdjuw
Max-Forwards: 70
CSeq: 5 INVITE
Call-ID: multi01.98asdh@192.0.2.1
CSeq: 59 INVITE
Call-ID: multi01.98asdh@192.0.2.2
From: sip:caller@example.com;tag=3413415
To: sip:user@example.com
To: sip:other@example.net
From: sip:caller@example.net;tag=2923420123
Content-Type: application/sdp
l: {CL}
Contact: <sip:caller@host36.example.net>
Max-Forwards: 5

`, body: sdp},
		// §3.3.9: two Content-Length values.
		{dir: "valid", name: "mcl01", section: "3.3.9", text: `OPTIONS sip:user@example.com SIP/2.0
Via: SIP/2.0/UDP host5.example.net;branch=z9hG4bK293423
To: sip:user@example.com
From: sip:other@example.net;tag=3923942
Call-ID: mcl01.fhn2323orihawfdoa3o4r52o3irsdf
CSeq: 15932 OPTIONS
Content-Length: 13
Max-Forwards: 60
Content-Length: 5
Content-Type: text/plain

There's no way to know how many octets are supposed to be here.
`},
		// §3.3.10: a 200 OK with a broadcast Via.
		{dir: "valid", name: "bcast", section: "3.3.10", text: `SIP/2.0 200 OK
Via: SIP/2.0/UDP 192.0.2.198;branch=z9hG4bK1324923
Via: SIP/2.0/UDP 255.255.255.255;branch=z9hG4bK1saber23
Call-ID: bcast.143899.a3fa2e3dd96b1b76@192.0.2.198
CSeq: 353494 INVITE
From: <sip:user@example.com>;tag=39ansfi3
To: <sip:user@example.edu>;tag=902jndnke3
Content-Length: 0
Contact: <sip:user@host28.example.com>

`},
		// §3.3.11: Max-Forwards of zero (a UAS processes it).
		{dir: "valid", name: "zeromf", section: "3.3.11", text: `OPTIONS sip:user@example.com SIP/2.0
To: sip:user@example.com
From: sip:caller@example.net;tag=3ghsd41
Call-ID: zeromf.jfasdlfnm2o2l43r5u0asdfas
CSeq: 39234321 OPTIONS
Via: SIP/2.0/UDP host1.example.com;branch=z9hG4bKkdjuw2349i
Max-Forwards: 0
Content-Length: 0

`},
		// §3.3.12: a Contact with an unknown header parameter (no <>).
		{dir: "valid", name: "cparam01", section: "3.3.12", text: `REGISTER sip:example.com SIP/2.0
Via: SIP/2.0/UDP saturn.example.com:5060;branch=z9hG4bKkdjuw
Max-Forwards: 70
From: sip:watson@example.com;tag=DkfVgjkrtMwaerKKpe
To: sip:watson@example.com
Call-ID: cparam01.70710@saturn.example.com
CSeq: 2 REGISTER
Contact: sip:+19725552222@gw1.example.net;unknownparam
l: 0

`},
		// §3.3.13: a Contact with an unknown URI parameter (in <>).
		{dir: "valid", name: "cparam02", section: "3.3.13", text: `REGISTER sip:example.com SIP/2.0
Via: SIP/2.0/UDP saturn.example.com:5060;branch=z9hG4bKkdjuw
Max-Forwards: 70
From: sip:watson@example.com;tag=838293
To: sip:watson@example.com
Call-ID: cparam02.70710@saturn.example.com
CSeq: 3 REGISTER
Contact: <sip:+19725552222@gw1.example.net;unknownparam>
l: 0

`},
		// §3.3.14: a Contact URI with an escaped header, properly in <>.
		{dir: "valid", name: "regescrt", section: "3.3.14", text: `REGISTER sip:example.com SIP/2.0
To: sip:user@example.com
From: sip:user@example.com;tag=8
Max-Forwards: 70
Call-ID: regescrt.k345asrl3fdbv@192.0.2.1
CSeq: 14398234 REGISTER
Via: SIP/2.0/UDP host5.example.com;branch=z9hG4bKkdjuw
M: <sip:user@example.com?Route=%3Csip:sip.example.com%3E>
L:0

`},
		// §3.3.15: an Accept that rules out SDP in the answer.
		{dir: "valid", name: "sdp01", section: "3.3.15", text: `INVITE sip:user@example.com SIP/2.0
To: sip:j_user@example.com
Contact: <sip:caller@host15.example.net>
From: sip:caller@example.net;tag=234
Max-Forwards: 5
Call-ID: sdp01.ndaksdj9342dasdd
Accept: text/nobodyknowsthis
CSeq: 8 INVITE
Via: SIP/2.0/UDP 192.0.2.15;branch=z9hG4bKkdjuw
Content-Length: {CL}
Content-Type: application/sdp

`, body: sdp},
		// §3.4.1: an RFC 2543-style INVITE: no Max-Forwards, no branch.
		{dir: "valid", name: "inv2543", section: "3.4.1", text: `INVITE sip:UserB@example.com SIP/2.0
Via: SIP/2.0/UDP 192.0.2.41
From: <sip:UserA@example.com>;tag=1928301774
To: <sip:UserB@example.com>
Call-ID: inv2543.a84b4c76e66710@192.0.2.41
CSeq: 314159 INVITE
Contact: <sip:UserA@192.0.2.41>
Content-Type: application/sdp
Content-Length: {CL}

`, body: sdp},
	}
}
