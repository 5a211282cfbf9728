;; Hostile guest for the sandbox tests: imports functions outside the durohost ABI and WASI,
;; an unknown ABI function, and an ABI function with the wrong signature.
;; Built with: wat2wasm forbidden.wat -o forbidden.wasm   (wabt; see build.sh)
(module
  (import "env" "exit" (func $exit (param i32)))
  (import "durohost_v1" "nope" (func $nope))
  (import "durohost_v1" "schedule" (func $schedule (param i32) (result i32)))
  (import "wasi_snapshot_preview1" "sock_open" (func $sock (param i32) (result i32)))
  (memory (export "memory") 1)
  (func (export "durohost_abi_version") (result i32) (i32.const 1))
  (func (export "durohost_run")))
