package flow

import (
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"
)

// TestRoomTokenRefusesWhatWasNotSignedByTheAccount: only a token signed with the account's api_key,
// not expired, for a room name within bounds, lets an INVITE join a room.
func TestRoomTokenRefusesWhatWasNotSignedByTheAccount(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	keys := map[string]string{"acct": "secret", "other": "other-secret"}
	good := roomToken{Account: "acct", Room: "team room", Expires: now.Add(roomTokenTTL).Unix(), CallSid: "CA1", Muted: true, End: true, CallID: "leg1@pivotua"}
	sign := func(tk roomToken, key string) string {
		s, err := signRoomToken(tk, key)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	valid := sign(good, "secret")
	got, err := verifyRoomToken(valid, keys, "leg1@pivotua", now)
	if err != nil || got != good {
		t.Fatalf("a valid token: %+v %v", got, err)
	}
	payload, _, _ := strings.Cut(valid, ".")
	_, otherMAC, _ := strings.Cut(sign(good, "other-secret"), ".")
	expired, future, noRoom, longRoom, ctl := good, good, good, good, good
	expired.Expires = now.Add(-time.Second).Unix()
	future.Expires = now.Add(time.Hour).Unix()
	noRoom.Room = ""
	longRoom.Room = strings.Repeat("r", maxConferenceName+1)
	ctl.CallSid = "CA\r\nX-Evil: 1"
	renamed, unbound := good, good
	renamed.Account = "other"
	unbound.CallID = ""
	fileWait, ctlWait, longWait := good, good, good
	fileWait.WaitURL = "file:///etc/passwd"
	ctlWait.WaitURL = "http://hooks.example/wait\r\nX-Evil: 1"
	longWait.WaitURL = "http://hooks.example/" + strings.Repeat("w", maxRoomWaitURL)
	for name, tok := range map[string]string{
		"empty":              "",
		"no signature":       payload,
		"not base64":         "!!!." + strings.Repeat("A", 43),
		"another key":        payload + "." + otherMAC,
		"another account":    sign(renamed, "secret"),
		"unknown account":    sign(roomToken{Account: "nobody", Room: "r", Expires: good.Expires}, "secret"),
		"expired":            sign(expired, "secret"),
		"dated too far":      sign(future, "secret"),
		"no room":            sign(noRoom, "secret"),
		"room too long":      sign(longRoom, "secret"),
		"control characters": sign(ctl, "secret"),
		"too long":           strings.Repeat("A", maxRoomToken+1),
		"json junk":          "bm90IGpzb24." + strings.Split(valid, ".")[1],
		"no Call-ID":         sign(unbound, "secret"),
		"waitUrl not http":   sign(fileWait, "secret"),
		"waitUrl control":    sign(ctlWait, "secret"),
		"waitUrl too long":   sign(longWait, "secret"),
	} {
		if _, err := verifyRoomToken(tok, keys, "leg1@pivotua", now); !errors.Is(err, ErrRoomToken) {
			t.Errorf("%s: %v, want ErrRoomToken", name, err)
		}
	}
}

// TestRoomTokenIsGoodForItsOwnLegOnly: a valid token carried by an INVITE of another Call-ID than the
// one it was signed for is refused: a captured token cannot be moved onto another leg.
func TestRoomTokenIsGoodForItsOwnLegOnly(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	tok, err := signRoomToken(roomToken{Account: "acct", Room: "r", Expires: now.Add(roomTokenTTL).Unix(), CallID: "leg1@pivotua"}, "secret")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := verifyRoomToken(tok, map[string]string{"acct": "secret"}, "leg2@pivotua", now); !errors.Is(err, ErrRoomToken) {
		t.Errorf("a token on another Call-ID: %v, want ErrRoomToken", err)
	}
}

// TestRoomTokenLedgerAcceptsATokenOnce: a token is accepted once until it expires, whatever spelling
// of its signature; once expired it is forgotten; a ledger full of live tokens refuses new ones
// rather than forget a live one.
func TestRoomTokenLedgerAcceptsATokenOnce(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	exp := now.Add(roomTokenTTL)
	var l roomTokenLedger
	if err := l.use("sig-1", exp, now); err != nil {
		t.Fatal(err)
	}
	if err := l.use("sig-1", exp, now.Add(time.Second)); !errors.Is(err, ErrRoomToken) {
		t.Errorf("the same token again: %v, want ErrRoomToken", err)
	}
	if err := l.use("sig-2", exp, now); err != nil {
		t.Errorf("another token: %v", err)
	}
	later := exp.Add(time.Second)
	if err := l.use("sig-3", later.Add(roomTokenTTL), later); err != nil || len(l.seen) != 1 {
		t.Errorf("after the first two expired: %v, %d remembered, want 1", err, len(l.seen))
	}
	for i := len(l.seen); i < maxRoomTokensSeen; i++ {
		if err := l.use(fmt.Sprint("fill-", i), later.Add(roomTokenTTL), later); err != nil {
			t.Fatalf("token %d: %v", i, err)
		}
	}
	if err := l.use("one-more", later.Add(roomTokenTTL), later); !errors.Is(err, errRoomTokensFull) {
		t.Errorf("a full ledger: %v, want errRoomTokensFull", err)
	}
	if err := l.use("sig-3", later.Add(roomTokenTTL), later); !errors.Is(err, ErrRoomToken) {
		t.Errorf("a used token while full: %v, want ErrRoomToken", err)
	}
	// The signature decoded: another base64 spelling of the same MAC is the same token.
	mac := make([]byte, 32)
	a, b := "p."+base64.RawURLEncoding.EncodeToString(mac), "p."+base64.RawURLEncoding.EncodeToString(mac)
	b = b[:len(b)-1] + "B" // the last character's unused low bits set: decodes to the same bytes
	if roomTokenSig(a) != roomTokenSig(b) || roomTokenSig(a) != string(mac) {
		t.Errorf("two spellings of one signature read as two tokens")
	}
}

// TestRoomTokenCarriesTheWaitUrlWithinBounds: the caller's node sends its party's waitUrl and method in
// the token, for the hosting node to run; a waitUrl too long to carry, alone or once the token is
// signed, is dropped (the party waits in silence there) rather than making a token the hosting node
// would refuse.
func TestRoomTokenCarriesTheWaitUrlWithinBounds(t *testing.T) {
	keys := map[string]string{"acct": "secret"}
	c := &Call{accountID: "acct", signingKey: "secret", info: CallInfo{CallID: "CA1"}, log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	check := func(name string, spec conferenceSpec, wantURL string, wantGet, wantSilent bool) {
		t.Helper()
		raw, err := c.roomLegToken(spec, "<Dial><Conference>", "leg1@pivotua")
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		got, err := verifyRoomToken(raw, keys, "leg1@pivotua", time.Now())
		if err != nil {
			t.Fatalf("%s: the hosting node refuses the token (%d bytes): %v", name, len(raw), err)
		}
		if got.WaitURL != wantURL || got.WaitGet != wantGet || got.Silent != wantSilent {
			t.Errorf("%s: waitUrl %q GET %v silent %v, want %q %v %v", name, got.WaitURL, got.WaitGet, got.Silent, wantURL, wantGet, wantSilent)
		}
	}
	const wait = "http://hooks.example/wait?room=1&x=2"
	check("a waitUrl", conferenceSpec{name: "team room", wait: silentWait(), waitURL: wait, waitMethod: "GET"}, wait, true, false)
	check("a waitUrl by POST", conferenceSpec{name: "team room", waitURL: wait, waitMethod: "POST"}, wait, false, false)
	check("an empty waitUrl", conferenceSpec{name: "team room", wait: silentWait()}, "", false, true)
	check("no waitUrl", conferenceSpec{name: "team room"}, "", false, false)
	bound := "http://hooks.example/" + strings.Repeat("w", maxRoomWaitURL-len("http://hooks.example/"))
	check("a waitUrl at its bound, in a room of the longest name", conferenceSpec{name: strings.Repeat("r", maxConferenceName), waitURL: bound}, bound, false, false)
	long := bound + "w"
	check("a waitUrl too long", conferenceSpec{name: "team room", wait: silentWait(), waitURL: long}, "", false, true)
	// Within maxRoomWaitURL, but JSON escapes each & into six bytes: the signed token would not fit.
	amps := "http://hooks.example/w?" + strings.Repeat("&", maxRoomWaitURL-30)
	check("a waitUrl whose token is too long", conferenceSpec{name: strings.Repeat("r", maxConferenceName), waitURL: amps}, "", false, true)
}
