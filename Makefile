# fleetwire: the commands a fresh machine needs. Everything else is `go`.
GO        ?= go
BIN       := ./fleetwire
PKGS      := ./...
FUZZTIME  ?= 20000x
BENCHTIME ?= 1s

.PHONY: all build run test race vet lint bench bench-ack bench-devices bench-quick bench-server bench-go fuzz dist clean

all: build

# -buildvcs=auto (Go's default, which a GOFLAGS=-buildvcs=false would
# turn off): `fleetwire version` names the commit of a build in a clone.
build:
	$(GO) build -buildvcs=auto -o $(BIN) ./cmd/fleetwire

# Start the server on its embedded defaults (loopback ports 7070 tcp,
# 7071 udp, 7080 http; data under ./data).
run: build
	$(BIN) serve

# What CI runs: formatting, vet, and every test with the race detector.
test:
	@unformatted="$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go'))"; \
	if [ -n "$$unformatted" ]; then echo "gofmt needed on:"; echo "$$unformatted"; exit 1; fi
	@$(GO) mod tidy -diff || { echo "go.mod/go.sum are not tidy: run go mod tidy"; exit 1; }
	$(GO) vet $(PKGS)
	$(GO) test -race -count=1 -timeout 20m $(PKGS)

lint: vet
	@unformatted="$$(gofmt -l $$(git ls-files '*.go'))"; \
	if [ -n "$$unformatted" ]; then echo "gofmt needed on:"; echo "$$unformatted"; exit 1; fi
	$(GO) run honnef.co/go/tools/cmd/staticcheck@v0.8.2 $(PKGS)

vet:
	$(GO) vet $(PKGS)

# Micro-benchmarks of every package (benchstat-compatible output), except
# package bench, whose benchmarks start processes (bench-server).
bench-go:
	$(GO) test -run '^$$' -bench . -benchmem -benchtime $(BENCHTIME) $$($(GO) list $(PKGS) | grep -v '/bench$$')

# The default suite of `fleetwire bench` (about half an hour on 2 cores):
# TCP vs UDP vs TLS, every codec, batch sizes, lossy and cellular netns
# links, gnet beside the std baseline, a 10 s device on each emulated
# link, plus the codecs' micro-benchmarks.
# Report: $(BENCH_OUT)/report.md.
BENCH_OUT ?= bench/results/$(shell date -u +%F)-default
bench: build
	$(BIN) bench --out $(BENCH_OUT) --codec-bench .

# Acknowledged delivery (tcp+ack, udp+ack) beside the same fleets
# without it on every emulated link, and a 3-minute steady state: about
# 40 minutes. Report: $(BENCH_ACK_OUT)/report.md.
BENCH_ACK_OUT ?= bench/results/$(shell date -u +%F)-acked
bench-ack: build
	$(BIN) bench --suite acked --out $(BENCH_ACK_OUT)

# Device profiles (bench/suites/devices.yaml): duty-cycled devices, every
# transport and session mode, on every emulated link: about 2 hours in
# sequence (docs/bench.md runs it faster, a matrix per link side by side).
# Report: $(BENCH_DEV_OUT)/report.md.
BENCH_DEV_OUT ?= bench/results/$(shell date -u +%F)-devices
bench-devices: build
	$(BIN) bench --suite devices --out $(BENCH_DEV_OUT)

# A smoke run of the runner, under a minute.
bench-quick: build
	$(BIN) bench --quick --out $(shell mktemp -d)

# The server-CPU benchmarks (speed targets) as Go benchmarks driving the real binary
# (tcp-bulk, tcp-sensor, udp, idle-rss; gnet and std each): a few minutes.
# FLEETWIRE_BENCH_PERF=dir adds a perf profile of the server per case.
bench-server:
	$(GO) test -run '^$$' -bench ServerCPU -benchtime 1x -timeout 30m ./bench

# Run every fuzz target for FUZZTIME each (go test -fuzz takes one target
# per run, so they run one after another). FUZZTIME is a count of inputs
# ("20000x"): a time-based -fuzztime can end a run that found nothing
# with "context deadline exceeded" when the last input was still running.
fuzz:
	@set -e; for pkg in $$($(GO) list ./...); do \
	  for target in $$($(GO) test -list '^Fuzz' $$pkg | grep '^Fuzz'); do \
	    echo "== $$pkg $$target"; \
	    $(GO) test -run '^$$' -fuzz "^$$target$$" -fuzztime $(FUZZTIME) $$pkg; \
	  done; \
	done

# Static binaries for linux/amd64 and linux/arm64 (a gateway on a
# Raspberry Pi) and a Debian package of each, into $(DIST): the binary,
# the hardened systemd unit, /etc/fleetwire/fleetwire.yaml (docs/install.md).
# The version is `git describe --tags --always --dirty`.
DIST ?= dist
dist:
	GO=$(GO) packaging/dist.sh amd64 $(DIST)
	GO=$(GO) packaging/dist.sh arm64 $(DIST)

clean:
	rm -f $(BIN)
	rm -rf $(DIST)
