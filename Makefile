# oakley: a pure-Go userspace IPsec VPN.
#   make demo    two oakley peers in one unprivileged process, real traffic across (no root)
#   make test    every test: unit, fuzz seeds, in-memory engines, and (as root) the e2e suite
#   make bench   the benchmark harness (see README)
GO ?= go
BIN := bin/oakley
VERSION ?= $(shell git describe --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -s -w -X main.version=$(VERSION)

.PHONY: all build demo test unit e2e vet cross fuzz bench bench-esp clean test-arm64 chaos soak loadtest

all: build

build:
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN) ./cmd/oakley

demo: build
	./$(BIN) demo

vet:
	$(GO) vet ./...
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { gofmt -l $$(git ls-files '*.go'); echo "gofmt needed"; exit 1; }

cross:
	GOOS=darwin GOARCH=arm64 $(GO) build ./...
	GOOS=windows GOARCH=amd64 $(GO) build ./...

unit:
	$(GO) test -count=1 -timeout 15m $$(go list ./... | grep -v '/e2e$$')

e2e: build
	OAKLEY_BIN=$(CURDIR)/$(BIN) $(GO) test -count=1 -timeout 20m -v ./e2e/ >e2e.log 2>&1; rc=$$?; grep -E '^(=== RUN|--- |PASS|FAIL|ok|panic|\s+e2e_)' e2e.log; exit $$rc

test: vet cross unit e2e

# Every fuzz target, 10 million executions each (the slow state-machine and DH targets 30
# minutes); counts to fuzz-counts.txt, new crashers kept as seeds (outside CI: CI runs the
# seeds as ordinary tests through `unit`). e.g. FUZZTIME=30s for a short run.
FUZZTIME ?= 10000000x
FUZZTIME_SLOW ?= 30m
fuzz:
	GO=$(GO) FUZZTIME=$(FUZZTIME) FUZZTIME_SLOW=$(FUZZTIME_SLOW) ./e2e/fuzz.sh

bench-esp:
	$(GO) test ./esp -run '^$$' -bench 'ESP|Bare' -benchmem -count 5

clean:
	rm -rf bin e2e.log chaos.log soak.log loadtest.log

# The benchmark harness: veth, oakley, wireguard-go and strongSwan between two namespaces (root),
# plus the in-memory pipeline benchmark. BENCHFLAGS e.g. "-time 5 -runs 1 -only veth,wireguard-go".
BENCHFLAGS ?=
bench:
	$(GO) run ./e2e/bench $(BENCHFLAGS)

# The crypto and esp tests built for arm64 and run under qemu-user (Debian's qemu-user): the
# AES-CBC kernels are amd64-only, so this proves the portable paths an arm64 gateway runs.
test-arm64:
	@command -v qemu-aarch64 >/dev/null || { echo "test-arm64: qemu-aarch64 missing (apt-get install qemu-user)"; exit 1; }
	@mkdir -p bin/arm64
	@for p in crypto esp; do \
	  GOARCH=arm64 CGO_ENABLED=0 $(GO) test -c -o bin/arm64/$$p.test ./$$p || exit 1; \
	  echo "== $$p (arm64, qemu-aarch64)"; (cd $$p && qemu-aarch64 ../bin/arm64/$$p.test -test.count=1) || exit 1; \
	done

# Release artefacts and their tests (packaging/README.md):
#   make dist            static, reproducible binaries for Linux, macOS and Windows (amd64, arm64)
#                        and SHA256SUMS in dist/
#   make deb             dist/oakley_VERSION_ARCH.deb for DEB_ARCHS, with dpkg-deb alone
#   make test-packages   reproducibility; this machine's .deb installed, exercised and purged
#                        (root); the Windows binary under Wine; the examples; the container
#                        image (root, podman). It builds only what those tests run, into
#                        dist/ci: the four platforms nobody runs here would add minutes of
#                        compiling to CI (make cross already compiles darwin and windows code).
SOURCE_DATE_EPOCH ?= $(shell git log -1 --format=%ct 2>/dev/null || echo 0)
DEB_ARCHS ?= amd64 arm64
PKGENV = GO=$(GO) VERSION=$(VERSION) SOURCE_DATE_EPOCH=$(SOURCE_DATE_EPOCH)
CI_DIST := dist/ci
.PHONY: dist deb test-packages

