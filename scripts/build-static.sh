#!/usr/bin/env bash
# Builds the release binary into OUTDIR (default ./dist at the repository
# root): static, so it runs on distroless/static or scratch with no libc;
# -trimpath so no build machine's paths end up in the binary; -s -w drops
# the symbol table and DWARF, which a container never reads (panics still
# print function names and lines). The version comes from
# TICKETSYNC_VERSION, else `git describe`, else the binary reports the
# module's build info.
set -euo pipefail

outdir="${1:-$(dirname "$0")/../dist}"
mkdir -p "$outdir"
outdir="$(cd "$outdir" && pwd)"
cd "$(dirname "$0")/.."

version="${TICKETSYNC_VERSION:-$(git describe --tags --always --dirty 2>/dev/null || true)}"
# The value goes inside -ldflags, where a space or quote would split it.
if [[ ! "$version" =~ ^[A-Za-z0-9._+-]*$ ]]; then
  echo "build-static: version \"$version\" may only contain letters, digits and . _ + -" >&2
  exit 2
fi

CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X main.version=${version}" \
  -o "$outdir/ticketsync" ./cmd/ticketsync
echo "$outdir/ticketsync"
