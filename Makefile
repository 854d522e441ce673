# The two commands a new user types: `make demo` and `make test`.
GO ?= go

.PHONY: demo test build deps vet bench fuzz

demo: build
	./bin/signpost demo

build:
	$(GO) build -o bin/signpost ./cmd/signpost

# deps installs the real components the tests use (ZooKeeper, HAProxy, dig,
# dnsperf, wrk) when missing and running as root; otherwise it says which
# tests will be skipped.
deps:
	@bash scripts/install-deps.sh

vet:
	$(GO) vet ./...
	@out=$$(gofmt -l cmd internal); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

test: deps vet
	$(GO) test -race -count=1 -timeout 15m ./...

# bench runs the benchmarks whose figures docs/benchmarks.md reports.
bench:
	$(GO) test -run '^$$' -bench . -benchmem -count 1 ./...

# fuzz runs every fuzz target for FUZZTIME each (default 30s).
FUZZTIME ?= 30s
fuzz:
	@bash scripts/fuzz-all.sh $(FUZZTIME)
