#!/usr/bin/env bash
# Rebuilds the committed test guest modules from src/lib.rs: guest.wasm (variant a) and
# guest-b.wasm (variant b). CI runs it (.ci/fixtures.d/rust.sh) and fails when the result
# differs from what is committed.
set -euo pipefail
cd "$(dirname "$0")"
../../../guest-sdk/rust/build-wasm.sh src/lib.rs guest.wasm
../../../guest-sdk/rust/build-wasm.sh src/lib.rs guest-b.wasm --cfg 'variant="b"'
