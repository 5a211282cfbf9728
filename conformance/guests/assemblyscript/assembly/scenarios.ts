// The scenario orchestrations ("sc_..."), which conformance/scenarios drives by name. Their
// required behaviour, identical in every language's test guest down to the bytes of payloads,
// is written in conformance/scenarios/README.md; this is the AssemblyScript twin of
// conformance/guests/go. JSON is written in the order Go's encoding/json writes it: struct
// fields in declaration order, map keys sorted.

import {
  CallOptions, Context, Failure, Future, JsonValue, JsonWriter, Outcome, RetryPolicy, parseJson, quoteJson,
  register,
} from "@durohost/sdk";

/** variant is "a" in the default build and "b" in the variant build (see variant_b.ts). */
export let variant = "a";

export function setVariant(v: string): void {
  variant = v;
}

/** Parses the input; invalid JSON fails the orchestration as Go's typed input does. */
function decode(name: string, input: string): JsonValue {
  return parseJson(input);
}

function badInput(name: string, v: JsonValue): Outcome {
  return Outcome.error("bad_payload", "decode input of " + name + ": " + v.error);
}

/** A JSON value as an activity input: null when absent. */
function inputOf(v: JsonValue): string {
  return v.isMissing ? "null" : v.raw();
}

/** Writes a failure as the error object of the catalog. */
function writeError(w: JsonWriter, f: Failure): void {
  w.beginObject().key("kind").string(f.kindName);
  if (f.code.length > 0) w.key("code").string(f.code);
  w.key("message").string(f.message).endObject();
}

function errorOutput(f: Failure): string {
  const w = new JsonWriter();
  w.beginObject().key("error");
  writeError(w, f);
  w.endObject();
  return w.toString();
}

/** The payload of a completed future as JSON text: null when empty. */
function payload(f: Future): string {
  const v = f.value;
  return v.length == 0 ? "null" : v;
}

function retryOptions(r: JsonValue): CallOptions | null {
  if (r.isNull) return null;
  const p = new RetryPolicy();
  p.maxAttempts = <i32>r.get("max_attempts").int();
  p.initialIntervalMs = r.get("initial_ms").int();
  p.backoffCoefficient = r.get("coefficient").num();
  p.maxIntervalMs = r.get("max_ms").int();
  p.attemptTimeoutMs = r.get("timeout_ms").int();
  p.nonRetryableCodes = r.get("non_retryable").strings();
  return new CallOptions().withRetry(p);
}

// sc_call: one activity call.
function scCall(ctx: Context, input: string): Outcome {
  const inp = decode("sc_call", input);
  if (!inp.isValid) return badInput("sc_call", inp);
  const f = ctx.callActivity(inp.get("activity").str(), inputOf(inp.get("input")), retryOptions(inp.get("retry")));
  if (!f.wait()) {
    if (inp.get("catch").bool()) return Outcome.ok(errorOutput(f.failure!));
    return Outcome.fail(f.failure!);
  }
  if (inp.get("len").bool()) {
    return Outcome.ok(new JsonWriter().beginObject().key("len").int(f.bytes.length).endObject().toString());
  }
  return Outcome.ok(new JsonWriter().raw(f.value).toString());
}

// sc_sequence: count calls, batch at a time.
function scSequence(ctx: Context, input: string): Outcome {
  const inp = decode("sc_sequence", input);
  if (!inp.isValid) return badInput("sc_sequence", inp);
  const activity = inp.get("activity").str();
  const count = inp.get("count").int();
  let batch = inp.get("batch").int();
  if (batch < 1) batch = 1;
  let last = "";
  for (let i: i64 = 0; i < count; i += batch) {
    const fs: Future[] = [];
    const end = i + batch < count ? i + batch : count;
    for (let j = i; j < end; j++) fs.push(ctx.callActivity(activity, j.toString()));
    const err = ctx.waitAll(fs);
    if (err != null) return Outcome.fail(err);
    last = fs[fs.length - 1].value;
  }
  return Outcome.ok(new JsonWriter().beginObject().key("count").int(count).key("last").raw(last).endObject().toString());
}

