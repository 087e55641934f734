//go:build race

package codec

// raceDetector is true in `go test -race`, where instrumented loops run
// many times slower.
const raceDetector = true
