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
# The e2e suites run the real Envoy and a real kube-apiserver (+ kine), built from the registries
# and cached by version (scripts/tools.sh, scripts/cluster/build.sh): a cold machine builds them
# once (about 10 minutes for the API server), later runs reuse them.
E2E_ENV = ENVOY_BIN="$(ENVOY_BIN)" FHIRGATE_E2E_CLUSTER=1

.PHONY: test
test: deps typecheck lint cluster-build ## Type-check, lint and run every test suite (unit, e2e with real Envoy and kube-apiserver)
	$(E2E_ENV) $(NODE_TEST) "test/unit/**/*.test.ts" "test/e2e/**/*.test.ts"

.PHONY: unit
unit: deps ## Unit tests only
	$(NODE_TEST) "test/unit/**/*.test.ts"

.PHONY: e2e
e2e: deps cluster-build ## End-to-end tests through the real Envoy and kube-apiserver
	$(E2E_ENV) $(NODE_TEST) "test/e2e/**/*.test.ts"

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

##@ Cluster
# A real kube-apiserver on kine (SQLite) on loopback, for the control-plane tests. Binaries are
# built from the Go module proxy and cached by version under $XDG_CACHE_HOME/fhirgate; see
# scripts/cluster/. State (certs, data, logs): .tmp/cluster/.
.PHONY: cluster-build
cluster-build: ## Build (or find cached) kube-apiserver, kubectl and kine
	@bin="$$(scripts/cluster/build.sh)"; echo "cluster binaries: $$bin"

.PHONY: cluster-up
cluster-up: ## Start the test cluster, fhirgate-controller, fhirgate-authz and Envoy (:10080) on loopback; prints what to paste
	scripts/cluster/up.sh
	scripts/cluster/dev-up.sh

.PHONY: cluster-down
cluster-down: ## Stop cluster-dev and the test cluster (keeps .tmp/cluster for inspection; rm -rf it to reset)
	scripts/cluster/down.sh
