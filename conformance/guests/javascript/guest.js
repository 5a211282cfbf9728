// The JavaScript test guest of the conformance suite: the scenario orchestrations of
// conformance/scenarios/README.md, written with the JavaScript SDK (guest-sdk/javascript).
// Outputs are byte for byte those of the Go guest, whose golden histories record them: keys of
// what Go encodes from a map come sorted, those of a struct (error objects, continue-as-new
// inputs) in the struct's order; payloads are embedded as they came (durohost.raw).
// `variant` ("a" or "b") is defined before this script by the test that bundles it.
"use strict";

const { register, DurableError, utf8, text } = durohost;

function errorObject(e) {
  const o = { kind: e.kind || "application" };
  if (e.code) o.code = e.code;
  o.message = e.message;
  return o;
}

// rawPayload returns a task's result to embed as is (null when empty), as the Go guest does.
function rawPayload(t) {
  return durohost.raw(t.raw);
}

function input(x) {
  return x === undefined ? null : x;
}

function* withTask(task) {
  try {
    yield task;
    return [task, null];
  } catch (e) {
    return [task, e];
  }
}

register("sc_call", function* (ctx, inp) {
  const r = inp.retry;
  const options = r
    ? {
        retry: {
          maxAttempts: r.max_attempts,
          initialIntervalMs: r.initial_ms,
          backoffCoefficient: r.coefficient,
          maxIntervalMs: r.max_ms,
          attemptTimeoutMs: r.timeout_ms,
          nonRetryableCodes: r.non_retryable,
        },
      }
    : undefined;
  const [t, err] = yield* withTask(ctx.callActivity(inp.activity, input(inp.input), options));
  if (err) {
    if (inp.catch) return { error: errorObject(err) };
    throw err;
  }
  if (inp.len) return { len: t.raw.length };
  return rawPayload(t);
});

register("sc_sequence", function* (ctx, inp) {
  const batch = Math.max(inp.batch || 0, 1);
  let last = null;
  for (let i = 0; i < inp.count; i += batch) {
    const tasks = [];
    for (let j = i; j < Math.min(i + batch, inp.count); j++) tasks.push(ctx.callActivity(inp.activity, j));
    yield ctx.all(tasks);
    last = tasks[tasks.length - 1];
  }
  return { count: inp.count, last: last ? rawPayload(last) : null };
});

register("sc_fanout", function* (ctx, inp) {
  const tasks = (inp.inputs || []).map((x) => ctx.callActivity(inp.activity, input(x)));
  let first = null;
  try {
    yield ctx.all(tasks);
  } catch (e) {
    first = e;
  }
  const results = tasks.map((t) => (t.error ? null : rawPayload(t)));
  if (first && inp.catch) return { error: errorObject(first), results };
  if (first) throw first;
  return results;
});

register("sc_saga", function* (ctx, inp) {
  const done = [];
  for (const s of inp.steps || []) {
    try {
      yield ctx.callActivity(s, null);
    } catch (e) {
      const compensated = [],
        failed = [];
      for (let i = done.length - 1; i >= 0; i--) {
        const undo = "undo_" + done[i];
        try {
          yield ctx.callActivity(undo, null);
          compensated.push(undo);
        } catch (ce) {
          failed.push(undo);
        }
      }
      throw new DurableError(
        "saga_failed",
        `step ${s} failed (${e.message}); compensated [${compensated.join(" ")}]; compensations failed [${failed.join(" ")}]`
      );
    }
    done.push(s);
  }
  return done;
});

register("sc_timers", function* (ctx, inp) {
  const ms = inp.ms || [];
  const start = Date.now();
  let want = 0;
  if (inp.parallel) {
    const tasks = ms.map((d) => ctx.createTimer(d));
    want = ms.reduce((a, b) => Math.max(a, b), 0);
    if (tasks.length) yield ctx.all(tasks);
  } else {
    for (const d of ms) {
      yield ctx.createTimer(d);
      want += d;
    }
  }
  return { elapsed_ok: Date.now() - start >= want, fired: ms.length };
});

register("sc_status", function* (ctx, steps) {
  for (let i = 0; i < steps.length; i++) {
    if (i > 0) yield ctx.createTimer(1);
    const s = steps[i];
    if (s === "clear") ctx.clearCustomStatus();
    else if (s === "empty") ctx.setCustomStatus(new Uint8Array(0));
    else ctx.setCustomStatus(s);
  }
  const st = ctx.customStatus();
  return st === null ? { set: false } : { set: true, status: text(st) };
});

register("sc_fail", function (ctx, inp) {
  throw new DurableError(inp.code, inp.message);
});

register("sc_info", function (ctx) {
  return {
    execution_id: ctx.executionId,
    input: durohost.raw(ctx.rawInput),
    instance_id: ctx.instanceId,
    parent_id: ctx.parentId,
  };
});

function startFuture(ctx, s) {
  switch (s.kind) {
    case "activity":
      return ctx.callActivity(s.name, input(s.input));
    case "timer":
      return ctx.createTimer(s.ms || 0);
    case "event":
      return ctx.waitForEvent(s.name);
    case "queue":
      return ctx.dequeue(s.name);
    case "child":
      return ctx.callSubOrchestration(s.name, input(s.input), { instanceId: s.id });
  }
  throw new Error(`unknown future kind ${JSON.stringify(s.kind)}`);
}

function outcome(t) {
  return t.error ? { error: errorObject(t.error) } : { result: rawPayload(t) };
}

