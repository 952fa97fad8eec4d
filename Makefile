# streamgate: `make run` starts the gateway with the built-in demo,
# `make test` installs missing test tools (as root) and runs every test.
GO ?= go

.PHONY: run build test test-deps check bench fuzz

run:
	$(GO) run ./cmd/streamgate

build:
	$(GO) build -o bin/streamgate ./cmd/streamgate

test-deps:
	./scripts/install-test-deps.sh

# check: formatting and vet, fast enough for every commit.
check:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...

# test: what CI runs. Benchmarks run once each so they never rot.
test: test-deps check
	$(GO) test -race -timeout 15m ./...
	$(GO) test -run '^$$' -bench . -benchtime 1x ./...

# bench: the performance numbers quoted in the README.
bench:
	$(GO) test -run '^$$' -bench . -benchmem ./...

# fuzz: each fuzz target for FUZZTIME (default 60s).
FUZZTIME ?= 60s
fuzz:
	@for pkg in $$($(GO) list ./...); do \
	  for f in $$($(GO) test -list '^Fuzz' $$pkg | grep '^Fuzz'); do \
	    echo "== $$pkg $$f"; $(GO) test -run '^$$' -fuzz "^$$f$$" -fuzztime $(FUZZTIME) $$pkg || exit 1; \
	  done; \
	done