// sc_fanout: one call per input, all at once, joined in schedule order.
function scFanout(ctx: Context, input: string): Outcome {
  const inp = decode("sc_fanout", input);
  if (!inp.isValid) return badInput("sc_fanout", inp);
  const activity = inp.get("activity").str();
  const inputs = inp.get("inputs").array();
  const fs: Future[] = [];
  for (let i = 0; i < inputs.length; i++) fs.push(ctx.callActivity(activity, inputOf(inputs[i])));
  let err: Failure | null = null;
  if (fs.length > 0) err = ctx.waitAll(fs);
  const w = new JsonWriter();
  const catching = err != null && inp.get("catch").bool();
  if (err != null && !catching) return Outcome.fail(err);
  if (catching) {
    w.beginObject().key("error");
    writeError(w, err!);
    w.key("results");
  }
  w.beginArray();
  for (let i = 0; i < fs.length; i++) w.raw(payload(fs[i]));
  w.endArray();
  if (catching) w.endObject();
  return Outcome.ok(w.toString());
}

function goList(xs: string[]): string {
  return "[" + xs.join(" ") + "]";
}

// sc_saga: the steps in order; on a failure the compensations in reverse order.
function scSaga(ctx: Context, input: string): Outcome {
  const inp = decode("sc_saga", input);
  if (!inp.isValid) return badInput("sc_saga", inp);
  const steps = inp.get("steps").strings();
  const done: string[] = [];
  for (let i = 0; i < steps.length; i++) {
    const s = steps[i];
    const f = ctx.callActivity(s, "null");
    if (!f.wait()) {
      const compensated: string[] = [];
      const failed: string[] = [];
      for (let j = done.length - 1; j >= 0; j--) {
        const undo = "undo_" + done[j];
        if (!ctx.callActivity(undo, "null").wait()) failed.push(undo);
        else compensated.push(undo);
      }
      return Outcome.error("saga_failed", "step " + s + " failed (" + f.failure!.message + "); compensated " +
        goList(compensated) + "; compensations failed " + goList(failed));
    }
    done.push(s);
  }
  if (done.length == 0) return Outcome.ok("null"); // a nil slice in Go
  const w = new JsonWriter().beginArray();
  for (let i = 0; i < done.length; i++) w.string(done[i]);
  return Outcome.ok(w.endArray().toString());
}

// sc_timers: timers one after the other, or all at once.
function scTimers(ctx: Context, input: string): Outcome {
  const inp = decode("sc_timers", input);
  if (!inp.isValid) return badInput("sc_timers", inp);
  const ms = inp.get("ms").array();
  const start = ctx.nowNanos();
  let want: i64 = 0;
  if (inp.get("parallel").bool()) {
    const fs: Future[] = [];
    for (let i = 0; i < ms.length; i++) {
      const d = ms[i].int() * 1_000_000;
      fs.push(ctx.timerNanos(d));
      if (d > want) want = d;
    }
    if (fs.length > 0) {
      const err = ctx.waitAll(fs);
      if (err != null) return Outcome.fail(err);
    }
  } else {
    for (let i = 0; i < ms.length; i++) {
      const d = ms[i].int() * 1_000_000;
      const t = ctx.timerNanos(d);
      if (!t.wait()) return Outcome.fail(t.failure!);
      want += d;
    }
  }
  const w = new JsonWriter().beginObject();
  w.key("elapsed_ok").bool(ctx.nowNanos() - start >= want).key("fired").int(ms.length);
  return Outcome.ok(w.endObject().toString());
}

