#!/usr/bin/env bash
# The stream-form C test guest of the conformance suite (conformance/guests/stream-c): Debian's
# clang, lld and wasi-libc build it; the committed modules must be what its sources build.
set -euo pipefail
apt_install clang lld wasi-libc libclang-rt-dev-wasm32 >&2
sh conformance/guests/stream-c/build.sh >&2
echo "== paths"
echo conformance/guests/stream-c/guest.wasm
echo conformance/guests/stream-c/guest-b.wasm
