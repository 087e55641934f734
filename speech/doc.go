// Package speech recognises what a caller says: <Gather input="speech">, Kazoo collect_dtmf with
// "speech": true, and <Record transcribe> use it through flow's SpeechRecognizer.
//
// Two engine kinds share one shape. A Recognition is started per utterance, fed 20 ms frames of
// 8 kHz 16-bit audio as the caller speaks (Write never blocks: a bounded queue, and the frames it
// has no room for are dropped and counted), and closed for its Result. The offline engine runs
// Debian's pocketsphinx_continuous as a child process per recognition, fed the audio upsampled to
// 16 kHz through a pipe, and reads the hypotheses it prints as each utterance ends; the http engine
// streams the audio in a chunked POST to a service the operator configures and reads back
// {"text","confidence"}. How many recognitions run at once is capped (Settings.MaxConcurrent):
// over the cap Start fails at once with ErrBusy rather than waiting.
//
// speech imports codec at most (and internal/rtprio, so its children run at normal priority); it
// knows no SIP, no RTP and no flow.
package speech
