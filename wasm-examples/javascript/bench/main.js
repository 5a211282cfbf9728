// The JavaScript benchmark guest (`durohost bench --guest javascript`): the orchestrations of
// the Go benchmark guest (internal/bench/guest), with the same names, inputs and histories.

// count reads the input: a non-negative integer (no input: 1).
function count(input) {
  if (input === null || input === undefined) return 1;
  if (!Number.isInteger(input) || input < 0) {
    throw new durohost.DurableError("bad_input", `input must be a non-negative integer, got ${JSON.stringify(input)}`);
  }
  return input;
}

// bench_sequence calls "noop" n times, one call after the other, and returns n.
durohost.register("bench_sequence", function* (ctx, input) {
  const n = count(input);
  for (let i = 0; i < n; i++) yield ctx.callActivity("noop", "x");
  return n;
});

// bench_fanout calls "noop" n times in parallel, waits for them all and returns n.
durohost.register("bench_fanout", function* (ctx, input) {
  const n = count(input);
  const tasks = [];
  for (let i = 0; i < n; i++) tasks.push(ctx.callActivity("noop", "x"));
  yield ctx.all(tasks);
  return n;
});

// bench_one calls "noop" once and returns its result.
durohost.register("bench_one", function* (ctx) {
  return yield ctx.callActivity("noop", "x");
});

// bench_timer waits for a durable timer of input milliseconds.
durohost.register("bench_timer", function* (ctx, input) {
  yield ctx.createTimer(count(input));
  return null;
});

// bench_ticks waits for n durable timers of 0 ms, one after the other.
durohost.register("bench_ticks", function* (ctx, input) {
  const n = count(input);
  for (let i = 0; i < n; i++) yield ctx.createTimer(0);
  return n;
});
