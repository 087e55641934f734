// Package softphone is the test softphone of `pivotua call`: it places one call with
// pivotua's own SIP stack and RTP engine, plays a WAV (or MP3) as its voice, sends RFC 4733
// digits, records what it hears and prints a timeline of what happened, for a person
// trying a deployment or a script checking one.
//
// It imports sip, media and codec, and nothing imports it but cmd/pivotua, which keeps only
// the flags and the exit codes.
package softphone
