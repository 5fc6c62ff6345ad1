# Targets for developers and CI. `make test` is the test command of README.md and .ci/run.
.PHONY: run test generate lint bench

run:
	go run ./cmd/idstream serve

test:
	go vet ./... && go test -race -count=1 -timeout 40m ./...

# Generated code must be current: regenerating changes nothing tracked.
generate:
	go generate ./...
	git diff --exit-code

lint:
	@unformatted="$$(gofmt -l .)"; if [ -n "$$unformatted" ]; then echo "gofmt -l finds unformatted files:"; echo "$$unformatted"; exit 1; fi
	go vet ./...

bench:
	go test -run '^$$' -bench . -benchmem ./eventstore/...
