#!/usr/bin/env bash
# Extism plugins of wasm-examples/plugins: the AssemblyScript ones (npm: the AssemblyScript
# compiler and the Extism PDK, pinned by package-lock.json) and the WAT one (wabt), rebuilt
# from their sources by the build scripts committed next to them.
set -euo pipefail
command -v wat2wasm >/dev/null || apt_install wabt
command -v npm >/dev/null || apt_install npm
(cd wasm-examples/plugins/assemblyscript && npm ci --no-audit --no-fund >/dev/null && ./build.sh)
wasm-examples/plugins/wat/build.sh
# durohost bench's W1P embeds a copy of the WAT plugin.
wat2wasm wasm-examples/plugins/wat/kernel.wat -o internal/bench/testdata/kernel.wasm
echo "== paths"
echo wasm-examples/plugins/assemblyscript/text.wasm
echo wasm-examples/plugins/assemblyscript/json.wasm
echo wasm-examples/plugins/assemblyscript/fetch.wasm
echo wasm-examples/plugins/wat/kernel.wasm
echo internal/bench/testdata/kernel.wasm
