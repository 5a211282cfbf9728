#!/usr/bin/env bash
# The JavaScript runtime (guest-sdk/javascript/runtime/quickjs.wasm): QuickJS from the sources
# of a registry package, built with Debian's clang, lld and wasi-libc; the committed module
# must be what build.sh builds. JavaScript guests are bundled from it by Go code (no toolchain).
set -euo pipefail
apt_install clang lld wasi-libc libclang-rt-dev-wasm32 python3-pip >&2
sh guest-sdk/javascript/runtime/build.sh >&2
echo "== paths"
echo guest-sdk/javascript/runtime/quickjs.wasm
