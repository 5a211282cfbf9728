// Orchestrations that expose parts of the SDK to conformance/assemblyscript_test.go, which
// compares their outputs with Go's (names "as_..."; not part of the scenario catalog).

import { Context, JsonKind, Outcome, compactJson, parseJson, quoteJson, register } from "@durohost/sdk";

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

export function registerSDKChecks(): void {
  register("as_quote", asQuote);
  register("as_compact", asCompact);
}
