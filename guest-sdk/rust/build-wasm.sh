#!/usr/bin/env bash
# Builds a Rust guest module from its crate root, reproducibly, with Debian's rustc and its
# wasm32-unknown-unknown standard library (apt-get install rustc libstd-rust-dev-wasm32), the
# way the committed fixtures of the Rust guests are built:
#
#   guest-sdk/rust/build-wasm.sh CRATE_ROOT OUT.wasm [RUSTC FLAGS...]
#
# The SDK and the guest are compiled by rustc directly (no cargo, no registry), optimised for
# size with LTO, without debug information or symbol names, with every path of the checkout
# remapped, and with a 32 KiB stack instead of rustc's 1 MiB (an instance's memory starts at
# its data plus its stack). The same sources and rustc give the same bytes on any machine.
# $RUSTC overrides the compiler (default: Debian's /usr/bin/rustc; the rustup toolchain that
# may come first on PATH has no wasm32 standard library).
set -euo pipefail
if [ $# -lt 2 ]; then
  echo "usage: $0 CRATE_ROOT OUT.wasm [RUSTC FLAGS...]" >&2
  exit 2
fi
src=$1 out=$2
shift 2
root=$(cd "$(dirname "$0")/../.." && pwd)
rustc=${RUSTC:-/usr/bin/rustc}
if ! [ -x "$rustc" ]; then
  echo "$rustc not found: install Debian's Rust compiler and its wasm32 standard library (apt-get install rustc libstd-rust-dev-wasm32)" >&2
  exit 1
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
flags=(--edition 2021 --target wasm32-unknown-unknown -C opt-level=s -C codegen-units=1 -C panic=abort
  -C debuginfo=0 --remap-path-prefix "$root=/durohost" --remap-path-prefix "$tmp=/build")
"$rustc" "${flags[@]}" --crate-type rlib --crate-name durohost -o "$tmp/libdurohost.rlib" "$root/guest-sdk/rust/src/lib.rs"
"$rustc" "${flags[@]}" --crate-type cdylib --crate-name guest --extern durohost="$tmp/libdurohost.rlib" \
  -C lto -C strip=symbols -C link-arg=-zstack-size=32768 "$@" -o "$tmp/guest.wasm" "$src"
mv "$tmp/guest.wasm" "$out"
