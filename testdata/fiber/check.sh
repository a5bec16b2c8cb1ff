#!/bin/sh
# Checks the README's Fiber recipes, v2/fiber.go and v3/fiber.go, against this checkout: each
# goes into a throwaway module outside the repository (so that go.mod here keeps no require
# lines) with a replace directive pointing here, gets the latest Fiber of its major version
# from the Go module proxy, is vetted and built, and runs a test that walks four visitors
# through it (queued, back with a Passed String, a tampered cookie, a valid cookie).
# It needs the network, so neither go test nor .ci/run runs it. Run: sh testdata/fiber/check.sh
set -eu
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
for v in v2 v3; do
	dir="$tmp/$v"
	mkdir -p "$dir"
	cp "$here/$v/fiber.go" "$dir/fiber.go"
	cp "$here/$v/fiber_test.go" "$dir/fiber_test.go"
	cp "$here/recipe_test.go" "$dir/recipe_test.go"
	(
		cd "$dir"
		go mod init example.com/yourapp >/dev/null 2>&1
		go mod edit -require=github.com/queuefair/queuefair@v0.0.0 -replace=github.com/queuefair/queuefair="$repo"
		go get "github.com/gofiber/fiber/$v@latest" >/dev/null 2>&1
		go mod tidy >/dev/null 2>&1
		go vet ./...
		go build ./...
		go test -count=1 ./... >"$tmp/test.log" 2>&1 || { cat "$tmp/test.log"; exit 1; }
		echo "Fiber $v recipe: vetted, built and walked with $(go list -m "github.com/gofiber/fiber/$v") ($(go version | cut -d' ' -f3))"
	)
done
