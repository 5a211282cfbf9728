// The durohost_v1 host ABI (abi/ABI.md) and the WASI functions the SDK uses. Everything here
// is internal to the SDK: orchestrations use Context.

// @ts-ignore: decorator
@external("durohost_v1", "start_info")
export declare function hostStartInfo(buf: usize, cap: i32): i32;

// @ts-ignore: decorator
@external("durohost_v1", "schedule")
export declare function hostSchedule(cmd: usize, len: i32): i32;

// @ts-ignore: decorator
@external("durohost_v1", "await")
export declare function hostAwait(handles: usize, count: i32): i32;

// @ts-ignore: decorator
@external("durohost_v1", "result")
export declare function hostResult(handle: u32, buf: usize, cap: i32): i32;

// @ts-ignore: decorator
@external("durohost_v1", "cancel")
export declare function hostCancel(handle: u32): i32;

// @ts-ignore: decorator
@external("durohost_v1", "set_status")
export declare function hostSetStatus(buf: usize, len: i32): i32;

// @ts-ignore: decorator
@external("durohost_v1", "complete")
export declare function hostComplete(buf: usize, len: i32): i32;

// @ts-ignore: decorator
@external("durohost_v1", "log")
export declare function hostLog(level: i32, buf: usize, len: i32): void;

// @ts-ignore: decorator
@external("durohost_v1", "is_replaying")
export declare function hostIsReplaying(): i32;

// @ts-ignore: decorator
@external("wasi_snapshot_preview1", "random_get")
export declare function wasiRandomGet(buf: usize, len: usize): u16;

// @ts-ignore: decorator
@external("wasi_snapshot_preview1", "clock_time_get")
export declare function wasiClockTimeGet(clock: u32, precision: u64, time: usize): u16;

/** The ABI version this SDK speaks (durohost_abi_version). */
export const ABI_VERSION: i32 = 1;

/** The largest number of handles one await may name. */
export const MAX_AWAIT_HANDLES: i32 = 4096;

// Command kinds.
export const CMD_ACTIVITY: u32 = 1;
export const CMD_TIMER: u32 = 2;
export const CMD_WAIT_EVENT: u32 = 3;
export const CMD_DEQUEUE: u32 = 4;
export const CMD_SUB_ORCHESTRATION: u32 = 5;
export const CMD_START_ORCHESTRATION: u32 = 6;

// Outcome kinds.
export const OUTCOME_COMPLETED: u32 = 1;
export const OUTCOME_FAILED: u32 = 2;
export const OUTCOME_CONTINUED_AS_NEW: u32 = 3;
export const OUTCOME_DESCRIBE: u32 = 4;

// Start modes.
export const MODE_RUN: u32 = 0;
export const MODE_DESCRIBE: u32 = 1;

// Status codes.
export const STATUS_NOT_READY: i32 = -1;

/** commandKindName is the name of a command kind, as the Go SDK and the host print it. */
export function commandKindName(kind: u32): string {
  switch (kind) {
    case CMD_ACTIVITY: return "activity";
    case CMD_TIMER: return "timer";
    case CMD_WAIT_EVENT: return "wait_event";
    case CMD_DEQUEUE: return "dequeue";
    case CMD_SUB_ORCHESTRATION: return "sub_orchestration";
    case CMD_START_ORCHESTRATION: return "start_orchestration";
  }
  return "unknown";
}
