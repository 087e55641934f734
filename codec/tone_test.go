package codec

import (
	"math"
	"testing"
	"time"
)

func TestToneHasRequestedLength(t *testing.T) {
	tests := []struct {
		d    time.Duration
		want int
	}{
		{time.Second, 8000},
		{FrameDuration, FrameSamples},
		{0, 0},
		{-time.Second, 0},
	}
	for _, tt := range tests {
		if got := len(Tone(440, tt.d, 0.5)); got != tt.want {
			t.Errorf("Tone(%v) has %d samples, want %d", tt.d, got, tt.want)
		}
	}
}

func TestToneClampsAmplitude(t *testing.T) {
	for _, s := range Tone(1000, 10*time.Millisecond, 5) {
		if s == math.MinInt16 {
			t.Fatal("amplitude above 1 wrapped around")
		}
	}
	for _, s := range Tone(1000, 10*time.Millisecond, -1) {
		if s != 0 {
			t.Fatal("negative amplitude produced sound")
		}
	}
}

func TestGoertzelMeasuresToneLevel(t *testing.T) {
	tests := []struct {
		name      string
		freq      float64
		amplitude float64
		probe     float64
		minDB     float64
		maxDB     float64
	}{
		{"full scale on frequency", 1000, 1, 1000, -0.2, 0.2},
		{"-20 dBFS on frequency", 1000, 0.1, 1000, -20.2, -19.8},
		{"off-bin DTMF row", 697, 0.5, 697, -6.3, -5.7},
		{"neighbouring DTMF row is absent", 697, 0.5, 770, -400, -30},
		{"another tone far away", 1000, 1, 2000, -400, -40},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pcm := Tone(tt.freq, 100*time.Millisecond, tt.amplitude)
			got := dB(Goertzel(pcm, tt.probe, SampleRate))
			if got < tt.minDB || got > tt.maxDB {
				t.Fatalf("Goertzel = %.2f dB, want %.1f..%.1f", got, tt.minDB, tt.maxDB)
			}
		})
	}
}

func TestGoertzelOfNothingIsZero(t *testing.T) {
	if p := Goertzel(nil, 1000, SampleRate); p != 0 {
		t.Fatalf("empty input: %v", p)
	}
	if p := Goertzel(make([]int16, 800), 1000, SampleRate); p != 0 {
		t.Fatalf("silence: %v", p)
	}
	if p := Goertzel(Tone(1000, time.Second, 1), 1000, 0); p != 0 {
		t.Fatalf("zero rate: %v", p)
	}
}
