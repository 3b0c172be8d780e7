# Switchyard: `make test` is what CI runs.
GO ?= go

.PHONY: test vet race lint bench run fmt devloop-test

test: vet race

vet:
	$(GO) vet ./...

race:
	$(GO) test -race -timeout 20m ./...

# lint: formatting, vet, and staticcheck's default checks plus ST1000
# (every package has a package comment). staticcheck is installed on demand.
STATICCHECK ?= $(shell command -v staticcheck 2>/dev/null || echo $(shell $(GO) env GOPATH)/bin/staticcheck)

lint:
	gofmt -l . | (! grep .)
	$(GO) vet ./...
	@test -x $(STATICCHECK) || $(GO) install honnef.co/go/tools/cmd/staticcheck@v0.8.2
	$(STATICCHECK) -checks default,ST1000 ./...
	$(GO) mod tidy -diff

bench:
	$(GO) run ./cmd/bench suite -short

run:
	$(GO) run ./cmd/devserver

fmt:
	gofmt -w .

# The dev loop's zero-drop test: 20 rebuilds under 800 req/s. It needs both
# cores to itself, so it runs apart from the suite.
devloop-test:
	SWITCHYARD_DEVLOOP_LOAD=1 $(GO) test -race -count=1 -run TestZeroDropDevLoop -v ./internal/devloop
