# The contract other tools rely on: run, infra, coordinator, stop, test (see README).
SHELL := /bin/bash
NODE ?= node
COORDCTL := $(NODE) dist/src/cli/main.js
STAMP := node_modules/.install-stamp
PYENV := .cache/py/.install-stamp
FLINKENV := .cache/flink/.install-stamp
KEYCLOAK := .cache/keycloak/.install-stamp
## The console's browser test drives Debian's Chromium (its own browser downloads cannot reach the network).
CHROMIUM := /usr/bin/chromium
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: all build run infra coordinator stop test test-unit test-integration test-faults test-secure test-e2e-plain lint bench replay soak clean check-tools check-test-infra flink

all: build

check-tools:
	@command -v node >/dev/null || { echo "make: Node.js 20.12+ is required (https://nodejs.org or 'apt-get install nodejs')" >&2; exit 1; }
	@node -e 'const [a, b] = process.versions.node.split(".").map(Number); process.exit(a > 20 || (a === 20 && b >= 12) ? 0 : 1)' || { echo "make: Node.js 20.12+ is required (crypto.hash); found $$(node --version)" >&2; exit 1; }
	@command -v java >/dev/null || ls /usr/lib/jvm/*/bin/java >/dev/null 2>&1 || [ -n "$$JAVA_HOME" ] || { echo "make: Java 17+ is required for Kafka (and 21+ for the Schema Registry): 'apt-get install openjdk-17-jre-headless'" >&2; exit 1; }
	@command -v mvn >/dev/null || { echo "make: Maven is required to fetch Kafka and the Schema Registry from Maven Central: 'apt-get install maven'" >&2; exit 1; }

## A changed patch of a dependency is applied by a new install (patch-package runs after npm ci).
$(STAMP): package.json package-lock.json $(wildcard patches/*.patch)
	npm ci --no-audit --no-fund
	@touch $@

## The interop tier's Python client (confluent-kafka, fastavro) in a private virtualenv.
$(PYENV): test/interop/requirements.txt
	@command -v python3 >/dev/null || { echo "make: python3 is required for the interop tests" >&2; exit 1; }
	python3 -m venv .cache/py
	.cache/py/bin/pip install --quiet --disable-pip-version-check -r test/interop/requirements.txt
	@touch $@

## Flink SQL for the changelog's end-to-end test: PyPI apache-flink in a private virtualenv, and the
## Kafka SQL connector and debezium-avro-confluent format jars from Maven Central, of the same Flink version.
$(FLINKENV): test/flink/requirements.txt test/flink/pom.xml
	@command -v python3 >/dev/null || { echo "make: python3 is required for the Flink SQL test" >&2; exit 1; }
	python3 -m venv .cache/flink/venv
	.cache/flink/venv/bin/pip install --quiet --disable-pip-version-check -r test/flink/requirements.txt
	rm -rf .cache/flink/jars
	mvn -q -B -f test/flink/pom.xml dependency:copy-dependencies -DoutputDirectory=$(CURDIR)/.cache/flink/jars -DexcludeTransitive=true
	@touch $@

flink: $(FLINKENV)

## Keycloak for the secured registry, from Maven Central, built once (minutes on a small machine): before the tier's clock starts.
$(KEYCLOAK): compose/local/keycloak/pom.xml | build
	node -e "require('./dist/src/infra/keycloak').ensureKeycloakDist(process.cwd(), require('./dist/src/log').createLogger('info', { component: 'make' }))"
	@touch $@

## Chromium for the browser test, from Debian's packages; skipped when it is there already.
$(CHROMIUM):
	@command -v apt-get >/dev/null || { echo "make: the console's browser test needs Chromium at $(CHROMIUM): install your distribution's chromium package" >&2; exit 1; }
	$(SUDO) apt-get update -qq
	$(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium

## Toxiproxy for the fault tier, built from the Go module proxy (pinned) into .cache/toxiproxy.
TOXIPROXY := .cache/toxiproxy/bin/server
$(TOXIPROXY):
	@command -v go >/dev/null || { echo "make: Go 1.18+ is required to build toxiproxy for the fault tests ('apt-get install golang')" >&2; exit 1; }
	GOBIN=$(CURDIR)/.cache/toxiproxy/bin GOFLAGS=-mod=mod go install github.com/Shopify/toxiproxy/v2/cmd/server@v2.5.0

## The protocol's TypeScript types first, from schemas/*.avsc (projections/protocol.gen.ts, not committed; rewritten only when they change).
build: check-tools $(STAMP)
	npx tsx src/messaging/protocol-types.ts
	npx tsc -p tsconfig.json

## The main job in the foreground: infrastructure, topics, schemas, coordinator. Ctrl-C stops all of it.
run: build
	$(COORDCTL) run

## Kafka and the registry in the background; returns once both answer. A second call reuses them.
infra: build
	$(COORDCTL) infra up

## The coordinator alone, against the running infrastructure (.coord/run.env).
coordinator: build
	$(COORDCTL) coordinator

## Stops what `make infra` started, and a coordinator started by `make coordinator`.
stop: build
	-@[ -f .coord/coordinator.pid ] && kill "$$(cat .coord/coordinator.pid)" 2>/dev/null; true
	$(COORDCTL) infra down

lint: $(STAMP)
	npx eslint .

test-unit: build
	npx mocha 'test/unit/**/*.spec.ts'

