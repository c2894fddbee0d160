# Developer tasks for tocsin. `make` (or `make help`) lists them.

GO          ?= go
FUZZTIME    ?= 30s
CONFIG      ?= config.yaml
# staticcheck 2026.2.2 (v0.8.2), checked to run with Go 1.26.
STATICCHECK ?= honnef.co/go/tools/cmd/staticcheck@v0.8.2

.DEFAULT_GOAL := help

.PHONY: help build test lint fuzz bench bench-micro run tidy-check

help: ## Show this list of targets
	@awk 'BEGIN { FS = ":.*## " } /^[a-zA-Z0-9_-]+:.*## / { printf "  %-12s %s\n", $$1, $$2 }' $(MAKEFILE_LIST)

build: ## Build the binaries under cmd/ into bin/
	$(GO) build -o bin/ ./cmd/...

test: ## Vet, then run all tests with the race detector (see docs/ci.md for MySQL)
	$(GO) vet ./...
	$(GO) test -race -count=1 -timeout 4m ./...

lint: ## Run go vet and staticcheck
	$(GO) vet ./...
	$(GO) run $(STATICCHECK) ./...

fuzz: ## Run every Fuzz* target for FUZZTIME each (default 30s)
	@set -e; \
	list=$$($(GO) test -list '^Fuzz' ./...); \
	targets=$$(printf '%s\n' "$$list" | awk '/^Fuzz/ { names[n++] = $$1; next } /^ok / { for (i = 0; i < n; i++) print $$2 " " names[i]; n = 0 } /^(FAIL|\?) / { n = 0 }'); \
	if [ -z "$$targets" ]; then echo "no Fuzz targets found"; exit 0; fi; \
	printf '%s\n' "$$targets" | while read -r pkg name; do \
		echo "== fuzz $$pkg $$name ($(FUZZTIME))"; \
		$(GO) test -run '^$$' -fuzz "^$$name\$$" -fuzztime $(FUZZTIME) "$$pkg" </dev/null || exit 1; \
	done

bench: ## Short standard tocsin-bench runs on SQLite and MariaDB, then the micro-benchmarks
	GO=$(GO) bash scripts/bench.sh

bench-micro: ## Run all Go benchmarks (no tests) with allocation counts
	$(GO) test -run '^$$' -bench . -benchmem ./...

run: ## Run the server with CONFIG (default config.yaml)
	$(GO) run ./cmd/tocsin serve --config $(CONFIG)

tidy-check: ## Run go mod tidy and fail if go.mod or go.sum changed
	$(GO) mod tidy
	@git diff --exit-code -- go.mod go.sum || \
		{ echo "go.mod/go.sum are not tidy: run 'go mod tidy' and commit the result" >&2; exit 1; }
