package main

import "testing"

// FuzzParseConfig: any bytes as a config file are either refused with errors
// or yield Settings; parsing, checking keys and types, and validation never panic.
func FuzzParseConfig(f *testing.F) {
	f.Add(defaultConfigYAML)
	f.Add([]byte(`{"sip":{"listen":["udp://127.0.0.1:0"],"rate_limit":{"requests":5,"window":"1s","block":"1m","exempt_cidrs":["10.0.0.0/8"]}},"fetch":{"deny_cidrs":["127.0.0.0/8","::1"]},"shutdown_grace":"2s"}`))
	f.Add([]byte("callflows:\n  - account_id: x\n    numbers: [\"1\"]\n    flow: {module: pivot, data: {voice_url: 'http://a/'}, children: {_: {module: hangup}}}\n"))
	f.Add([]byte("sip: {max_message_bytes: -1}\nrtp: {port_min: 70000}\n"))
	f.Add([]byte("sip: {listn: x, max_calls: lots, listen: [a, {b: c}]}\nlog: {level: info, level: debug}\ncallflows: [x, {flow: &a [*a]}]\n"))
	f.Add([]byte("base: &b {level: info}\nlog: {<<: *b, format: [x]}\nrtp: *b\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		s, errs := loadConfig(data, "")
		if (s == nil) == (len(errs) == 0) {
			t.Fatalf("loadConfig returned settings %v with %d errors", s != nil, len(errs))
		}
	})
}
