// hello is the first durohost example in AssemblyScript: an orchestration that calls one
// activity three times, one call after the other, and returns what it got back.
//
// Run it from the repository root:
//
//	go run ./cmd/durohost run wasm-examples/assemblyscript/hello --input '"World"'
//
// Build the module by hand: npm install && npm run build (writes hello.wasm).

import { Context, JsonKind, Outcome, parseJson, quoteJson, register } from "@durohost/sdk";

// Every module exports these two functions of the SDK: the host calls them.
export { durohost_run, durohost_abi_version } from "@durohost/sdk";

// hello greets a name in three languages. Each greeting goes through the built-in activity
// "echo", which returns its input unchanged: a stand-in for real work such as sending an email
// or calling an API, which in durohost always happens in an activity, never in the
// orchestration itself.
//
// The host records every activity result in the instance's history. If the process stops
// half-way, the orchestration is run again from the start on resume; the calls that already
// completed are answered from history instead of being run again. That is why the code must do
// the same thing every time it runs.
function hello(ctx: Context, input: string): Outcome {
  // The input is JSON text ("" when the instance was started without input).
  const parsed = parseJson(input);
  if (!parsed.isValid || !(parsed.isNull || parsed.kind == JsonKind.String)) {
    return Outcome.error("bad_payload", "the input must be a JSON string (a name), got " + input);
  }
  let name = parsed.str();
  if (name.length == 0) name = "World";

  const greetings = ["Hello, ", "Bonjour, ", "Hola, "];
  const replies: string[] = [];
  for (let i = 0; i < greetings.length; i++) {
    // callActivity schedules the activity and returns a future right away; wait() blocks
    // until its result is there. Waiting here, before the next call, makes the three calls
    // run in sequence (see the fanout example for calls that run in parallel).
    const reply = ctx.callActivity("echo", quoteJson(greetings[i] + name + "!"));
    if (!reply.wait()) {
      // The activity failed: ending with its failure fails the orchestration with it.
      return Outcome.fail(reply.failure!);
    }
    // json() parses the result (JSON text, also in value); echo sent back the JSON string
    // we gave it.
    replies.push(reply.json().str());
  }

  // The context's logger drops its lines while the orchestration replays, so each line
  // appears once however many times the code runs.
  ctx.log.info("greeted name=" + name + " greetings=" + replies.length.toString());

  // The output is JSON text too.
  return Outcome.ok(quoteJson(replies.join(" ")));
}

// register makes the orchestration known under the name clients start it by. Top-level code
// runs once when the module is loaded, before the host runs any orchestration.
register("hello", hello);
