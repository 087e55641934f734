// Package genwindow is what bench/cmd/rtpgen reports and bench/cmd/loadrun reads: the figures of
// one measurement window, one JSON line on rtpgen's stdout per "mark" on its stdin.
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
}

func (w Window) String() string {
	return fmt.Sprintf("%d streams, rx %d tx %d, lost %d/%d, p99 %.3f ms, drops %d, %.1f %% core",
		w.Streams, w.RxPackets, w.TxPackets, w.Lost, w.Expected, w.DevP99Ms, w.Drops, w.CorePct)
}
