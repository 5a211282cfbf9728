#!/bin/sh
# Builds the durohost JavaScript runtime, quickjs.wasm: QuickJS (version 2021-03-27, MIT
# licence, from the C sources shipped in the source distribution of the Python package
# "quickjs" 1.19.4) and runtime.c, compiled for wasm32-wasi as a WASI reactor with Debian's
# clang and wasi-libc. The build is reproducible: the same compiler, wasi-libc and sources give
# the same bytes (checked by .ci/fixtures.d/javascript.sh).
#
#   sh guest-sdk/javascript/runtime/build.sh [OUTDIR]   (default: this directory)
#
# Requires: clang (14), lld, wasi-libc, libclang-rt-dev-wasm32 and pip (to fetch the sources).
set -eu
dir=$(cd "$(dirname "$0")" && pwd)
out=${1:-$dir}
mkdir -p "$out"
CC=${CC:-clang}
version=1.19.4
sum=1205953abc24ff757f4a795304d5d61e4bf1e555c9ef6ec96a132d4b95535484
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
if [ -n "${QUICKJS_SDIST:-}" ]; then
	cp "$QUICKJS_SDIST" "$tmp/quickjs-$version.tar.gz"
else
	python3 -m pip download --quiet --no-deps --no-binary :all: "quickjs==$version" -d "$tmp" >&2
fi
echo "$sum  $tmp/quickjs-$version.tar.gz" | sha256sum -c --quiet -
tar -xzf "$tmp/quickjs-$version.tar.gz" -C "$tmp"
src="$tmp/quickjs-$version/upstream-quickjs"
# EMSCRIPTEN: no native stack probing, no Atomics (no threads); FE_*: the rounding modes
# QuickJS asks for exist on no WebAssembly libc (fesetround fails, the default rounding is kept).
cflags="-O2 -DEMSCRIPTEN -D_GNU_SOURCE -DFE_DOWNWARD=0x400 -DFE_UPWARD=0x800 -DCONFIG_VERSION=\"2021-03-27\""
for f in quickjs libregexp libunicode cutils; do
	(cd "$src" && $CC --target=wasm32-wasi $cflags -w -ffile-prefix-map="$src"=. -c "$f.c" -o "$tmp/$f.o")
done
(cd "$dir" && $CC --target=wasm32-wasi -O2 -Wall -Wextra -Werror -isystem "$src" -ffile-prefix-map="$dir"=. \
	-c runtime.c -o "$tmp/runtime.o")
$CC --target=wasm32-wasi -mexec-model=reactor -Wl,--strip-all -Wl,--gc-sections \
	-Wl,-z,stack-size=1048576 -Wl,--stack-first \
	-o "$out/quickjs.wasm.tmp" "$tmp/runtime.o" "$tmp/quickjs.o" "$tmp/libregexp.o" "$tmp/libunicode.o" \
	"$tmp/cutils.o" -lm
mv "$out/quickjs.wasm.tmp" "$out/quickjs.wasm"
