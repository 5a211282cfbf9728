#!/usr/bin/env bash
# AssemblyScript guests (guest-sdk/assemblyscript): the conformance test guest and its variant
# b, the benchmark guest and the examples, rebuilt from their sources by the build scripts
# committed next to them. npm installs the compiler (assemblyscript 0.28, pinned by each
# package-lock.json, whose entries hold no download addresses) with npm ci; the builds are
# reproducible byte for byte.
set -euo pipefail
command -v npm >/dev/null || apt_install nodejs npm >&2
conformance/guests/assemblyscript/build.sh >&2
internal/bench/guest-assemblyscript/build.sh >&2
wasm-examples/assemblyscript/build.sh >&2
echo "== paths"
echo conformance/guests/assemblyscript/guest.wasm
echo conformance/guests/assemblyscript/guest-b.wasm
echo internal/bench/guest-assemblyscript/bench.wasm
echo wasm-examples/assemblyscript/hello/hello.wasm
echo wasm-examples/assemblyscript/fanout/fanout.wasm
echo wasm-examples/assemblyscript/approval/approval.wasm
