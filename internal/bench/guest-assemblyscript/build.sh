#!/usr/bin/env bash
# Rebuilds bench.wasm, the committed module of the AssemblyScript benchmark guest, from
# assembly/index.ts with the AssemblyScript guest SDK. Needs Node.js and npm; the compiler
# (assemblyscript, pinned in package.json and package-lock.json) is installed with npm ci.
set -euo pipefail
cd "$(dirname "$0")"
npm ci --no-audit --no-fund --loglevel=error
npm run --silent build
