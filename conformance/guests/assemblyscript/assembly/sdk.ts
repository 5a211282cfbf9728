// Orchestrations that expose parts of the SDK to conformance/assemblyscript_test.go, which
// compares their outputs with Go's (names "as_..."; not part of the scenario catalog).

import {
  Context, JsonKind, JsonWriter, Outcome, RetryPolicy, compactJson, formatDuration, parseJson, quoteJson, register,
} from "@durohost/sdk";

// as_quote: input a JSON string; output it written back by the SDK's JSON writer.
function asQuote(ctx: Context, input: string): Outcome {
  const v = parseJson(input);
  if (v.kind != JsonKind.String) return Outcome.error("bad_payload", "a JSON string expected");
  return Outcome.ok(quoteJson(v.str()));
}

// as_compact: input any JSON; output it compacted as Go writes a json.RawMessage.
function asCompact(ctx: Context, input: string): Outcome {
  const v = parseJson(input);
  if (!v.isValid) return Outcome.error("bad_payload", v.error);
  return Outcome.ok(compactJson(input));
}

// as_backoff: input {"initial_ms", "coefficient", "max_ms", "attempts"}; output the waits of
// a RetryPolicy after attempts 1..attempts, in nanoseconds.
function asBackoff(ctx: Context, input: string): Outcome {
  const v = parseJson(input);
  const p = new RetryPolicy();
  p.initialIntervalMs = v.get("initial_ms").int();
  p.backoffCoefficient = v.get("coefficient").num();
  p.maxIntervalMs = v.get("max_ms").int();
  const w = new JsonWriter().beginArray();
  const n = <i32>v.get("attempts").int();
  for (let i = 1; i <= n; i++) w.int(p.intervalNanos(i));
  return Outcome.ok(w.endArray().toString());
}

// as_duration: input a list of nanosecond counts; output them formatted as Go's Duration.
function asDuration(ctx: Context, input: string): Outcome {
  const xs = parseJson(input).array();
  const w = new JsonWriter().beginArray();
  for (let i = 0; i < xs.length; i++) w.string(formatDuration(xs[i].int()));
  return Outcome.ok(w.endArray().toString());
}

// as_number: input a list of numbers; output them written by JsonWriter.number.
function asNumber(ctx: Context, input: string): Outcome {
  const xs = parseJson(input).array();
  const w = new JsonWriter().beginArray();
  for (let i = 0; i < xs.length; i++) w.number(xs[i].num());
  return Outcome.ok(w.endArray().toString());
}

// as_throw: throws an Error whose message is the input (a JSON string), after a timer of 1 ms
// when the input starts with "later": the SDK reports it as a panic.
function asThrow(ctx: Context, input: string): Outcome {
  const msg = parseJson(input).str();
  if (msg.startsWith("later")) ctx.sleep(1);
  throw new Error(msg);
}

// as_log: logs its input (a JSON string) at level info through ctx.log, before any command,
// then fails with code "logged" without scheduling anything.
function asLog(ctx: Context, input: string): Outcome {
  ctx.log.info(parseJson(input).str());
  return Outcome.error("logged", "failed after logging");
}

// as_raw: input a JSON string; s is that string without its last UTF-16 unit (half of a
// surrogate pair when it ends with one); logs s, sets the custom status to s and completes
// with s between quotes, unescaped: what the SDK encodes of a string as it is.
function asRaw(ctx: Context, input: string): Outcome {
  const t = parseJson(input).str();
  const s = t.substring(0, t.length - 1);
  ctx.log.info(s);
  ctx.setCustomStatus(s);
  return Outcome.ok("\"" + s + "\"");
}

export function registerSDKChecks(): void {
  register("as_raw", asRaw);
  register("as_log", asLog);
  register("as_throw", asThrow);
  register("as_number", asNumber);
  register("as_backoff", asBackoff);
  register("as_duration", asDuration);
  register("as_quote", asQuote);
  register("as_compact", asCompact);
}
