// Package codec owns pivotua's audio as data: G.711 µ-law/A-law framing,
// WAV and MP3 decoding to 8 kHz mono PCM, the resampler that gets it there,
// tone generation and Goertzel detection, prompts encoded once per law and
// shared by every call, text-to-speech through external engines (flite,
// espeak-ng) behind a render-once cache, and recording files (streamed WAV,
// MP3 by lame) and the part of their names that names the call
// (CallIDFilePart: flow names recordings with it, and the recordings server
// and purge match them by it).
//
// Everything here is a pure function or a self-contained stream: no network,
// no SIP, no RTP. The only processes it starts are the TTS engines and lame
// (which decodes MP3s more reliably than go-mp3, and MPEG-2.5 at all, and
// encodes recordings to MP3). A ProcessLimit caps how many of them run at
// once, and each is killed when nobody waits for its result any longer:
// PromptCache (which SpeechCache and flow's decoded media build on) makes a
// missing prompt once for all its concurrent callers, cancels the making
// when the last of them gives up, and holds prompts within a byte budget.
//
// It owns the tts: section of pivotua's config file: TTSSettings (config.go), with its YAML
// keys, defaults and checks named by path (tts.cache_bytes); cmd/pivotua only reads the
// file and hands the section over.
//
// codec imports none of pivotua's other packages; media and flow import it.
package codec
