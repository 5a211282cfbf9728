#!/usr/bin/env bash
# Rebuilds the committed module of every Rust example (<example>/<example>.wasm) from its
# src/lib.rs, reproducibly (see guest-sdk/rust/build-wasm.sh). `durohost run DIR` does not need
# them: it builds the directory with cargo; they let the examples run without a Rust toolchain.
set -euo pipefail
cd "$(dirname "$0")"
for ex in hello fanout approval; do
  ../../guest-sdk/rust/build-wasm.sh "$ex/src/lib.rs" "$ex/$ex.wasm"
done
