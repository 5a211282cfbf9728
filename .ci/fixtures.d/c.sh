#!/usr/bin/env bash
# C guests (guest-sdk/c): the conformance test guest and its variant b, and the C examples,
# rebuilt from their sources by the build scripts committed next to them with Debian's clang,
# lld and wasi-libc (the builds are reproducible byte for byte).
set -euo pipefail
apt_install clang lld wasi-libc libclang-rt-dev-wasm32 make
conformance/guests/c/build.sh
make -B --no-print-directory -C wasm-examples/c/hello
wasm-examples/c/approval/build.sh
echo "== paths"
echo conformance/guests/c/guest.wasm
echo conformance/guests/c/guest-b.wasm
echo wasm-examples/c/hello/hello.wasm
echo wasm-examples/c/approval/approval.wasm
