# ledger — make targets. `make test` is the README's test command.
GO ?= go

.PHONY: build release test run lint api-lint screenshots bench soak crash cluster-smoke bench-cluster check-domain-imports

build:
	$(GO) build -buildvcs=true -o bin/ledger ./cmd/ledger

# Static release builds for linux/amd64 and linux/arm64 in dist/, stamped
# with the commit (ledger version), with their SHA-256 sums.
release:
	rm -rf dist && mkdir -p dist
	for arch in amd64 arm64; do \
	  CGO_ENABLED=0 GOOS=linux GOARCH=$$arch $(GO) build -buildvcs=true -trimpath -o dist/ledger-linux-$$arch ./cmd/ledger || exit 1; \
	done
	cd dist && sha256sum ledger-linux-* > SHA256SUMS && cat SHA256SUMS

test:
	$(GO) test -race ./...

run:
	$(GO) run ./cmd/ledger serve --demo

# The benchmark is not part of the tests (its smoke mode is): about 5 minutes.
# With the Debian package postgresql installed, PostgreSQL's figures (an
# event table, bench/pgpeer) are measured in the same run.
bench:
	bench/run.sh --out bench.json

# The long forms of the reliability drills (the tests run short forms):
# a 10-minute soak at 200 events/s comparing the process's memory with a fresh
# one on the same data (heap profiles in soak-heap.pprof and fresh-heap.pprof),
# and 100 kill -9 cycles under 32 writers.
soak:
	$(GO) test ./cmd/ledger -run '^TestSoak$$' -count=1 -v -timeout 30m -soak.duration 10m -soak.out $(CURDIR)
	$(GO) tool pprof -top -sample_index=inuse_space soak-heap.pprof | head -25

crash:
	$(GO) test -race ./cmd/ledger -run '^TestCrashCycles$$' -count=1 -v -timeout 60m -crash.cycles 100

# The deploy/ topology — three nats-server nodes over TLS with accounts, two
# ledger instances — started from the binaries, smoke-tested, stopped.
cluster-smoke:
	RUN_DIR=$$(mktemp -d) && trap 'RUN_DIR='"$$RUN_DIR"' deploy/cluster.sh down; rm -rf '"$$RUN_DIR" EXIT && \
	  RUN_DIR=$$RUN_DIR deploy/cluster.sh up && RUN_DIR=$$RUN_DIR deploy/smoke.sh

# The append measures on a three-node cluster next to one node (README, "On a cluster").
bench-cluster:
	deploy/bench-cluster.sh 10s

lint: check-domain-imports
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...

# The web workspace's pages over the demo data, in Chromium, as PNGs in
# docs/screenshots (Chinese text needs a CJK font: apt-get install fonts-noto-cjk).
screenshots:
	$(GO) test ./cmd/ledger -run '^TestWorkspaceInTheBrowser$$' -count=1 -screenshots $(CURDIR)/docs/screenshots

# The OpenAPI document through redocly, spectral, openapi-typescript and
# oapi-codegen (needs Node.js and npm; not part of .ci/run).
api-lint:
	scripts/api-lint.sh

# domain/ is pure: it may import no NATS and no HTTP.
check-domain-imports:
	@bad=$$($(GO) list -deps ./domain | grep -E 'nats-io|net/http' || true); \
	if [ -n "$$bad" ]; then echo "domain/ imports $$bad"; exit 1; fi
