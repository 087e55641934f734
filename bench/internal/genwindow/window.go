// Package genwindow is what the bench's peers (bench/cmd/rtpgen, bench/cmd/streamecho) report and
// bench/cmd/loadrun reads: the figures of one measurement window, one JSON line on the peer's stdout
// per "mark" on its stdin.
package genwindow

import "fmt"

// Window is what the generator measured between two marks: the pacing and loss of what the
// server sent it, what it sent back, its socket's drops and its own CPU.
type Window struct {
	WallS      float64 `json:"wall_s"`
	UserS      float64 `json:"cpu_user_s"`
	SysS       float64 `json:"cpu_sys_s"`
	CorePct    float64 `json:"core_pct"`
	Streams    int     `json:"streams_live"`
	NewStreams int64   `json:"streams_new"`
	Ended      int64   `json:"streams_ended"`
	RxPackets  int64   `json:"rx_packets"`
	RxAudio    int64   `json:"rx_audio"`
	RxOther    int64   `json:"rx_not_rtp"`
	TxPackets  int64   `json:"tx_packets"`
	TxFailed   int64   `json:"tx_failed"`
	Expected   int64   `json:"expected"`
	Lost       int64   `json:"lost"`
	LossPct    float64 `json:"loss_pct"`
	Deltas     int64   `json:"deltas"`
	MeanMs     float64 `json:"mean_delta_ms"`
	DevP50Ms   float64 `json:"dev_p50_ms"`
	DevP99Ms   float64 `json:"dev_p99_ms"`
	DevP999Ms  float64 `json:"dev_p999_ms"`
	MaxDeltaMs float64 `json:"max_delta_ms"`
	Drops      int64   `json:"socket_drops"`
	RcvBuf     int     `json:"rcvbuf_bytes"`
	AvgBatch   float64 `json:"avg_recv_batch"`
	LateTicks  int64   `json:"late_ticks"`
	MaxLagMs   float64 `json:"max_tick_lag_ms"`
	// SkippedTicks is ticks a stall of the generator made it skip (each stream in their slots
	// lost a frame's turn; its sequence stays continuous, so the server sees a gap, not loss).
	SkippedTicks int64 `json:"skipped_ticks"`
	// SilentFrames is PCMU frames of pure silence (0xFF) received after a stream's first frame of
	// sound: with a caller whose audio is echoed back (the streams level), each is a tick where the
	// echo was not there in time, a gap the caller hears.
	SilentFrames int64 `json:"silent_frames"`
}

func (w Window) String() string {
	return fmt.Sprintf("%d streams, rx %d tx %d, lost %d/%d, p99 %.3f ms, drops %d, %.1f %% core",
		w.Streams, w.RxPackets, w.TxPackets, w.Lost, w.Expected, w.DevP99Ms, w.Drops, w.CorePct)
}

// Echo is what bench/cmd/streamecho, the media streams application of the bench, measured between
// two marks: the streams it served, the media messages it echoed, how regularly the caller's frames
// reached it, and how long its marks took to come back (the time its audio waited in pivotua's
// playback queue, plus the socket both ways).
type Echo struct {
	WallS       float64 `json:"wall_s"`
	UserS       float64 `json:"cpu_user_s"`
	SysS        float64 `json:"cpu_sys_s"`
	CorePct     float64 `json:"core_pct"`
	Streams     int     `json:"streams_open"`
	NewStreams  int64   `json:"streams_new"`
	Closed      int64   `json:"streams_closed"`
	MediaIn     int64   `json:"media_in"`
	MediaOut    int64   `json:"media_out"`
	OtherIn     int64   `json:"other_in"` // connected, start, stop, dtmf
	Errors      int64   `json:"errors"`   // connections that ended other than by stop and a normal close
	MarksSent   int64   `json:"marks_sent"`
	MarksBack   int64   `json:"marks_back"`
	Deltas      int64   `json:"deltas"`
	DevP50Ms    float64 `json:"in_dev_p50_ms"` // |Δ − 20 ms| between a stream's media messages as they reached the app
	DevP99Ms    float64 `json:"in_dev_p99_ms"`
	DevP999Ms   float64 `json:"in_dev_p999_ms"`
	MaxDeltaMs  float64 `json:"in_max_delta_ms"`
	MarkP50Ms   float64 `json:"mark_p50_ms"` // a mark sent right after an echoed frame, until it came back
	MarkP99Ms   float64 `json:"mark_p99_ms"`
	MarkMaxMs   float64 `json:"mark_max_ms"`
	FirstErrMsg string  `json:"first_error,omitempty"`
}
