package main

import (
	"net/http"
	"time"

	"github.com/pivotua/pivotua/debugapi"
	"github.com/pivotua/pivotua/flow"
	"github.com/pivotua/pivotua/httpfetch"
	"github.com/pivotua/pivotua/media"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// metrics are pivotua's Prometheus series (names fixed by the product contract). Counters the
// packages already keep (RTP, debug records, live calls) are read at scrape time, so nothing is
// added to the packet path.
type metrics struct {
	registry   *prometheus.Registry
	calls      *prometheus.CounterVec
	placed     *prometheus.CounterVec // the calls placed through the API, counted in calls too
	pivot      *prometheus.CounterVec
	pivotTime  *prometheus.HistogramVec
	dtmf       *prometheus.CounterVec
	recordings *prometheus.CounterVec
}

var _ flow.Observer = (*metrics)(nil)

// metricSources are read when /metrics is scraped.
type metricSources struct {
	activeCalls  func() int
	rtp          func() media.Totals
	lateness     func() media.Lateness // how late the send clocks served their ticks
	debugWritten func() uint64
	debugStats   func() debugapi.RecorderStats  // drops by reason, queued bytes
	mediaBytes   func() (prompts, speech int64) // the decoded-media and speech caches' sizes
	processes    func() int                     // lame/flite/espeak-ng running
	// sessionExpired: calls ended for want of a session refresh (RFC 4028)
	sessionExpired func() uint64
}

func newMetrics(src metricSources) *metrics {
	m := &metrics{
		registry: prometheus.NewRegistry(),
		calls: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "pivotua_calls_total", Help: "Calls taken and calls placed through the API, by outcome: completed, rejected, failed, canceled.",
		}, []string{"outcome"}),
		placed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "pivotua_calls_placed_total", Help: "Calls placed through the API (Calls API, channels API) by outcome; each is in pivotua_calls_total too.",
		}, []string{"outcome"}),
		pivot: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "pivotua_pivot_requests_total", Help: "Pivot requests by HTTP status, or timeout/error when none came.",
		}, []string{"status"}),
		pivotTime: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "pivotua_pivot_request_duration_seconds", Help: "Time from sending a pivot request to its response.",
			Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2, 5, 10, 30},
		}, []string{"status"}),
		dtmf: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "pivotua_dtmf_events_total", Help: "DTMF keys received, by how they came: rfc4733, inband, sip-info.",
		}, []string{"source"}),
		recordings: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "pivotua_recordings_total", Help: "Recordings saved, and their upload events: saved, queued, retry, uploaded, failed (an upload given up, or a recording that could not be written and was removed).",
		}, []string{"state"}),
	}
	gauge := func(name, help string, f func() float64) prometheus.Collector {
		return prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: name, Help: help}, f)
	}
	counter := func(name, help string, f func() float64) prometheus.Collector {
		return prometheus.NewCounterFunc(prometheus.CounterOpts{Name: name, Help: help}, f)
	}
	m.registry.MustRegister(
		m.calls, m.placed, m.pivot, m.pivotTime, m.dtmf, m.recordings,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		gauge("pivotua_calls_active", "Calls between INVITE and their end.", func() float64 { return float64(src.activeCalls()) }),
		counter("pivotua_rtp_packets_sent_total", "RTP packets sent.", func() float64 { return float64(src.rtp().PacketsSent) }),
		counter("pivotua_rtp_packets_received_total", "RTP packets received.", func() float64 { return float64(src.rtp().PacketsReceived) }),
		counter("pivotua_rtp_packets_lost_total", "RTP packets lost, from sequence gaps.", func() float64 { return float64(src.rtp().PacketsLost) }),
		counter("pivotua_stream_frames_dropped_total", "20 ms frames of a call's audio a media stream dropped because its application read slower than real time.",
			func() float64 { return float64(src.rtp().TapFramesDropped) }),
		counter("pivotua_stream_frames_discarded_total", "20 ms frames of a media stream application's audio discarded because their tick had passed (the clock fell behind, or the application sent late): audio the caller did not hear.",
			func() float64 { return float64(src.rtp().StreamFramesDiscarded) }),
		counter("pivotua_debug_records_total", "Pivot debug records written to the store.", func() float64 { return float64(src.debugWritten()) }),
		gauge("pivotua_debug_queue_bytes", "Bytes of debug records waiting for the store (bounded by store.queue_bytes).",
			func() float64 { return float64(src.debugStats().QueuedBytes) }),
		gauge("pivotua_prompt_cache_bytes", "Decoded media prompts held for reuse, in bytes (bounded by media.prompt_cache_bytes).",
			func() float64 { p, _ := src.mediaBytes(); return float64(p) }),
		gauge("pivotua_speech_cache_bytes", "Rendered speech held for reuse, in bytes (bounded by tts.cache_bytes).",
			func() float64 { _, sp := src.mediaBytes(); return float64(sp) }),
		gauge("pivotua_media_processes", "lame, flite and espeak-ng processes running (bounded by media.max_processes).",
			func() float64 { return float64(src.processes()) }),
		counter("pivotua_session_timer_expired_total", "Calls ended with BYE because their session was not refreshed in time (RFC 4028).",
			func() float64 { return float64(src.sessionExpired()) }),
		latenessCollector{src.lateness},
	)
	for reason, n := range map[string]func(debugapi.RecorderStats) uint64{
		debugapi.DropQueueFull: func(s debugapi.RecorderStats) uint64 { return s.DroppedQueueFull },
		debugapi.DropInvalid:   func(s debugapi.RecorderStats) uint64 { return s.DroppedInvalid },
		debugapi.DropRejected:  func(s debugapi.RecorderStats) uint64 { return s.DroppedRejected },
		debugapi.DropClosed:    func(s debugapi.RecorderStats) uint64 { return s.DroppedClosed },
	} {
		m.registry.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "pivotua_debug_records_dropped_total", ConstLabels: prometheus.Labels{"reason": reason},
			Help: "Debug records dropped, by reason: queue_full, invalid, rejected (by the database), closed.",
		}, func() float64 { return float64(n(src.debugStats())) }))
	}
	return m
}

