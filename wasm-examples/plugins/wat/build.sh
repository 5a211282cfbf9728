#!/usr/bin/env bash
# Builds the WAT plugin of this directory with wabt's wat2wasm.
set -euo pipefail
cd "$(dirname "$0")"
wat2wasm kernel.wat -o kernel.wasm
