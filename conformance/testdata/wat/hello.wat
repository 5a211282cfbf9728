;; A durohost ABI v1 guest written by hand in WebAssembly text: proof that the ABI needs
;; nothing Go-specific. It registers one orchestration, "wat_hello", which calls the activity
;; "greet" with the JSON input "wat" and completes with the activity's result (or fails with
;; its failure). CBOR messages are precomputed in data segments.
;;
;; Built with: wat2wasm hello.wat -o hello.wasm   (wabt; see build.sh)
(module
  (import "durohost_v1" "start_info" (func $start_info (param i32 i32) (result i32)))
  (import "durohost_v1" "schedule" (func $schedule (param i32 i32) (result i32)))
  (import "durohost_v1" "await" (func $await (param i32 i32) (result i32)))
  (import "durohost_v1" "result" (func $result (param i32 i32 i32) (result i32)))
  (import "durohost_v1" "complete" (func $complete (param i32 i32) (result i32)))
  (memory (export "memory") 1)

  ;; Outcome{kind: describe, orchestrations: [{name: "wat_hello"}]}
  (data (i32.const 0) "\a2\01\04\06\81\a1\01\69\77\61\74\5f\68\65\6c\6c\6f")
  ;; Command{kind: activity, name: "greet", input: "\"wat\""}
  (data (i32.const 32) "\a3\01\01\02\65\67\72\65\65\74\03\45\22\77\61\74\22")
  ;; Outcome{kind: completed} (no output), used when the completion is empty
  (data (i32.const 96) "\a1\01\01")

  (func (export "durohost_abi_version") (result i32) (i32.const 1))

  (func (export "durohost_run")
    (local $h i32) (local $len i32)
    ;; StartInfo at 128. In describe mode it is exactly {1: 1} = a1 01 01.
    (drop (call $start_info (i32.const 128) (i32.const 256)))
    (if (i32.and (i32.eq (i32.load8_u (i32.const 129)) (i32.const 1))
                 (i32.eq (i32.load8_u (i32.const 130)) (i32.const 1)))
      (then (drop (call $complete (i32.const 0) (i32.const 17))) (return)))
    (local.set $h (call $schedule (i32.const 32) (i32.const 17)))
    (i32.store (i32.const 64) (local.get $h))
    (drop (call $await (i32.const 64) (i32.const 1)))
    ;; Completion at 8196: a1 01 <result bstr> (success) or a1 02 <failure map>.
    (local.set $len (call $result (local.get $h) (i32.const 8196) (i32.const 4096)))
    (if (i32.eq (local.get $len) (i32.const 1))
      (then (drop (call $complete (i32.const 96) (i32.const 3))) (return)))
    ;; Rewrite the 4 bytes before the payload into an Outcome header, in place:
    ;; success: a2 01 01 02 <bstr> (completed, output); failure: a2 01 02 03 <map> (failed).
    (i32.store8 (i32.const 8194) (i32.const 0xa2))
    (i32.store8 (i32.const 8195) (i32.const 0x01))
    (if (i32.eq (i32.load8_u (i32.const 8197)) (i32.const 1))
      (then (i32.store8 (i32.const 8196) (i32.const 1)) (i32.store8 (i32.const 8197) (i32.const 2)))
      (else (i32.store8 (i32.const 8196) (i32.const 2)) (i32.store8 (i32.const 8197) (i32.const 3))))
    (drop (call $complete (i32.const 8194) (i32.add (local.get $len) (i32.const 2))))))