// sc_status: custom statuses set and cleared, 1 ms apart; the one read back at the end.
function scStatus(ctx: Context, input: string): Outcome {
  const inp = decode("sc_status", input);
  if (!inp.isValid) return badInput("sc_status", inp);
  const steps = inp.array();
  for (let i = 0; i < steps.length; i++) {
    if (i > 0) {
      const t = ctx.timer(1);
      if (!t.wait()) return Outcome.fail(t.failure!);
    }
    const s = steps[i].raw();
    if (s == "\"clear\"") ctx.clearCustomStatus();
    else if (s == "\"empty\"") ctx.setCustomStatus("");
    else ctx.setCustomStatus(s);
  }
  const w = new JsonWriter().beginObject();
  const st = ctx.customStatus;
  if (st == null) w.key("set").bool(false);
  else w.key("set").bool(true).key("status").string(st);
  return Outcome.ok(w.endObject().toString());
}

// sc_fail: fails with an application failure of the given code and message.
function scFail(ctx: Context, input: string): Outcome {
  const inp = decode("sc_fail", input);
  if (!inp.isValid) return badInput("sc_fail", inp);
  return Outcome.error(inp.get("code").str(), inp.get("message").str());
}

// sc_info: the instance's identity.
function scInfo(ctx: Context, input: string): Outcome {
  const inp = decode("sc_info", input);
  if (!inp.isValid) return badInput("sc_info", inp);
  const w = new JsonWriter().beginObject();
  w.key("execution_id").uint(ctx.executionId);
  w.key("input").raw(inp.isMissing ? "null" : inp.raw());
  w.key("instance_id").string(ctx.instanceId);
  w.key("parent_id").string(ctx.parentId);
  return Outcome.ok(w.endObject().toString());
}

/** Starts the future a spec of sc_select / sc_join describes. */
function startSpec(ctx: Context, s: JsonValue): Future {
  const kind = s.get("kind").str();
  if (kind == "activity") return ctx.callActivity(s.get("name").str(), inputOf(s.get("input")));
  if (kind == "timer") return ctx.timer(s.get("ms").int());
  if (kind == "event") return ctx.waitForEvent(s.get("name").str());
  if (kind == "queue") return ctx.dequeue(s.get("name").str());
  if (kind == "child") {
    const id = s.get("id").str();
    return ctx.callSubOrchestration(s.get("name").str(), inputOf(s.get("input")),
      id.length > 0 ? new CallOptions().withInstanceId(id) : null);
  }
  abort("unknown future kind " + quoteJson(kind));
  return ctx.timer(0);
}

/** Writes {"result": ...} or {"error": ...}, with "index" in its sorted place when index >= 0. */
function writeOutcome(w: JsonWriter, f: Future, index: i32): void {
  w.beginObject();
  if (!f.wait()) {
    w.key("error");
    writeError(w, f.failure!);
    if (index >= 0) w.key("index").int(index);
  } else {
    if (index >= 0) w.key("index").int(index);
    w.key("result").raw(payload(f));
  }
  w.endObject();
}

// sc_select: starts the futures in order, selects one, the others cancelled.
function scSelect(ctx: Context, input: string): Outcome {
  const inp = decode("sc_select", input);
  if (!inp.isValid) return badInput("sc_select", inp);
  const specs = inp.get("futures").array();
  const fs: Future[] = [];
  for (let i = 0; i < specs.length; i++) fs.push(startSpec(ctx, specs[i]));
  const i = ctx.select(fs);
  const w = new JsonWriter();
  writeOutcome(w, fs[i], i);
  return Outcome.ok(w.toString());
}

// sc_join: starts the futures in order and returns their outcomes in schedule order.
function scJoin(ctx: Context, input: string): Outcome {
  const inp = decode("sc_join", input);
  if (!inp.isValid) return badInput("sc_join", inp);
  const specs = inp.get("futures").array();
  const fs: Future[] = [];
  for (let i = 0; i < specs.length; i++) fs.push(startSpec(ctx, specs[i]));
  ctx.waitAll(fs);
  const w = new JsonWriter().beginArray();
  for (let i = 0; i < fs.length; i++) writeOutcome(w, fs[i], -1);
  return Outcome.ok(w.endArray().toString());
}

