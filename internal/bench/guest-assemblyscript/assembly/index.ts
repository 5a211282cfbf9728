// The guest module of `durohost bench --guest assemblyscript`: the orchestrations of its
// workloads, the twins of internal/bench/guest (Go), each as light as the SDK allows so that
// a workload measures the host, not the guest. Inputs are JSON numbers; the activity "noop"
// (registered by the benchmark) returns its input.

import { Context, Future, Outcome, register } from "@durohost/sdk";

export { durohost_run, durohost_abi_version } from "@durohost/sdk";

/** The input of every activity call: a small JSON value. */
const NOOP = "\"x\"";

/** Reads the input: a non-negative JSON integer (no input or null: 1); -1 when it is not one. */
function count(input: string): i32 {
  let s = input.trim();
  if (s.length == 0 || s == "null") return 1;
  let n: i64 = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 48 || c > 57 || n > 1_000_000_000) return -1;
    n = n * 10 + <i64>(c - 48);
  }
  return <i32>n;
}

function badInput(input: string): Outcome {
  return Outcome.error("bad_input", "input must be a non-negative integer, got " + input);
}

// bench_sequence calls "noop" n times, one call after the other, and returns n.
function sequence(ctx: Context, input: string): Outcome {
  const n = count(input);
  if (n < 0) return badInput(input);
  for (let i = 0; i < n; i++) {
    const f = ctx.callActivity("noop", NOOP);
    if (!f.wait()) return Outcome.fail(f.failure!);
  }
  return Outcome.ok(n.toString());
}

// bench_fanout calls "noop" n times in parallel, waits for them all and returns n.
function fanout(ctx: Context, input: string): Outcome {
  const n = count(input);
  if (n < 0) return badInput(input);
  const fs = new Array<Future>(0);
  for (let i = 0; i < n; i++) fs.push(ctx.callActivity("noop", NOOP));
  if (n > 0) {
    const failure = ctx.waitAll(fs);
    if (failure != null) return Outcome.fail(failure);
  }
  return Outcome.ok(n.toString());
}

// bench_one calls "noop" once and returns its result.
function one(ctx: Context, input: string): Outcome {
  const f = ctx.callActivity("noop", NOOP);
  if (!f.wait()) return Outcome.fail(f.failure!);
  return Outcome.okBytes(f.bytes);
}

// bench_timer waits for a durable timer of input milliseconds.
function timer(ctx: Context, input: string): Outcome {
  const ms = count(input);
  if (ms < 0) return badInput(input);
  const t = ctx.timer(ms);
  if (!t.wait()) return Outcome.fail(t.failure!);
  return Outcome.ok("null");
}

// bench_ticks waits for n durable timers of 0 ms, one after the other: each is one turn of the
// host (fetch, run, commit) with no activity involved.
function ticks(ctx: Context, input: string): Outcome {
  const n = count(input);
  if (n < 0) return badInput(input);
  for (let i = 0; i < n; i++) {
    const t = ctx.timer(0);
    if (!t.wait()) return Outcome.fail(t.failure!);
  }
  return Outcome.ok(n.toString());
}

register("bench_sequence", sequence);
register("bench_fanout", fanout);
register("bench_one", one);
register("bench_timer", timer);
register("bench_ticks", ticks);
