package flow

import (
	"errors"
	"strings"
	"testing"
	"time"
)

// TestRoomTokenRefusesWhatWasNotSignedByTheAccount: only a token signed with the account's api_key,
// not expired, for a room name within bounds, lets an INVITE join a room.
func TestRoomTokenRefusesWhatWasNotSignedByTheAccount(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	keys := map[string]string{"acct": "secret", "other": "other-secret"}
	good := roomToken{Account: "acct", Room: "team room", Expires: now.Add(roomTokenTTL).Unix(), CallSid: "CA1", Muted: true, End: true}
	sign := func(tk roomToken, key string) string {
		s, err := signRoomToken(tk, key)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	valid := sign(good, "secret")
	got, err := verifyRoomToken(valid, keys, now)
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
	renamed := good
	renamed.Account = "other"
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
	} {
		if _, err := verifyRoomToken(tok, keys, now); !errors.Is(err, ErrRoomToken) {
			t.Errorf("%s: %v, want ErrRoomToken", name, err)
		}
	}
}
