#!/bin/sh
# Builds the stream-form C test guest of the conformance suite (guest.wasm, and guest-b.wasm,
# its "variant b") with Debian's clang and wasi-libc: a plain WASI command that speaks the
# durohost ABI on the file /durohost/v1 through C stdio. The build is reproducible: the same
# compiler and wasi-libc give the same bytes (no debug information, no paths, sections
# stripped).
#
#   sh conformance/guests/stream-c/build.sh [OUTDIR]   (default: this directory)
#
# Requires: clang (14), lld and wasi-libc (Debian packages clang, lld, wasi-libc,
# libclang-rt-dev-wasm32).
set -eu
dir=$(cd "$(dirname "$0")" && pwd)
out=${1:-$dir}
mkdir -p "$out"
CC=${CC:-clang}
build() {
	(cd "$dir" && $CC --target=wasm32-wasi -O2 -Wall -Wextra -Werror "$@" \
		-ffile-prefix-map="$dir"=. \
		-Wl,--strip-all -Wl,--gc-sections \
		main.c dh.c json.c -lm)
}
build -o "$out/guest.wasm.tmp" && mv "$out/guest.wasm.tmp" "$out/guest.wasm"
build -DVARIANT_B -o "$out/guest-b.wasm.tmp" && mv "$out/guest-b.wasm.tmp" "$out/guest-b.wasm"
