#!/usr/bin/env bash
# Rebuilds approval.wasm as `durohost run wasm-examples/c/approval` builds it: the directory's
# .c files and the C guest SDK, with the flags of cmd/durohost/build_c.go. Debian 12 packages:
# clang lld wasi-libc libclang-rt-dev-wasm32.
set -euo pipefail
cd "$(dirname "$0")"
clang --target=wasm32-wasi -std=c11 -Os -Wall -Wextra -mexec-model=reactor -ffile-prefix-map=.=. \
  -Wl,--strip-all -Wl,-z,stack-size=32768 -Wl,--stack-first \
  -I ../../../guest-sdk/c -o approval.wasm approval.c ../../../guest-sdk/c/durohost.c
