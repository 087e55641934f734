module github.com/pivotua/pivotua

go 1.26.0

require (
	github.com/emiago/sipgo v1.7.2
	github.com/hajimehoshi/go-mp3 v0.3.4
	github.com/pion/rtp v1.10.6
	github.com/pion/sdp/v3 v3.0.20
	github.com/zaf/g711 v1.4.0
	go.yaml.in/yaml/v4 v4.0.0
)

require (
	github.com/gobwas/httphead v0.1.0 // indirect
	github.com/gobwas/pool v0.2.1 // indirect
	github.com/gobwas/ws v1.3.2 // indirect
	github.com/google/uuid v1.6.0 // indirect
	github.com/icholy/digest v1.2.0 // indirect
	github.com/pion/randutil v0.1.0 // indirect
	golang.org/x/sync v0.16.0 // indirect
	golang.org/x/sys v0.49.0 // indirect
)
