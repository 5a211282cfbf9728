// fanout: fan-out/fan-in. The orchestration starts one activity per item, all at once, waits
// for them all and adds up their results.
//
//	go run ./cmd/durohost run wasm-examples/assemblyscript/fanout --input '{"items": 10}'

import { Context, Future, JsonWriter, Outcome, parseJson, register } from "@durohost/sdk";

export { durohost_run, durohost_abi_version } from "@durohost/sdk";

/** The number of activities started when the input does not say. */
const DEFAULT_ITEMS: i64 = 10;

/**
 * Bounds the fan-out: every activity adds events to the instance's history, and a history
 * has a size limit. Larger batches are split into sub-orchestrations or processed in rounds
 * with continue-as-new.
 */
const MAX_ITEMS: i64 = 1000;

// fanout calls "echo" once for each item 1..n with {"item": i, "square": i*i}, all at once,
// then adds up the squares echo sends back. A real activity would compute the square itself;
// echo keeps the example runnable without writing any activity code.
function fanout(ctx: Context, input: string): Outcome {
  const parsed = parseJson(input);
  if (!parsed.isValid) return Outcome.error("bad_input", "the input is not JSON: " + parsed.error);
  let n = parsed.get("items").int();
  if (n == 0) n = DEFAULT_ITEMS;
  if (n < 0 || n > MAX_ITEMS) {
    // Outcome.error fails the orchestration with a code of our choosing.
    return Outcome.error("bad_input", "items must be between 1 and " + MAX_ITEMS.toString() + ", got " + n.toString());
  }

  // Fan out: callActivity only schedules the activity and returns a future; it does not
  // wait. The host starts all n activities when the orchestration next waits, and its
  // activity workers run them in parallel.
  const futures: Future[] = [];
  for (let item: i64 = 1; item <= n; item++) {
    const work = new JsonWriter().beginObject().key("item").int(item).key("square").int(item * item).endObject();
    futures.push(ctx.callActivity("echo", work.toString()));
  }

  // Fan in: waitAll waits for every future and returns the first failure in the order the
  // futures were created (not the order the activities finished in), or null.
  const failure = ctx.waitAll(futures);
  if (failure != null) return Outcome.fail(failure);

  let sum: i64 = 0;
  for (let i = 0; i < futures.length; i++) {
    sum += futures[i].json().get("square").int();
  }
  const out = new JsonWriter().beginObject().key("count").int(futures.length).key("sum_of_squares").int(sum).endObject();
  return Outcome.ok(out.toString());
}

register("fanout", fanout);
