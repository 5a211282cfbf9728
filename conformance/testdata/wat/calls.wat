;; Benchmark guest: durohost_run calls the host function is_replaying 1,000,000 times, then
;; completes. Measures the cost of a host call round trip from a non-Go guest.
;; Built with: wat2wasm calls.wat -o calls.wasm   (wabt; see build.sh)
(module
  (import "durohost_v1" "start_info" (func $start_info (param i32 i32) (result i32)))
  (import "durohost_v1" "is_replaying" (func $is_replaying (result i32)))
  (import "durohost_v1" "complete" (func $complete (param i32 i32) (result i32)))
  (memory (export "memory") 1)
  ;; Outcome{kind: describe, orchestrations: [{name: "calls"}]}
  (data (i32.const 0) "\a2\01\04\06\81\a1\01\65\63\61\6c\6c\73")
  ;; Outcome{kind: completed}
  (data (i32.const 96) "\a1\01\01")
  (func (export "durohost_abi_version") (result i32) (i32.const 1))
  (func (export "durohost_run")
    (local $n i32)
    (drop (call $start_info (i32.const 128) (i32.const 256)))
    (if (i32.and (i32.eq (i32.load8_u (i32.const 129)) (i32.const 1))
                 (i32.eq (i32.load8_u (i32.const 130)) (i32.const 1)))
      (then (drop (call $complete (i32.const 0) (i32.const 13))) (return)))
    (local.set $n (i32.const 1000000))
    (loop $l
      (drop (call $is_replaying))
      (local.set $n (i32.sub (local.get $n) (i32.const 1)))
      (br_if $l (i32.ne (local.get $n) (i32.const 0))))
    (drop (call $complete (i32.const 96) (i32.const 3)))))
