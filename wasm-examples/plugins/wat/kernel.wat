;; kernel: an Extism plugin written directly against Extism's kernel ABI (the functions of the
;; import module "extism:host/env"), without a PDK. Its functions are the well-behaved and
;; the hostile cases of durohost's plugin tests and its benchmark:
;;
;;   echo     the input, unchanged (copied into a block of the kernel's memory)
;;   noop     nothing: no output (the benchmark's activity)
;;   fail     fails with the error message "fail: <input>"
;;   log      logs its input at level info (Extism's log_info), outputs nothing
;;   spin     never returns (an infinite loop)
;;   grow     grows its memory a page at a time until it cannot, then traps
;;   trap     traps at once (unreachable)
;;   big      outputs 128 KiB of "x" (an output larger than a small limit)
;;
;; Build: wat2wasm kernel.wat -o kernel.wasm (build.sh).
(module
  (import "extism:host/env" "input_length" (func $input_length (result i64)))
  (import "extism:host/env" "input_load_u8" (func $input_load_u8 (param i64) (result i32)))
  (import "extism:host/env" "alloc" (func $alloc (param i64) (result i64)))
  (import "extism:host/env" "store_u8" (func $store_u8 (param i64 i32)))
  (import "extism:host/env" "output_set" (func $output_set (param i64 i64)))
  (import "extism:host/env" "error_set" (func $error_set (param i64)))
  (import "extism:host/env" "log_info" (func $log_info (param i64)))
  (memory (export "memory") 1)
  (data (i32.const 0) "fail: ")

  ;; $copy_input copies the input into a new kernel block after a prefix of $skip bytes
  ;; taken from the plugin's memory at address 0, and returns the block's offset.
  (func $copy_input (param $skip i64) (result i64)
    (local $n i64) (local $block i64) (local $i i64)
    (local.set $n (call $input_length))
    (local.set $block (call $alloc (i64.add (local.get $n) (local.get $skip))))
    (block $done
      (loop $prefix
        (br_if $done (i64.ge_u (local.get $i) (local.get $skip)))
        (call $store_u8 (i64.add (local.get $block) (local.get $i))
          (i32.load8_u (i32.wrap_i64 (local.get $i))))
        (local.set $i (i64.add (local.get $i) (i64.const 1)))
        (br $prefix)))
    (local.set $i (i64.const 0))
    (block $end
      (loop $copy
        (br_if $end (i64.ge_u (local.get $i) (local.get $n)))
        (call $store_u8 (i64.add (local.get $block) (i64.add (local.get $skip) (local.get $i)))
          (call $input_load_u8 (local.get $i)))
        (local.set $i (i64.add (local.get $i) (i64.const 1)))
        (br $copy)))
    (local.get $block))

  (func (export "echo") (result i32)
    (call $output_set (call $copy_input (i64.const 0)) (call $input_length))
    (i32.const 0))

  (func (export "noop") (result i32)
    (i32.const 0))

  (func (export "fail") (result i32)
    (call $error_set (call $copy_input (i64.const 6)))
    (i32.const 1))

  (func (export "log") (result i32)
    (call $log_info (call $copy_input (i64.const 0)))
    (i32.const 0))

  (func (export "spin") (result i32)
    (loop $forever (br $forever))
    (i32.const 0))

  (func (export "grow") (result i32)
    (loop $more
      (br_if $more (i32.ne (memory.grow (i32.const 1)) (i32.const -1))))
    unreachable)

  (func (export "trap") (result i32)
    unreachable)

  (func (export "big") (result i32)
    (local $block i64) (local $i i64)
    (local.set $block (call $alloc (i64.const 131072)))
    (block $end
      (loop $fill
        (br_if $end (i64.ge_u (local.get $i) (i64.const 131072)))
        (call $store_u8 (i64.add (local.get $block) (local.get $i)) (i32.const 120))
        (local.set $i (i64.add (local.get $i) (i64.const 1)))
        (br $fill)))
    (call $output_set (local.get $block) (i64.const 131072))
    (i32.const 0)))