// sc_receive: the gate event, then each step's event or queue message, maybe raced against a timer.
function scReceive(ctx: Context, input: string): Outcome {
  const inp = decode("sc_receive", input);
  if (!inp.isValid) return badInput("sc_receive", inp);
  const gate = inp.get("gate").str();
  if (gate.length > 0) {
    const g = ctx.waitForEvent(gate);
    if (!g.wait()) return Outcome.fail(g.failure!);
  }
  const steps = inp.get("steps").array();
  const w = new JsonWriter().beginArray();
  for (let i = 0; i < steps.length; i++) {
    const s = steps[i];
    const event = s.get("event").str();
    const f = event.length > 0 ? ctx.waitForEvent(event) : ctx.dequeue(s.get("queue").str());
    const timeout = s.get("timeout_ms").int();
    if (timeout > 0) {
      const t = ctx.timer(timeout);
      if (ctx.select([f, t]) == 1) {
        w.string("timeout");
        continue;
      }
    }
    if (!f.wait()) return Outcome.fail(f.failure!);
    w.raw(payload(f));
  }
  return Outcome.ok(w.endArray().toString());
}

function subscribe(ctx: Context, kind: string, name: string): Future {
  return kind == "queue" ? ctx.dequeue(name) : ctx.waitForEvent(name);
}

// sc_rebind: a subscription cancelled unread gives its event or message to the next one.
function scRebind(ctx: Context, input: string): Outcome {
  const inp = decode("sc_rebind", input);
  if (!inp.isValid) return badInput("sc_rebind", inp);
  const kind = inp.get("kind").str();
  const name = inp.get("name").str();
  const first = subscribe(ctx, kind, name);
  const g = ctx.waitForEvent(inp.get("gate").str());
  if (!g.wait()) return Outcome.fail(g.failure!);
  first.cancel();
  const second = subscribe(ctx, kind, name);
  if (!second.wait()) return Outcome.fail(second.failure!);
  return Outcome.ok(new JsonWriter().raw(payload(second)).toString());
}

// sc_child: one sub-orchestration; its output, or its failure (propagated, or caught).
function scChild(ctx: Context, input: string): Outcome {
  const inp = decode("sc_child", input);
  if (!inp.isValid) return badInput("sc_child", inp);
  const id = inp.get("id").str();
  const f = ctx.callSubOrchestration(inp.get("name").str(), inputOf(inp.get("input")),
    id.length > 0 ? new CallOptions().withInstanceId(id) : null);
  if (!f.wait()) {
    if (inp.get("catch").bool()) return Outcome.ok(errorOutput(f.failure!));
    return Outcome.fail(f.failure!);
  }
  return Outcome.ok(new JsonWriter().raw(payload(f)).toString());
}

// sc_hold: an activity and a child (depth > 0) left running, then waits for "release".
function scHold(ctx: Context, input: string): Outcome {
  const inp = decode("sc_hold", input);
  if (!inp.isValid) return badInput("sc_hold", inp);
  const depth = inp.get("depth").int();
  const activity = inp.get("activity").str();
  if (activity.length > 0) ctx.callActivity(activity, "null");
  if (depth > 0) {
    const child = new JsonWriter().beginObject().key("depth").int(depth - 1).key("activity").string(activity).endObject();
    ctx.callSubOrchestration("sc_hold", child.toString(), new CallOptions().withInstanceId(ctx.instanceId + "-c"));
  }
  const r = ctx.waitForEvent("release");
  if (!r.wait()) return Outcome.fail(r.failure!);
  return Outcome.ok("\"released\"");
}

// sc_detached: starts an independent orchestration and returns its instance ID.
function scDetached(ctx: Context, input: string): Outcome {
  const inp = decode("sc_detached", input);
  if (!inp.isValid) return badInput("sc_detached", inp);
  const id = inp.get("id").str();
  const started = ctx.startOrchestration(inp.get("name").str(), inputOf(inp.get("input")),
    id.length > 0 ? new CallOptions().withInstanceId(id) : null);
  return Outcome.ok(quoteJson(started));
}

