package debugapi

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"strconv"
	"strings"
	"time"
)

// DefaultTokenTTL is how long an auth token from PUT /v2/api_auth is valid.
const DefaultTokenTTL = time.Hour

// maxTokenLen bounds an auth token before it is parsed.
const maxTokenLen = 512

// Tokens are stateless: "<account_id>.<expiry unix seconds>.<mac>", mac = URL-safe base64 of
// HMAC-SHA256(api_key, "<account_id>.<expiry>"). Any node that shares the accounts' api_keys accepts
// a token another node issued, and no store is involved. A changed api_key revokes its tokens.

func signToken(accountID, apiKey string, expires time.Time) string {
	payload := accountID + "." + strconv.FormatInt(expires.Unix(), 10)
	return payload + "." + tokenMAC(apiKey, payload)
}

func tokenMAC(apiKey, payload string) string {
	m := hmac.New(sha256.New, []byte(apiKey))
	m.Write([]byte(payload))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// verifyToken returns the account a token was issued to, or false when the token is malformed, names
// an unknown account, carries a wrong signature or has expired at now.
func verifyToken(token string, apiKeys map[string]Account, now time.Time) (string, bool) {
	if token == "" || len(token) > maxTokenLen {
		return "", false
	}
	dot := strings.LastIndexByte(token, '.')
	if dot < 0 {
		return "", false
	}
	payload, mac := token[:dot], token[dot+1:]
	accountID, expiry, ok := strings.Cut(payload, ".")
	if !ok {
		return "", false
	}
	acc, ok := apiKeys[accountID]
	if !ok {
		return "", false
	}
	if !hmac.Equal([]byte(mac), []byte(tokenMAC(acc.APIKey, payload))) {
		return "", false
	}
	exp, err := strconv.ParseInt(expiry, 10, 64)
	if err != nil || now.Unix() >= exp {
		return "", false
	}
	return accountID, true
}
