#!/usr/bin/env bash
# Rust guests (guest-sdk/rust): the conformance test guest and its variant b, the benchmark
# guest and the Rust examples, rebuilt from their sources by the build scripts committed next
# to them with Debian's rustc and its wasm32 standard library (the builds are reproducible
# byte for byte; see guest-sdk/rust/build-wasm.sh). cargo serves `durohost run` of a Cargo
# project and the SDK's unit tests, run here too.
set -euo pipefail
apt_install rustc cargo libstd-rust-dev-wasm32
conformance/guests/rust/build.sh
internal/bench/guest-rust/build.sh
wasm-examples/rust/build.sh
target=$(mktemp -d)
trap 'rm -rf "$target"' EXIT
(cd guest-sdk/rust && RUSTC=/usr/bin/rustc RUSTDOC=/usr/bin/rustdoc CARGO_TARGET_DIR="$target" /usr/bin/cargo test --offline --quiet) >&2
echo "== paths"
echo conformance/guests/rust/guest.wasm
echo conformance/guests/rust/guest-b.wasm
echo internal/bench/guest-rust/bench.wasm
echo wasm-examples/rust/hello/hello.wasm
echo wasm-examples/rust/fanout/fanout.wasm
echo wasm-examples/rust/approval/approval.wasm
