#!/usr/bin/env bash
# Rebuilds the committed benchmark guest module bench.wasm from src/lib.rs, reproducibly (see
# guest-sdk/rust/build-wasm.sh). `durohost bench --guest rust` builds the crate itself with
# cargo; the committed module serves the tests and tools that need no Rust toolchain.
set -euo pipefail
cd "$(dirname "$0")"
../../../guest-sdk/rust/build-wasm.sh src/lib.rs bench.wasm
