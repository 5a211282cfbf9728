;; A guest that gives its outcome with complete, then traps instead of returning (as a Rust
;; guest does after reporting a panic): the outcome stands (ABI.md, complete).
;; Built with: wat2wasm completetrap.wat -o completetrap.wasm   (wabt; see build.sh)
(module
  (import "durohost_v1" "start_info" (func $start_info (param i32 i32) (result i32)))
  (import "durohost_v1" "complete" (func $complete (param i32 i32) (result i32)))
  (memory (export "memory") 1)
  ;; Outcome{kind: describe, orchestrations: [{name: "hostile"}]}
  (data (i32.const 0) "\a2\01\04\06\81\a1\01\67\68\6f\73\74\69\6c\65")
  ;; Outcome{kind: completed, output: "\"done\""}
  (data (i32.const 32) "\a2\01\01\02\46\22\64\6f\6e\65\22")
  (func (export "durohost_abi_version") (result i32) (i32.const 1))
  (func (export "durohost_run")
    (drop (call $start_info (i32.const 128) (i32.const 256)))
    (if (i32.and (i32.eq (i32.load8_u (i32.const 129)) (i32.const 1))
                 (i32.eq (i32.load8_u (i32.const 130)) (i32.const 1)))
      (then (drop (call $complete (i32.const 0) (i32.const 15))) (return)))
    (drop (call $complete (i32.const 32) (i32.const 11)))
    unreachable))
