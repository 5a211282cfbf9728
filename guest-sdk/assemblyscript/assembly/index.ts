// durohost's AssemblyScript guest SDK: write durable orchestrations in TypeScript syntax,
// compiled to a WebAssembly module that the durohost host runs. See README.md.

export { Context, Future, RetryPolicy, CallOptions, Logger, LogLevel } from "./context";
export { Failure, FailureKind, Outcome, failureKindName, CODE_PANIC, CODE_ATTEMPT_TIMEOUT, CODE_BAD_PAYLOAD } from "./failure";
export { Orchestration, register, compareVersions, durohost_run, durohost_abi_version } from "./run";
export { JsonValue, JsonKind, JsonWriter, parse as parseJson, quote as quoteJson, compact as compactJson } from "./json";
export { formatDuration, goQuote } from "./goformat";
