# headroom: one binary, one module. `make help` lists the targets.
GO        ?= go
BIN       := bin/headroom
IMAGE     ?= headroom:dev
STATICCHECK := honnef.co/go/tools/cmd/staticcheck@v0.8.2
FUZZBUDGET ?= 3m

.PHONY: help build test lint bench fuzz run scorecard sandbox sandbox-down image clean

help: ## list targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-8s %s\n", $$1, $$2}'

build: ## build bin/headroom
	$(GO) build -o $(BIN) ./cmd/headroom

test: ## run every test; first installs and builds what the integration tests need (scripts/install-test-deps.sh, idempotent)
	scripts/install-test-deps.sh
	KUBEBUILDER_ASSETS=$${KUBEBUILDER_ASSETS:-$$(scripts/envtest-assets.sh --no-build)} \
	HELM_BIN=$${HELM_BIN:-$$(scripts/helm-bin.sh --no-build)} \
	HEADROOM_SANDBOX_BIN=$${HEADROOM_SANDBOX_BIN:-$$(scripts/sandbox-bins.sh --no-build)} $(GO) test -count=1 -timeout 30m ./...

lint: ## gofmt, go vet, staticcheck
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	$(GO) run $(STATICCHECK) ./...

bench: ## run every benchmark once
	$(GO) test -run='^$$' -bench=. -benchmem ./...

fuzz: ## fuzz every target, FUZZBUDGET (default 3m) split evenly; FUZZ=regexp picks targets
	FUZZBUDGET=$(FUZZBUDGET) scripts/fuzz.sh

run: build ## the main job: replay a real trace, headroom vs HPA + Cluster Autoscaler vs the clairvoyant bound
	$(BIN) simulate --trace simulations/testdata/traces/AzureLLMInferenceTrace_conv.csv \
	  --policy examples/reference --baseline hpa-ca --scale 1000 \
	  --mix reader-en-large=0.5,reader-de-large=0.3,reader-en-base=0.2 --report out/report.html

scorecard: build ## the goal table: every scorecard scenario (simulations/testdata/scorecard) over seeds 1-3, as Markdown (out/scorecard.md)
	@mkdir -p out
	$(BIN) scorecard --seeds 1,2,3 simulations/testdata/scorecard/*.yaml | tee out/scorecard.md

SANDBOX_DIR   ?= /tmp/headroom-sandbox
SANDBOX_FLAGS ?=
sandbox: build ## the whole system on this machine (docs/sandbox.md): replays a trace compressed to about 3 minutes, prints what the controller does, the SLO attainment and node-hours
	scripts/install-test-deps.sh >/dev/null
	$(BIN) sandbox up --bin-dir "$$(scripts/sandbox-bins.sh)" --dir $(SANDBOX_DIR) $(SANDBOX_FLAGS)

sandbox-down: ## stop everything a sandbox in SANDBOX_DIR started, by PID
	$(BIN) sandbox down --dir $(SANDBOX_DIR) --bin-dir "$$(scripts/sandbox-bins.sh --no-build)"

image: ## build the image (Dockerfile) as IMAGE (default headroom:dev) where a docker engine answers
	@if command -v docker >/dev/null 2>&1 && docker info >/dev/null 2>&1; then \
	  docker build -t $(IMAGE) . ; \
	else \
	  echo "make image: no docker engine here (docker info fails), nothing built."; \
	  echo "  Build where one runs: docker build -t $(IMAGE) ."; \
	  echo "  The binary it ships is tested here: go test ./deploy -run TestImageBinary"; \
	fi

clean:
	rm -rf bin out