## Integration and end-to-end tiers start their own Kafka and registry on free ports in a temporary folder.
## --exit: once the root hooks have stopped the stack, a client a failed test left open must not keep the run (and CI) waiting.
test-integration: build $(PYENV) $(FLINKENV) $(CHROMIUM)
	npx mocha --exit --timeout 180000 --slow 5000 --require test/support/stack-hooks.ts 'test/integration/**/*.spec.ts' 'test/e2e/**/*.spec.ts'

## The end-to-end suite alone, on the plain stack.
test-e2e-plain: build $(PYENV) $(FLINKENV) $(CHROMIUM)
	npx mocha --exit --timeout 180000 --slow 5000 --require test/support/stack-hooks.ts 'test/e2e/**/*.spec.ts'

## The security tier: a secured stack of its own (SASL_SSL, SCRAM-SHA-512, ACLs; certificates made by openssl; the
## registry behind Keycloak, also over https), the refusals each role meets, then the whole end-to-end suite with the
## coordinator on it (the Flink SQL reader of the changelog as the reader role: see README, "Flink SQL as the reader").
test-secure: build $(FLINKENV) $(CHROMIUM) $(KEYCLOAK)
	TEST_SECURE_REGISTRY=1 npx mocha --exit --timeout 180000 --slow 5000 --require test/support/stack-hooks.ts 'test/security/**/*.spec.ts' 'test/secure-registry/**/*.spec.ts' 'test/e2e/**/*.spec.ts'

## TEST_INFRA=testcontainers: stop at once, before the build, when no container engine answers.
check-test-infra: $(STAMP)
	@[ "$$TEST_INFRA" != testcontainers ] || npx tsx test/support/container-runtime.ts

## The fault tier on a three-node cluster (fail points, broker loss, network faults, fuzzing), in its short form.
FAULT_MOCHA := npx mocha --exit --timeout 180000 --slow 5000 --require test/faults/hooks.ts 'test/faults/**/*.spec.ts'
test-faults: build $(TOXIPROXY)
	$(FAULT_MOCHA)

test: check-test-infra build lint test-unit test-integration test-faults test-secure

## The crash test with many more kills (CRASH_KILLS, CRASH_REQUESTS, TEST_SEED to repeat a run).
## Then the fault tier in its long form: every scenario repeated, 100 000 fuzz records; unavailability figures in .coord/soak-faults.jsonl.
soak: build $(PYENV) $(TOXIPROXY)
	CRASH_KILLS=$${CRASH_KILLS:-100} CRASH_REQUESTS=$${CRASH_REQUESTS:-4000} npx mocha --timeout 0 --require test/support/stack-hooks.ts test/integration/crash.spec.ts
	@mkdir -p .coord
	SOAK=1 FAULT_REPORT=$(CURDIR)/.coord/soak-faults.jsonl $(FAULT_MOCHA) --timeout 0

## Replays the running deployment's log into a temporary folder, verifies every snapshot, and compares with the live coordinator.
replay: build
	@dir=$$(mktemp -d) && . ./.coord/run.env && $(COORDCTL) replay --to "$$dir/state" --verify --compare-live "$$COORD_HTTP"; rc=$$?; rm -rf "$$dir"; exit $$rc

bench: build
	node dist/test/bench/run.js

clean:
	rm -rf dist .coord projections/protocol.gen.ts
