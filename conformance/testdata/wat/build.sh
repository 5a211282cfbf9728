#!/usr/bin/env bash
# Rebuilds the WAT fixtures of the conformance suite with wabt's wat2wasm
# (Debian package wabt). CI runs it and fails if a committed .wasm differs from its source.
set -euo pipefail
cd "$(dirname "$0")"
for f in *.wat; do
  wat2wasm "$f" -o "${f%.wat}.wasm"
done
