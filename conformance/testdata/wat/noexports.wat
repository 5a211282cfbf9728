;; Hostile guest for the sandbox tests: exports neither durohost_run nor its memory, and
;; durohost_abi_version with the wrong signature.
;; Built with: wat2wasm noexports.wat -o noexports.wasm   (wabt; see build.sh)
(module
  (memory 1)
  (func (export "durohost_abi_version") (param i32) (result i32) (local.get 0)))
