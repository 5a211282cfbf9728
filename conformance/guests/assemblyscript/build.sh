#!/usr/bin/env bash
# Rebuilds the committed modules of the AssemblyScript test guest from assembly/*.ts with the
# AssemblyScript guest SDK (guest-sdk/assemblyscript): guest.wasm (variant a) and guest-b.wasm
# (variant b). Needs Node.js and npm; the compiler (assemblyscript, pinned in package.json and
# package-lock.json) is installed with npm ci.
set -euo pipefail
cd "$(dirname "$0")"
npm ci --no-audit --no-fund --loglevel=error
npm run --silent build
npm run --silent build:b
