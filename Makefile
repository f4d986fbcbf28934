# fhirgate — see README.md. Every tool is installed by scripts/tools.sh from the package
# registries, pinned, into a per-version cache under $XDG_CACHE_HOME/fhirgate (reused by CI clones).
SHELL := /usr/bin/env bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help

NODE_BIN := $(shell scripts/tools.sh node)
export PATH := $(NODE_BIN):$(CURDIR)/node_modules/.bin:$(PATH)
# Envoy is resolved (and installed) only by targets that need it.
ENVOY_BIN = $(shell scripts/tools.sh envoy)/envoy
NODE_TEST := node --test --test-concurrency=2 --test-timeout=180000

##@ General
.PHONY: help
help: ## Show this help
	@awk 'BEGIN{FS=":.*##"} /^##@/{printf "\n%s\n",substr($$0,5)} /^[a-zA-Z_-]+:.*##/{printf "  %-16s %s\n",$$1,$$2}' $(MAKEFILE_LIST)

##@ Build
node_modules/.stamp: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

.PHONY: deps
deps: node_modules/.stamp ## Install npm dependencies from the lockfile

.PHONY: typecheck
typecheck: deps ## Type-check everything with strict tsc
	tsc -p tsconfig.json

.PHONY: lint
lint: deps ## Lint the TypeScript sources
	eslint --max-warnings=0 .

##@ Test
.PHONY: test
test: deps typecheck lint ## Type-check, lint and run every test suite (unit + e2e with real Envoy)
	ENVOY_BIN="$(ENVOY_BIN)" $(NODE_TEST) "test/unit/**/*.test.ts" "test/e2e/**/*.test.ts"

.PHONY: unit
unit: deps ## Unit tests only
	$(NODE_TEST) "test/unit/**/*.test.ts"

.PHONY: e2e
e2e: deps ## End-to-end tests through the real Envoy
	ENVOY_BIN="$(ENVOY_BIN)" $(NODE_TEST) "test/e2e/**/*.test.ts"

.PHONY: bench
bench: deps ## Benchmarks (not part of `make test`); figures go to test/bench/results/
	ENVOY_BIN="$(ENVOY_BIN)" test/bench/run.sh

##@ Run
.PHONY: demo
demo: deps ## Local stack: real Envoy, fhirgate-authz, demo issuer, sample FHIR server; prints curl commands
	ENVOY_BIN="$(ENVOY_BIN)" node cmd/fhirgate.ts dev

.PHONY: tools
tools: ## Install the pinned toolchain into the cache
	scripts/tools.sh all

.PHONY: clean
clean: ## Remove build outputs in this clone (the tool cache stays)
	rm -rf node_modules .tmp
