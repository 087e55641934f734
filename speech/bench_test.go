package speech

import (
	"fmt"
	"sync"
	"syscall"
	"testing"
	"time"
)

// BenchmarkPocketsphinx reports the offline engine's CPU seconds per second of audio (its child
// processes' user+system time, from wait4's rusage) and the real-time factor with N recognitions
// in parallel, fed as fast as they take audio: a factor under 1/N... is what N concurrent callers
// need, so the largest N whose wall time per audio second stays under 1 is what the box sustains.
func BenchmarkPocketsphinx(b *testing.B) {
	pcm := spoken(b, testVoice, "I would like to talk to someone about my account please")
	audio := float64(len(pcm)) / 8000
	for _, par := range []int{1, 2, 4} {
		for _, hints := range [][]string{nil, {"account", "sales", "billing"}} {
			b.Run(fmt.Sprintf("parallel=%d/hints=%v", par, hints != nil), func(b *testing.B) {
				rec := offline(b, par)
				before := childCPU()
				start := time.Now()
				for range b.N {
					var wg sync.WaitGroup
					for range par {
						wg.Add(1)
						go func() {
							defer wg.Done()
							recognise(b, rec, Request{Hints: hints}, pcm)
						}()
					}
					wg.Wait()
				}
				wall := time.Since(start).Seconds()
				total := audio * float64(b.N*par)
				b.ReportMetric((childCPU()-before)/total, "cpu-s/audio-s")
				b.ReportMetric(wall/(audio*float64(b.N)), "wall-s/audio-s")
			})
		}
	}
}

func childCPU() float64 {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_CHILDREN, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()).Seconds()
}
