#!/usr/bin/env bash
# The stream-form C test guests (conformance/guests/stream-c and
# host/internal/sandbox/testdata/stream): Debian's clang, lld and wasi-libc build them; the
# committed modules must be what their sources build.
set -euo pipefail
apt_install clang lld wasi-libc libclang-rt-dev-wasm32 >&2
sh conformance/guests/stream-c/build.sh >&2
sh host/internal/sandbox/testdata/stream/build.sh >&2
echo "== paths"
echo conformance/guests/stream-c/guest.wasm
echo conformance/guests/stream-c/guest-b.wasm
echo host/internal/sandbox/testdata/stream/guest.wasm
echo host/internal/sandbox/testdata/stream/noentry.wasm
