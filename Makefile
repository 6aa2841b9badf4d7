# anycastd. On a fresh Debian 12 machine, as root:
#   make demo   installs what it needs, builds, runs the namespace lab demo
#   make test   installs what it needs and runs every test
SHELL := /bin/bash
export PATH := /usr/local/go/bin:$(PATH)
GO ?= go
VERSION ?= $(shell git describe --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -X github.com/anycastd/anycastd/node.Version=$(VERSION)
LAB_NAME ?= acd
FUZZTIME ?= 10s

.PHONY: all build deps test unit fuzz lint demo bench lab-up lab-down clean image image-test

all: build

build:
	@mkdir -p bin
	$(GO) build -trimpath -ldflags '$(LDFLAGS)' -o bin/anycastd ./cmd/anycastd
	$(GO) build -trimpath -ldflags '$(LDFLAGS)' -o bin/anycastctl ./cmd/anycastctl
	$(GO) build -trimpath -o bin/mininet ./internal/mininet/cmd/mininet

deps:
	bash scripts/deps.sh

# Every test, including the BIRD and namespace integration tests (they need
# root; CI runs as root), then a short run of each fuzz target.
test: deps build lint
	$(GO) test -count=1 -timeout 15m ./...
	@# The patch tests that live beside the GoBGP code they test (AP-10, AP-23).
	$(GO) test -count=1 github.com/osrg/gobgp/v3/internal/pkg/table
	@# A race in GoBGP (AP-27) shows reliably only under the race detector.
	$(GO) test -race -count=1 -run 'TestRejectedOpenIsNotified|TestHostileSessionMessages|TestFaultPolicy' ./bgp
	scripts/lab_test.sh --bin bin
	$(MAKE) fuzz

unit:
	$(GO) test -count=1 -short ./...

# Each native fuzz target, briefly. Longer: make fuzz FUZZTIME=5m
fuzz:
	@set -e; for pkg in $$($(GO) list ./...); do \
	  dir=$$($(GO) list -f '{{.Dir}}' $$pkg); \
	  for f in $$(grep -ho '^func Fuzz[A-Za-z0-9_]*' $$dir/*_test.go 2>/dev/null | sed 's/func //'); do \
	    echo "fuzz $$pkg $$f ($(FUZZTIME))"; \
	    $(GO) test -run='^$$' -fuzz="^$$f$$" -fuzztime=$(FUZZTIME) -fuzzminimizetime=5s $$pkg >/dev/null || { echo "fuzz $$f failed"; $(GO) test -run='^$$' -fuzz="^$$f$$" -fuzztime=1s $$pkg; exit 1; }; \
	  done; \
	done

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	@# A 32-bit build catches constants that overflow int (math.MaxUint32 once did).
	GOARCH=386 $(GO) build -o /dev/null ./...
	shellcheck -x scripts/*.sh scripts/bench/*.sh scripts/lib/*.sh .ci/run
	@# Every hunk in third_party/gobgp names its advisory or bug and its test.
	scripts/check_gobgp_patch.sh
	@bad=$$(git ls-files -s -- 'scripts/*.sh' 'scripts/**/*.sh' .ci/run | awk '$$1 != "100755" {print $$4}'); \
	  if [ -n "$$bad" ]; then echo "not executable in git (git update-index --chmod=+x): $$bad"; exit 1; fi

demo: deps build
	scripts/demo.sh

# anycastd beside Unbound, Knot Resolver and PowerDNS Recursor against the
# mini internet; writes docs/benchmarks.md. Env knobs: scripts/bench/run.sh.
bench: deps build
	scripts/bench/run.sh

lab-up: deps build
	scripts/lab.sh up --name $(LAB_NAME)

lab-down:
	scripts/lab.sh down --name $(LAB_NAME)

# The appliance image: out/anycastd-<version>-amd64.img (+ .zst, .bmap,
# .sha256). Needs root and the Debian mirror. docs/image.md
image: build
	image/build.sh $(if $(IMAGE_VERSION),--version $(IMAGE_VERSION))

# Builds three images and boots them under QEMU/OVMF in the lab: announce,
# upgrade, forced rollback. About 20 minutes under TCG. docs/image.md
image-test: build
	image/test.sh

clean:
	rm -rf bin out
