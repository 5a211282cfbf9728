#!/usr/bin/env bash
# Builds the AssemblyScript plugins of this directory with the Extism AssemblyScript PDK
# (@extism/as-pdk) and the AssemblyScript compiler, both pinned by package-lock.json:
#   npm ci && ./build.sh
# Each plugin is one entry file; abort.ts replaces AssemblyScript's abort (which would import
# env.abort, a function an Extism host does not provide).
set -euo pipefail
cd "$(dirname "$0")"
for plugin in text json fetch; do
  npx asc "$plugin.ts" -O3 --use abort=abort/pluginAbort -o "$plugin.wasm"
done