register("sc_select", function* (ctx, inp) {
  const tasks = inp.futures.map((s) => startFuture(ctx, s));
  const winner = yield ctx.any(tasks);
  const index = tasks.indexOf(winner);
  return winner.error ? { error: errorObject(winner.error), index } : { index, result: rawPayload(winner) };
});

register("sc_join", function* (ctx, inp) {
  const tasks = inp.futures.map((s) => startFuture(ctx, s));
  try {
    yield ctx.all(tasks);
  } catch (e) {
    // every outcome is reported below
  }
  return tasks.map(outcome);
});

register("sc_receive", function* (ctx, inp) {
  if (inp.gate) yield ctx.waitForEvent(inp.gate);
  const out = [];
  for (const s of inp.steps || []) {
    const f = s.event ? ctx.waitForEvent(s.event) : ctx.dequeue(s.queue);
    if (s.timeout_ms > 0) {
      const t = ctx.createTimer(s.timeout_ms);
      if ((yield ctx.any([f, t])) === t) {
        out.push("timeout");
        continue;
      }
    }
    yield f;
    out.push(rawPayload(f));
  }
  return out;
});

register("sc_rebind", function* (ctx, inp) {
  const sub = () => (inp.kind === "queue" ? ctx.dequeue(inp.name) : ctx.waitForEvent(inp.name));
  const first = sub();
  yield ctx.waitForEvent(inp.gate);
  first.cancel();
  const second = sub();
  yield second;
  return rawPayload(second);
});

register("sc_child", function* (ctx, inp) {
  const [t, err] = yield* withTask(ctx.callSubOrchestration(inp.name, input(inp.input), { instanceId: inp.id }));
  if (err) {
    if (inp.catch) return { error: errorObject(err) };
    throw err;
  }
  return rawPayload(t);
});

register("sc_hold", function* (ctx, inp) {
  const activity = inp.activity || "";
  if (activity) ctx.callActivity(activity, null);
  if (inp.depth > 0) {
    ctx.callSubOrchestration("sc_hold", { depth: inp.depth - 1, activity }, { instanceId: ctx.instanceId + "-c" });
  }
  yield ctx.waitForEvent("release");
  return "released";
});

register("sc_detached", function* (ctx, inp) {
  return yield ctx.startOrchestration(inp.name, input(inp.input), { instanceId: inp.id });
});

register("sc_counter", function* (ctx, inp) {
  ctx.setCustomStatus({ n: inp.n });
  const got = inp.got || [];
  if (inp.event) {
    const t = ctx.waitForEvent(inp.event);
    yield t;
    got.push(rawPayload(t));
  }
  if (inp.n < inp.to) {
    const next = { n: inp.n + 1, to: inp.to };
    if (inp.event) next.event = inp.event;
    if (got.length) next.got = got;
    return ctx.continueAsNew(next);
  }
  return { execution: ctx.executionId, got, n: inp.n };
});

register("sc_carry", function* (ctx, inp) {
  const got = inp.got || [];
  const take = function* () {
    const t = ctx.dequeue("q");
    try {
      yield t;
    } finally {
      got.push(t.error ? null : rawPayload(t));
    }
  };
  if ((inp.phase || 0) <= 1) {
    ctx.setCustomStatus(utf8('"carried"'));
    yield ctx.waitForEvent("go");
    yield* take();
    return ctx.continueAsNew({ phase: 2, got });
  }
  const st = ctx.customStatus();
  for (let k = 0; k < 2; k++) yield* take();
  return { execution: ctx.executionId, got, status: st ? text(st) : "" };
});

function hex(bytes) {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

register("sc_random", function* (ctx, inp) {
  // The Go guest's order: 8 random bytes, then a UUID, then the ordinary generator.
  const sample = () => {
    const crypto = hex(ctx.randomBytes(8));
    const uuid = ctx.newUUID();
    return { crypto, rand_ok: Math.random() >= 0, uuid };
  };
  const t0 = Date.now();
  const before = sample();
  yield ctx.createTimer(inp.ms || 0);
  const after = sample();
  return { after, before, time_ok: Date.now() - t0 >= (inp.ms || 0) };
});

// Variant-dependent orchestrations.

register(
  "sc_versioned",
  function* (ctx) {
    const data = yield ctx.waitForEvent("go");
    if (data === "upgrade" && variant === "a") return ctx.continueAsNew("from-v1", { version: "2" });
    return `v1-${variant}:${data}`;
  },
  { version: "1" }
);

if (variant === "b") {
  register("sc_versioned", (ctx, inp) => `v2-${variant}:${inp}`, { version: "2" });
}

register("sc_nd", function* (ctx, change) {
  let tasks = [];
  if (variant !== "b") tasks = [ctx.callActivity("nd_step", 1), ctx.callActivity("nd_step", 2)];
  else if (change === "name") tasks = [ctx.callActivity("nd_other", 1), ctx.callActivity("nd_step", 2)];
  else if (change === "input") tasks = [ctx.callActivity("nd_step", 99), ctx.callActivity("nd_step", 2)];
  else if (change === "kind") {
    yield ctx.createTimer(1);
    tasks = [ctx.callActivity("nd_step", 2)];
  } else if (change === "extra")
    tasks = [ctx.callActivity("nd_step", 1), ctx.callActivity("nd_step", 2), ctx.callActivity("nd_step", 3)];
  else if (change === "missing") tasks = [ctx.callActivity("nd_step", 1)];
  const values = yield ctx.all(tasks);
  return values.reduce((a, b) => a + b, 0);
});