func (m *metrics) CallEnded(outcome string) { m.calls.WithLabelValues(outcome).Inc() }

// CallPlaced counts a placed call in pivotua_calls_total as an inbound one is, and apart: a direction
// label on pivotua_calls_total would rename its existing series.
func (m *metrics) CallPlaced(outcome string) {
	m.calls.WithLabelValues(outcome).Inc()
	m.placed.WithLabelValues(outcome).Inc()
}

func (m *metrics) PivotRequest(status string, elapsed time.Duration) {
	m.pivot.WithLabelValues(status).Inc()
	m.pivotTime.WithLabelValues(status).Observe(elapsed.Seconds())
}

func (m *metrics) DTMF(source string) { m.dtmf.WithLabelValues(source).Inc() }

func (m *metrics) RecordingSaved() { m.recordings.WithLabelValues("saved").Inc() }

// RecordingFailed counts a recording that could not be written (its file was removed) under the
// same "failed" as an upload given up: either way the recording is lost.
func (m *metrics) RecordingFailed() { m.recordings.WithLabelValues("failed").Inc() }

// uploadEvent counts recording uploads (httpfetch.WithUploadObserver).
func (m *metrics) uploadEvent(ev httpfetch.UploadEvent) {
	m.recordings.WithLabelValues(string(ev.Kind)).Inc()
}

func (m *metrics) handler() http.Handler {
	return promhttp.HandlerFor(m.registry, promhttp.HandlerOpts{})
}

// latenessCollector exposes the send clocks' lateness as a histogram read at scrape time.
type latenessCollector struct{ read func() media.Lateness }

var latenessDesc = prometheus.NewDesc("pivotua_clock_tick_lateness_seconds",
	"How late the RTP send clocks served each 1 ms tick that had calls to serve: every frame of the tick left that late. A tail here is the machine's scheduler or a stalled process, and what callers hear as jitter.",
	nil, nil)

func (latenessCollector) Describe(ch chan<- *prometheus.Desc) { ch <- latenessDesc }

func (c latenessCollector) Collect(ch chan<- prometheus.Metric) {
	l := c.read()
	buckets := make(map[float64]uint64, len(media.LatenessBounds))
	var n uint64
	for i, b := range media.LatenessBounds {
		n += l.Counts[i]
		buckets[b.Seconds()] = n
	}
	n += l.Counts[len(media.LatenessBounds)]
	ch <- prometheus.MustNewConstHistogram(latenessDesc, n, l.Sum.Seconds(), buckets)
}
