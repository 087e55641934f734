package httpfetch

import "net/url"

// TwilioSignature is Twilio's signature of a request to rawURL with the form body form (nil for
// GET, WebSocket upgrades and JSON bodies): what X-Twilio-Signature carries. Media streams sign
// their upgrade request with it, as Twilio does.
func TwilioSignature(key, rawURL string, form url.Values) string {
	return twilioSignature(key, rawURL, pairsFromValues(form))
}