// sc_counter: counts through continue-as-new, taking an event per execution.
function scCounter(ctx: Context, input: string): Outcome {
  const inp = decode("sc_counter", input);
  if (!inp.isValid) return badInput("sc_counter", inp);
  let n = inp.get("n").int();
  const to = inp.get("to").int();
  const event = inp.get("event").str();
  const got: string[] = [];
  const prev = inp.get("got").array();
  for (let i = 0; i < prev.length; i++) got.push(prev[i].raw());
  ctx.setCustomStatus(new JsonWriter().beginObject().key("n").int(n).endObject().toString());
  if (event.length > 0) {
    const e = ctx.waitForEvent(event);
    if (!e.wait()) return Outcome.fail(e.failure!);
    got.push(payload(e));
  }
  if (n < to) {
    n++;
    const w = new JsonWriter().beginObject().key("n").int(n).key("to").int(to);
    if (event.length > 0) w.key("event").string(event);
    if (got.length > 0) {
      w.key("got").beginArray();
      for (let i = 0; i < got.length; i++) w.raw(got[i]);
      w.endArray();
    }
    return Outcome.continueAsNew(w.endObject().toString());
  }
  const w = new JsonWriter().beginObject().key("execution").uint(ctx.executionId).key("got").beginArray();
  for (let i = 0; i < got.length; i++) w.raw(got[i]);
  w.endArray().key("n").int(n);
  return Outcome.ok(w.endObject().toString());
}

function writeList(w: JsonWriter, got: string[]): void {
  w.beginArray();
  for (let i = 0; i < got.length; i++) w.raw(got[i]);
  w.endArray();
}

// sc_carry: the custom status and queue messages carried over continue-as-new.
function scCarry(ctx: Context, input: string): Outcome {
  const inp = decode("sc_carry", input);
  if (!inp.isValid) return badInput("sc_carry", inp);
  const phase = inp.get("phase").int();
  const got: string[] = [];
  const prev = inp.get("got").array();
  for (let i = 0; i < prev.length; i++) got.push(prev[i].raw());
  if (phase <= 1) {
    ctx.setCustomStatus("\"carried\"");
    const g = ctx.waitForEvent("go");
    if (!g.wait()) return Outcome.fail(g.failure!);
    const m = ctx.dequeue("q");
    m.wait();
    got.push(payload(m));
    if (!m.ok) return Outcome.fail(m.failure!);
    const w = new JsonWriter().beginObject().key("phase").int(2);
    if (got.length > 0) {
      w.key("got");
      writeList(w, got);
    }
    return Outcome.continueAsNew(w.endObject().toString());
  }
  const st = ctx.customStatus;
  for (let i = 0; i < 2; i++) {
    const m = ctx.dequeue("q");
    m.wait();
    got.push(payload(m));
    if (!m.ok) return Outcome.fail(m.failure!);
  }
  const w = new JsonWriter().beginObject().key("execution").uint(ctx.executionId).key("got");
  writeList(w, got);
  w.key("status").string(st != null ? st : "");
  return Outcome.ok(w.endObject().toString());
}

const HEX = "0123456789abcdef";

function sample(ctx: Context, w: JsonWriter): void {
  const b = ctx.randomBytes(8);
  let crypto = "";
  for (let i = 0; i < b.length; i++) crypto += HEX.charAt(b[i] >> 4) + HEX.charAt(b[i] & 15);
  const uuid = ctx.newUuid();
  const r = Math.random();
  w.beginObject().key("crypto").string(crypto).key("rand_ok").bool(r >= 0 && r < 1).key("uuid").string(uuid).endObject();
}

