#!/usr/bin/env bash
# Builds netlab's load client (tools/rps, Go) into the tools cache, keyed by a hash of its
# sources: ${NETLAB_TOOLS_CACHE:-${XDG_CACHE_HOME:-~/.cache}/netlab/tools}/rps-<hash>/netlab-rps,
# linked from <cache>/bin/netlab-rps. lib/workload/rps.ts computes the same hash (rpsSourceHash) and runs
# exactly that binary, so a changed source is never measured with a stale build. Idempotent.
# Needs Go >= 1.25; github.com/HdrHistogram/hdrhistogram-go comes from the Go module proxy
# (pinned with its checksum in tools/rps/go.sum).
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cache=${NETLAB_TOOLS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/netlab/tools}
src=$root/tools/rps
# go.mod, go.sum, then the non-test .go files in C order: keep in step with rpsSourceHash().
hash=$(cd "$src" && cat go.mod go.sum $(ls -- *.go | grep -v '_test\.go$' | LC_ALL=C sort) | sha256sum | cut -c1-16)
out=$cache/rps-$hash/netlab-rps
mkdir -p "$cache/bin" "$cache/rps-$hash"
if [ ! -x "$out" ]; then
  command -v go >/dev/null 2>&1 || {
    echo "netlab tools: FAILED: the load client (tools/rps) needs Go >= 1.25 to build" >&2
    echo "netlab tools: what to do: install Go (https://go.dev/dl), then run: bash scripts/build-rps.sh" >&2
    exit 1
  }
  echo "netlab tools: building the load client (tools/rps, source hash $hash)" >&2
  (cd "$src" && GOFLAGS="${GOFLAGS:-} -trimpath -mod=readonly" go build -o "$out.tmp" .)
  mv "$out.tmp" "$out"
fi
ln -sfn "$out" "$cache/bin/netlab-rps"
echo "netlab tools: load client         $out" >&2