dist:
	$(PKGENV) packaging/dist.sh dist

deb: dist
	$(PKGENV) packaging/deb/build.sh dist $(DEB_ARCHS)

test-packages:
	rm -rf $(CI_DIST)
	$(PKGENV) packaging/dist.sh $(CI_DIST) linux/$$($(GO) env GOARCH) windows/amd64
	$(PKGENV) packaging/deb/build.sh $(CI_DIST) $$($(GO) env GOARCH)
	packaging/deb/version.sh --self-test
	$(PKGENV) packaging/test-reproducible.sh
	$(PKGENV) packaging/test-deb.sh $(CI_DIST)
	$(PKGENV) packaging/test-windows.sh $(CI_DIST)
	python3 packaging/check_examples.py $(CI_DIST)/oakley_linux_$$($(GO) env GOARCH)
	$(PKGENV) packaging/test-container.sh $(CI_DIST)

# Reliability (issue 13), root: the chaos suite, the soak and the load test in their full form
# (`make test` runs each in a bounded form). Logs go to chaos.log, soak.log, loadtest.log;
# `grep FIGURE` them for the figures. E2E_RESULTS=FILE also appends the figures to FILE.
E2E_FILTER := grep -E '^(=== RUN|--- |PASS|FAIL|ok|panic)|FIGURE'
CHAOS_SEED ?= random
CHAOS_TRIES ?= 20
CHAOS_COLLISIONS ?= 100
CHAOS_DEADLINE ?= 360s
CHAOS_DEADPEER_ROUNDS ?= 10
chaos: build
	OAKLEY_KNOWN_FAILURES=1 OAKLEY_BIN=$(CURDIR)/$(BIN) CHAOS_SEED=$(CHAOS_SEED) CHAOS_TRIES=$(CHAOS_TRIES) CHAOS_COLLISIONS=$(CHAOS_COLLISIONS) CHAOS_DEADLINE=$(CHAOS_DEADLINE) \
	  CHAOS_SOME_DEADLINE=$(CHAOS_DEADLINE) CHAOS_DEADPEER_ROUNDS=$(CHAOS_DEADPEER_ROUNDS) \
	  $(GO) test -count=1 -timeout 6h -v -run '^TestReliability$$/^chaos-' ./e2e/ >chaos.log 2>&1; rc=$$?; $(E2E_FILTER) chaos.log; exit $$rc

DURATION ?= 30m
soak: build
	OAKLEY_BIN=$(CURDIR)/$(BIN) SOAK_DURATION=$(DURATION) \
	  $(GO) test -count=1 -timeout 0 -v -run '^TestReliability$$/^soak$$' ./e2e/ >soak.log 2>&1; rc=$$?; $(E2E_FILTER) soak.log; exit $$rc

# RA_N: remote-access clients of part load-ra (`make test` runs 200).
N ?= 1000
RA_N ?= 1000
LOAD_VERSIONS ?= 1,2
LOAD_LAYOUTS ?= any,per-peer
loadtest: build
	OAKLEY_KNOWN_FAILURES=1 OAKLEY_BIN=$(CURDIR)/$(BIN) LOAD_PEERS=$(N) LOAD_RA_CLIENTS=$(RA_N) LOAD_VERSIONS=$(LOAD_VERSIONS) LOAD_LAYOUTS=$(LOAD_LAYOUTS) \
	  $(GO) test -count=1 -timeout 2h -v -run '^TestReliability$$/^load(-ra)?$$' ./e2e/ >loadtest.log 2>&1; rc=$$?; $(E2E_FILTER) loadtest.log; exit $$rc

# The in-process IKE engine against strongSwan through the shared interop harness (root;
# the e2e suite covers the same through the binary in `make test`).
SWAN_HARNESS ?= ../shared/interop/strongswan
interop-harness:
	OAKLEY_SWAN_HARNESS=$(abspath $(SWAN_HARNESS)) $(GO) test -count=1 -v -run 'TestStrongSwanInterop' ./ike/
