#!/usr/bin/env bash
# Rebuilds the C test guest (guest.wasm, variant a) and its variant b (guest-b.wasm) from
# guest.c and the C guest SDK. Debian 12 packages: clang lld wasi-libc libclang-rt-dev-wasm32.
# The build is reproducible byte for byte: no debug information, no names section, and file
# names relative to the repository root.
set -euo pipefail
cd "$(dirname "$0")/../../.."
sdk=guest-sdk/c
dir=conformance/guests/c
flags=(--target=wasm32-wasi -std=c11 -Os -Wall -Wextra -Werror -mexec-model=reactor
  -ffile-prefix-map="$PWD"=. -I"$sdk" -Wl,--strip-all
  -Wl,-z,stack-size=32768 -Wl,--stack-first)
clang "${flags[@]}" -o "$dir/guest.wasm" "$dir/guest.c" "$sdk/durohost.c"
clang "${flags[@]}" -DVARIANT_B -o "$dir/guest-b.wasm" "$dir/guest.c" "$sdk/durohost.c"
