# Switchyard: `make test` is what CI runs.
GO ?= go

.PHONY: test vet race lint bench run fmt

test: vet race

vet:
	$(GO) vet ./...

race:
	$(GO) test -race -timeout 20m ./...

lint:
	gofmt -l . | (! grep .)
	staticcheck ./...

bench:
	$(GO) run ./cmd/bench suite -short

run:
	$(GO) run ./cmd/devserver

fmt:
	gofmt -w .
