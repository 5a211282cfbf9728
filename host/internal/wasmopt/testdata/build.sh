#!/usr/bin/env bash
# Rebuilds the binary fixtures of wasmopt's tests from their sources.
# guest.c: Debian 12 packages clang lld wasi-libc libclang-rt-dev-wasm32.
set -euo pipefail
cd "$(dirname "$0")"
clang --target=wasm32-wasi -O2 -mexec-model=reactor -o guest.wasm guest.c
# guest.ts: npm package assemblyscript@0.28.20 (npx fetches it).
npx --yes -p assemblyscript@0.28.20 asc guest.ts -O3 --runtime stub --use abort= -o guest-as.wasm
