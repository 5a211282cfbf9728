#!/bin/sh
# Builds the sandbox's stream-form test guests with Debian's clang and wasi-libc:
# guest.wasm (a WASI command, guest.c) and noentry.wasm (a reactor that exports neither
# durohost_run nor _start). Reproducible: no debug information, no paths.
set -eu
dir=$(cd "$(dirname "$0")" && pwd)
cd "$dir"
CC=${CC:-clang}
$CC --target=wasm32-wasi -O2 -Wall -Wextra -Werror -ffile-prefix-map="$dir"=. -Wl,--strip-all \
	-o guest.wasm.tmp guest.c
mv guest.wasm.tmp guest.wasm
printf 'int unused(void) { return 0; }\n' > noentry.c.tmp
$CC --target=wasm32-wasi -mexec-model=reactor -O2 -x c -Wl,--strip-all -o noentry.wasm.tmp noentry.c.tmp
rm -f noentry.c.tmp
mv noentry.wasm.tmp noentry.wasm
