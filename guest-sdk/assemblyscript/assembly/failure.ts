// Failures and outcomes: how an orchestration sees the failure of what it waited for, and how
// it ends.

import { OUTCOME_COMPLETED, OUTCOME_CONTINUED_AS_NEW, OUTCOME_FAILED } from "./abi";

/** The kinds of failures (ABI.md, "Failure"). */
export enum FailureKind {
  /** Returned by user code: an activity, an orchestration. */
  Application = 1,
  /** A platform failure; never reaches orchestration code. */
  Infrastructure = 2,
  /** The work was cancelled (Future.cancel, select). */
  Cancelled = 3,
  /** A deadline passed (RetryPolicy.attemptTimeoutMs). */
  Timeout = 4,
}

/** The name of a failure kind: "application", "infrastructure", "cancelled" or "timeout". */
export function failureKindName(kind: FailureKind): string {
  switch (kind) {
    case FailureKind.Application: return "application";
    case FailureKind.Infrastructure: return "infrastructure";
    case FailureKind.Cancelled: return "cancelled";
    case FailureKind.Timeout: return "timeout";
  }
  return "unknown";
}

/** Codes the SDK puts in Failure.code for failures it produces itself (the same in every SDK). */
export const CODE_PANIC = "panic";
export const CODE_ATTEMPT_TIMEOUT = "attempt_timeout";
export const CODE_BAD_PAYLOAD = "bad_payload";

/**
 * A failure crossing the ABI: the failure of an activity, a sub-orchestration or a cancelled
 * future as the orchestration sees it, and the failure an orchestration ends with.
 */
export class Failure {
  constructor(
    public kind: FailureKind,
    /** A stable machine-readable code (may be empty). */
    public code: string,
    /** A human-readable description. */
    public message: string,
    /** An opaque payload, JSON by convention. */
    public details: Uint8Array | null = null,
  ) {}

  /** An application failure with a code (may be empty) and a message. */
  static application(code: string, message: string): Failure {
    return new Failure(FailureKind.Application, code, message);
  }

  get kindName(): string {
    return failureKindName(this.kind);
  }

  get isCancelled(): bool { return this.kind == FailureKind.Cancelled; }
  get isTimeout(): bool { return this.kind == FailureKind.Timeout; }

  /** "kind [code]: message", or "kind: message" without a code (as the Go SDK prints it). */
  toString(): string {
    if (this.code.length > 0) return this.kindName + " [" + this.code + "]: " + this.message;
    return this.kindName + ": " + this.message;
  }
}

/**
 * How an orchestration ends: what its function returns.
 *
 *     return Outcome.ok('"done"');                   // completed with a JSON output
 *     return Outcome.fail(f.failure!);               // failed with a failure it got
 *     return Outcome.error("out_of_stock", "...");   // failed with its own failure
 *     return Outcome.continueAsNew(nextInput);       // a new execution of the instance
 */
export class Outcome {
  kind: u32 = OUTCOME_COMPLETED;
  /** The output (completed) or the next input (continued as new), as JSON text. */
  payload: string = "";
  /** The same as bytes, when given as bytes (then payload is ignored). */
  payloadBytes: Uint8Array | null = null;
  failure: Failure | null = null;
  /** The version of the next execution (continued as new; "" keeps the current one). */
  version: string = "";

  /** Completes the execution with output, JSON text ("" is no output). */
  static ok(output: string): Outcome {
    const o = new Outcome();
    o.payload = output;
    return o;
  }

  /** Completes the execution with an output of raw bytes. */
  static okBytes(output: Uint8Array): Outcome {
    const o = new Outcome();
    o.payloadBytes = output;
    return o;
  }

  /** Fails the execution with a failure (for instance the failure of an activity it called). */
  static fail(failure: Failure): Outcome {
    const o = new Outcome();
    o.kind = OUTCOME_FAILED;
    o.failure = failure;
    return o;
  }

  /** Fails the execution with an application failure of a code and a message. */
  static error(code: string, message: string): Outcome {
    return Outcome.fail(Failure.application(code, message));
  }

  /**
   * Ends this execution and starts the next one of the same instance with input (JSON
   * text), optionally on another version; the custom status and the unconsumed queue
   * messages carry over.
   */
  static continueAsNew(input: string, version: string = ""): Outcome {
    const o = new Outcome();
    o.kind = OUTCOME_CONTINUED_AS_NEW;
    o.payload = input;
    o.version = version;
    return o;
  }
}
