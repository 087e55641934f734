# pivotua: `make run` starts it on the embedded demo config; `make test` runs every test.
GO      ?= go
BIN     := bin/pivotua
VERSION := $(shell git describe --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -X main.version=$(VERSION)
FUZZTIME ?= 20s
SOAK_MINUTES ?= 5

.PHONY: all build run test unit e2e test-cluster deps lint bench fuzz soak clean

all: build

build:
	$(GO) build -ldflags "$(LDFLAGS)" -o $(BIN) ./cmd/pivotua

run: build
	@./scripts/install-deps.sh run
	./$(BIN) serve

# System packages, installed only when missing: what running needs (flite, lame, espeak-ng) and the test
# peers (SIPp, baresip, sox, tshark, PostgreSQL, Kamailio, Chromium, Node.js).
deps:
	@./scripts/install-deps.sh test

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	  if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi
	$(GO) mod tidy -diff
	$(GO) vet ./...

# Every test: unit tests with the race detector, then the end-to-end tests that
# drive the real binary with SIPp (they run in cmd/pivotua and need root for nothing).
test: deps lint
	$(GO) test -count=1 -run '^TestHotPathsDoNotAllocate$$' ./media
	$(GO) test -race -count=1 -timeout 45m ./...
	MEDIA_TEST_IO_URING=off $(GO) test -race -count=1 ./media

unit: lint
	$(GO) test -race -count=1 -short ./...

e2e: deps
	$(GO) test -count=1 -run 'TestE2E' -v ./cmd/pivotua

# Kamailio (deploy/kamailio) in front of two pivotua nodes sharing one PostgreSQL, on loopback
# addresses 127.0.0.10-12; one node drains, comes back and dies mid-run (about 30 s); then the same
# config over TCP to two more nodes on .13-14 (about 10 s); then the Calls API across two nodes (an
# update sent to the node without the call, a stopped and a killed owner: about 20 s). `make test` runs it too.
test-cluster: deps
	$(GO) test -count=1 -run 'TestE2ECluster' -v ./cmd/pivotua

# Micro-benchmarks (-benchmem, pprof beside the result), the SRTP budget, the concurrency ladder (SIPp
# signals the calls, rtpgen answers their RTP and measures pacing and loss), the streams level (every call
# a media stream to bench/cmd/streamecho), the rooms levels (callers in <Dial><Conference> rooms), the
# speech engine's real-time factor with N recognitions at once, the setup-rate ladder and the Calls API
# (calls.create to the callee's 200, API answer times with live calls); bounded, loopback only.
# Writes bench/results/<timestamp>.json and prints tables (bench/README.md). Override with
# BENCH_MODES=micro,srtp,conc,ref,streams,rooms,speech,setup,api BENCH_LEVELS=500,1000,2000,3000
# BENCH_RATES=50,100,200,300,500,700,1000 BENCH_REF_LEVELS=500,1000 BENCH_STREAM_LEVELS=300,1000
# BENCH_ROOM_LEVELS=200x5,1x100 BENCH_SPEECH_LEVELS=1,2,3,4,5,6,8,12,16,24,32,48 BENCH_API_RATES=20,50,100 BENCH_API_LIVE=500
# BENCH_HOLD=25s BENCH_WINDOW=20s BENCH_CAPTURE=10s BENCH_RATE_DUR=10s BENCH_TIME=500ms BENCH_KEEP=1.
bench: deps
	$(GO) run ./bench/cmd/loadrun

# Each fuzz target for FUZZTIME (-short: no end-to-end binary build). Not part of `make test`.
fuzz:
	@for pkg in $$($(GO) list ./...); do \
	  for f in $$($(GO) test -short -list '^Fuzz' $$pkg | grep '^Fuzz'); do \
	    echo "== $$pkg $$f"; $(GO) test -short -run '^$$' -fuzz "^$$f$$" -fuzztime $(FUZZTIME) $$pkg || exit 1; \
	  done; \
	done

# The soak test for SOAK_MINUTES: SIPp drives mixed calls at the real binary, then goroutines, open
# files, RTP ports and memory must return to baseline. `make test` runs a one-minute form of it.
soak: deps
	SOAK_MINUTES=$(SOAK_MINUTES) $(GO) test -count=1 -run 'TestE2ESoak' -v -timeout $$(( $(SOAK_MINUTES) * 60 + 600 ))s ./cmd/pivotua

clean:
	rm -rf bin
