#!/usr/bin/env bash
# The Python runtime (guest-sdk/python/runtime/python.wasm and stdlib.zip): CPython's
# wasm32-wasi build from the sources of a registry package, linked with Debian's clang, lld and
# wasi-libc; the committed files must be what build.sh builds. Python guests are bundled from
# them by Go code (no toolchain).
set -euo pipefail
apt_install clang lld wasi-libc libclang-rt-dev-wasm32 python3-pip >&2
sh guest-sdk/python/runtime/build.sh >&2
echo "== paths"
echo guest-sdk/python/runtime/python.wasm
echo guest-sdk/python/runtime/stdlib.zip
