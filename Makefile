# ml-connector: the two commands of the README (`make demo`, `make test`) plus build, bench and format.
# Each target installs the system packages it needs on a fresh Debian machine (idempotent).

SWIFT ?= swift
# libhiredis-dev: the Redis store's C client; redis-server: the Redis suites start their own on loopback;
# postgresql: the PostgreSQL suites initdb and start their own server on loopback (Debian puts initdb and postgres
# under /usr/lib/postgresql/<version>/bin; as root the tests run them as the package's `postgres` account);
# python3-venv: the offline schema check of infra/ (infra-check).
APT_PACKAGES := libsqlite3-dev libhiredis-dev redis-server postgresql python3-venv
SUDO := $(shell if [ "$$(id -u)" != "0" ] && command -v sudo >/dev/null 2>&1; then echo sudo; fi)
BIN := .build/debug
RELEASE_BIN := .build/release

# infra-check: the Kubernetes schemas bundled by kubernetes-validate (PyPI), in a venv of its own.
INFRA_VENV := .build/infra-venv
KUBERNETES_VALIDATE := kubernetes-validate==1.34.1

.PHONY: deps build demo test infra-check bench format lint clean

deps:
	@missing=""; for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
		echo "installing:$$missing"; \
		$(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get update -qq && \
		$(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; \
	fi
	@command -v $(SWIFT) >/dev/null 2>&1 || { echo "swift is not on PATH (expected Swift 6.x, e.g. /opt/swift/usr/bin)"; exit 1; }

build: deps
	$(SWIFT) build

# The main job on the embedded default: simulated JAGGAER and Business Central, SQLite state.
demo: build
	$(BIN)/local-runner demo

# Suites run one after another: several measure time (paced rate limits, latency faults) while others spawn
# dozens of step processes, and side by side on two cores the second starve the first into false failures.
test: deps infra-check
	$(SWIFT) build --build-tests
	$(SWIFT) test --skip-build --no-parallel

# Validates infra/{knative,keda,stores}/*.yaml offline: core kinds against the Kubernetes 1.34 schemas, Knative and
# KEDA kinds against infra/schemas/ (hand-written from their CRDs). The generated files are compared with the
# function manifests by the Swift tests (EndToEndTests, InfraManifestTests).
infra-check: deps
	@if [ ! -f $(INFRA_VENV)/.installed-$(KUBERNETES_VALIDATE) ]; then \
		rm -rf $(INFRA_VENV) && python3 -m venv $(INFRA_VENV) && \
		$(INFRA_VENV)/bin/pip install -q --disable-pip-version-check '$(KUBERNETES_VALIDATE)' && \
		touch '$(INFRA_VENV)/.installed-$(KUBERNETES_VALIDATE)'; \
	fi
	$(INFRA_VENV)/bin/python infra/validate.py

bench: deps
	@command -v /usr/bin/time >/dev/null 2>&1 || $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq time
	@command -v strace >/dev/null 2>&1 || $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq strace
	$(SWIFT) build -c release
	$(RELEASE_BIN)/local-runner bench --output bench-results.json

format:
	git ls-files -z '*.swift' | xargs -0 $(SWIFT) format format --in-place

lint:
	git ls-files -z '*.swift' | xargs -0 $(SWIFT) format lint --strict

clean:
	rm -rf .build .mlc
