# ledger — make targets. `make test` is the README's test command.
GO ?= go

.PHONY: build test run lint bench check-domain-imports

build:
	$(GO) build -o bin/ledger ./cmd/ledger

test:
	$(GO) test -race ./...

run:
	$(GO) run ./cmd/ledger serve --demo

# The benchmark is not part of the tests (its smoke mode is): about 4 minutes.
bench:
	$(GO) run ./cmd/ledger bench --out bench.json

lint: check-domain-imports
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...

# domain/ is pure: it may import no NATS and no HTTP.
check-domain-imports:
	@bad=$$($(GO) list -deps ./domain | grep -E 'nats-io|net/http' || true); \
	if [ -n "$$bad" ]; then echo "domain/ imports $$bad"; exit 1; fi
