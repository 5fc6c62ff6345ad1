# Targets for developers and CI. `make test` is the test command of README.md and .ci/run.
.PHONY: run test tools generate lint bench bench-eventstore bench-directory

run:
	go run ./cmd/idstream serve

test: tools lint generate
	go test -race -count=1 -timeout 40m ./...

# Services the tests run themselves, installed from Debian's packages when missing (a no-op when
# present): OpenLDAP's slapd for connectors/ldap.
tools:
	bash connectors/ldap/ldaptest/install-slapd.sh

# Generated code must be current: regenerating changes nothing tracked.
generate:
	@before="$$(git status --porcelain; git diff | sha256sum)"; go generate ./... && after="$$(git status --porcelain; git diff | sha256sum)"; \
	if [ "$$before" != "$$after" ]; then echo "go generate changed files:"; git status --short; exit 1; fi

lint:
	@unformatted="$$(gofmt -l .)"; if [ -n "$$unformatted" ]; then echo "gofmt -l finds unformatted files:"; echo "$$unformatted"; exit 1; fi
	go vet ./...

# Benchmarks. Event store: the go test benchmarks (appends against a raw fsync baseline, scan and
# catch-up of 1M events, live latency), then the same workloads end to end through the binary.
# Directory: the read model over 1M users (queries, heap, cold replay), bulk import into the
# store, then the GraphQL API end to end (createUser, importUsers of 1M users, reads, restart).
# BENCHFLAGS adds flags, e.g. BENCHFLAGS='-count 3'. Run it on a quiet machine.
BENCHTIME ?= 3s
bench: bench-eventstore bench-directory

bench-eventstore:
	go test -run '^$$' -bench . -benchtime=$(BENCHTIME) -timeout 60m $(BENCHFLAGS) ./eventstore/...
	go run ./cmd/idstream bench eventstore

bench-directory:
	go test -run '^$$' -bench . -benchtime=3x -timeout 60m $(BENCHFLAGS) ./projections
	go test -run '^$$' -bench ImportUsers -benchtime=200000x -timeout 60m $(BENCHFLAGS) ./commands
	go run ./cmd/idstream bench api --import-users 1000000 --duration 20s
