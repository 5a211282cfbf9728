// approval: human interaction. The orchestration waits for a person's decision, sent as an
// external event, but gives up after a timeout.
//
//	go run ./cmd/durohost run wasm-examples/assemblyscript/approval --input '{"request": "new laptop", "timeout_ms": 60000}'
//	go run ./cmd/durohost raise <instance-id> approval '{"approved": true, "by": "alice"}'

import { Context, JsonWriter, Outcome, parseJson, quoteJson, register } from "@durohost/sdk";

export { durohost_run, durohost_abi_version } from "@durohost/sdk";

/** How long to wait for a decision when the input does not say, in milliseconds. */
const DEFAULT_TIMEOUT_MS: i64 = 60_000;

function approval(ctx: Context, input: string): Outcome {
  const parsed = parseJson(input);
  if (!parsed.isValid) return Outcome.error("bad_input", "the input is not JSON: " + parsed.error);
  const request = parsed.get("request").str();
  let timeout = parsed.get("timeout_ms").int();
  if (timeout <= 0) timeout = DEFAULT_TIMEOUT_MS;

  // The custom status is visible to clients (`durohost status <instance-id>`) while the
  // orchestration runs: a cheap way to say what it is doing.
  ctx.setCustomStatus(quoteJson("waiting for approval"));

  // Start both waits. Neither blocks: each returns a future.
  //
  // waitForEvent subscribes to the next event named "approval" raised for this instance (one
  // raised before this line is not lost: it waits in history for a subscriber).
  const decision = ctx.waitForEvent("approval");
  // A durable timer: the host stores when it fires, so it survives restarts, and nothing runs
  // while it is pending.
  const timer = ctx.timer(timeout);

  // select waits for the first of the two futures to complete and cancels the other one. It
  // returns the index of the winner: 0 for the event, 1 for the timer. The winner and the
  // loser's cancellation are recorded in history, so a replay takes the same branch.
  const winner = ctx.select([decision, timer]);

  // Not waiting any more: remove the custom status.
  ctx.clearCustomStatus();

  const out = new JsonWriter().beginObject().key("request").string(request);
  if (winner == 1) {
    ctx.log.info("no decision request=" + request + " timeout_ms=" + timeout.toString());
    return Outcome.ok(out.key("status").string("timed out").endObject().toString());
  }

  // The event won: its data is JSON text, {"approved": bool, "by": name}.
  const d = decision.json();
  if (!d.isValid) return Outcome.error("bad_payload", "the approval event is not JSON: " + d.error);
  const status = d.get("approved").bool() ? "approved" : "rejected";
  const by = d.get("by").str();
  out.key("status").string(status);
  if (by.length > 0) out.key("by").string(by);
  ctx.log.info("decided request=" + request + " status=" + status + " by=" + by);
  return Outcome.ok(out.endObject().toString());
}

register("approval", approval);
