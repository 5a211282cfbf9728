#!/usr/bin/env bash
# Rebuilds the committed module of every AssemblyScript example (<example>/<example>.wasm) from
# its sources with the AssemblyScript guest SDK (guest-sdk/assemblyscript). Needs Node.js and
# npm; the compiler (assemblyscript, pinned in each package.json and package-lock.json) is
# installed with npm ci.
set -euo pipefail
cd "$(dirname "$0")"
for example in hello fanout approval; do
  (cd "$example" && npm ci --no-audit --no-fund --loglevel=error && npm run --silent build)
done