// sc_random: replay-safe randomness and time, before and after a timer.
function scRandom(ctx: Context, input: string): Outcome {
  const inp = decode("sc_random", input);
  if (!inp.isValid) return badInput("sc_random", inp);
  const ms = inp.get("ms").int();
  const t0 = ctx.nowNanos();
  const before = new JsonWriter();
  sample(ctx, before);
  const t = ctx.timer(ms);
  if (!t.wait()) return Outcome.fail(t.failure!);
  const after = new JsonWriter();
  sample(ctx, after);
  const w = new JsonWriter().beginObject();
  w.key("after").raw(after.toString()).key("before").raw(before.toString());
  w.key("time_ok").bool(ctx.nowNanos() - t0 >= ms * 1_000_000);
  return Outcome.ok(w.endObject().toString());
}

// sc_versioned version 1: waits for the event "go"; "upgrade" continues as new on version 2
// (variant a); anything else returns "v1-<variant>:<data>".
function scVersionedV1(ctx: Context, input: string): Outcome {
  const e = ctx.waitForEvent("go");
  if (!e.wait()) return Outcome.fail(e.failure!);
  const v = parseJson(e.value);
  if (!v.isValid) return Outcome.error("bad_payload", "decode result: " + v.error);
  const data = v.str();
  if (data == "upgrade" && variant == "a") return Outcome.continueAsNew("\"from-v1\"", "2");
  return Outcome.ok(quoteJson("v1-" + variant + ":" + data));
}

// sc_versioned version 2 (variant b only): returns "v2-<variant>:<input>".
export function scVersionedV2(ctx: Context, input: string): Outcome {
  const v = parseJson(input);
  if (!v.isValid) return badInput("sc_versioned", v);
  return Outcome.ok(quoteJson("v2-" + variant + ":" + v.str()));
}

// sc_nd: variant a calls nd_step with 1 and 2 and returns the sum; variant b changes its
// first turn according to the input.
function scNondet(ctx: Context, input: string): Outcome {
  const change = parseJson(input).str();
  const fs: Future[] = [];
  if (variant != "b") {
    fs.push(ctx.callActivity("nd_step", "1"));
    fs.push(ctx.callActivity("nd_step", "2"));
  } else if (change == "name") {
    fs.push(ctx.callActivity("nd_other", "1"));
    fs.push(ctx.callActivity("nd_step", "2"));
  } else if (change == "input") {
    fs.push(ctx.callActivity("nd_step", "99"));
    fs.push(ctx.callActivity("nd_step", "2"));
  } else if (change == "kind") {
    const t = ctx.timer(1);
    if (!t.wait()) return Outcome.fail(t.failure!);
    fs.push(ctx.callActivity("nd_step", "2"));
  } else if (change == "extra") {
    fs.push(ctx.callActivity("nd_step", "1"));
    fs.push(ctx.callActivity("nd_step", "2"));
    fs.push(ctx.callActivity("nd_step", "3"));
  } else if (change == "missing") {
    fs.push(ctx.callActivity("nd_step", "1"));
  }
  let sum: i64 = 0;
  let err: Failure | null = null;
  for (let i = 0; i < fs.length; i++) {
    const f = fs[i];
    if (!f.wait()) {
      if (err == null) err = f.failure;
      continue;
    }
    sum += parseJson(f.value).int();
  }
  if (err != null) return Outcome.fail(err);
  return Outcome.ok(sum.toString());
}

/** Registers every scenario orchestration (sc_versioned version 2 only in variant b). */
export function registerScenarios(): void {
  register("sc_call", scCall);
  register("sc_sequence", scSequence);
  register("sc_fanout", scFanout);
  register("sc_saga", scSaga);
  register("sc_timers", scTimers);
  register("sc_status", scStatus);
  register("sc_fail", scFail);
  register("sc_info", scInfo);
  register("sc_select", scSelect);
  register("sc_join", scJoin);
  register("sc_receive", scReceive);
  register("sc_rebind", scRebind);
  register("sc_child", scChild);
  register("sc_hold", scHold);
  register("sc_detached", scDetached);
  register("sc_counter", scCounter);
  register("sc_carry", scCarry);
  register("sc_random", scRandom);
  register("sc_versioned", scVersionedV1, "1");
  if (variant == "b") register("sc_versioned", scVersionedV2, "2");
  register("sc_nd", scNondet);
}
