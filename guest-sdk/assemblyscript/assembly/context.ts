// Context, futures, retry policies and the run loop: the orchestration side of the ABI.

import { decodeUTF8 } from "./utf8";
import {
  CMD_ACTIVITY, CMD_DEQUEUE, CMD_START_ORCHESTRATION, CMD_SUB_ORCHESTRATION, CMD_TIMER,
  CMD_WAIT_EVENT, MAX_AWAIT_HANDLES, OUTCOME_CONTINUED_AS_NEW, OUTCOME_FAILED, STATUS_NOT_READY,
  commandKindName, hostAwait, hostCancel, hostIsReplaying, hostLog, hostResult, hostSchedule,
  hostSetStatus, wasiClockTimeGet, wasiRandomGet,
} from "./abi";
import { CborReader, CborWriter } from "./cbor";
import { CODE_ATTEMPT_TIMEOUT, Failure, FailureKind } from "./failure";
import { formatDuration, goPowInt, goQuote } from "./goformat";
import { JsonValue, parse } from "./json";

const NANOS_PER_MS: i64 = 1_000_000;

/**
 * RetryPolicy retries an activity or a sub-orchestration. It is orchestration logic: every
 * attempt is a new command, every wait between attempts a durable timer, and an attempt
 * timeout a timer raced against the attempt (the loser is cancelled), so history shows each
 * step. Failures of kind application are retried, and attempt timeouts, unless their code is
 * in nonRetryableCodes; the future fails with the last attempt's failure. The semantics and
 * the histories are those of the Go SDK's RetryPolicy.
 */
export class RetryPolicy {
  /** The number of attempts, the first included; 0 means no limit. */
  maxAttempts: i32 = 0;
  /** The wait before the second attempt, in milliseconds; 0 means 1 second. */
  initialIntervalMs: i64 = 0;
  /** Multiplies the wait after every attempt; 0 means 2. Must be >= 1. */
  backoffCoefficient: f64 = 0;
  /** Caps the wait between attempts, in milliseconds; 0 means 100 × the initial interval. */
  maxIntervalMs: i64 = 0;
  /** Fails an attempt that takes longer (kind timeout, code attempt_timeout); 0: no timeout. */
  attemptTimeoutMs: i64 = 0;
  /** Failure codes that end the retries at once. */
  nonRetryableCodes: string[] = [];

  /** The wait in nanoseconds after the given failed attempt (1 for the first). */
  intervalNanos(attempt: i32): i64 {
    let initial = this.initialIntervalMs * NANOS_PER_MS;
    if (initial == 0) initial = 1_000_000_000;
    let coef = this.backoffCoefficient;
    if (coef == 0) coef = 2;
    let maxInterval = this.maxIntervalMs * NANOS_PER_MS;
    if (maxInterval == 0) maxInterval = 100 * initial;
    const d = <f64>initial * goPowInt(coef, attempt > 1 ? attempt - 1 : 0);
    if (d >= <f64>maxInterval) return maxInterval;
    return <i64>d;
  }

  validate(): void {
    if (this.maxAttempts < 0) abort("durohost: RetryPolicy.maxAttempts is negative");
    if (this.initialIntervalMs < 0 || this.maxIntervalMs < 0 || this.attemptTimeoutMs < 0) {
      abort("durohost: RetryPolicy has a negative duration");
    }
    const c = this.backoffCoefficient;
    if (c != 0 && (c < 1 || !isFinite(c))) abort("durohost: RetryPolicy.backoffCoefficient is not a number >= 1");
  }

  retryable(f: Failure): bool {
    if (f.kind != FailureKind.Application && f.kind != FailureKind.Timeout) return false;
    return !this.nonRetryableCodes.includes(f.code);
  }
}

/**
 * Options of a call: a retry policy (activities, sub-orchestrations with a derived ID), an
 * explicit instance ID and a version (sub- and detached orchestrations).
 *
 *     ctx.callActivity("charge", input, new CallOptions().withRetry(policy))
 */
export class CallOptions {
  retry: RetryPolicy | null = null;
  instanceId: string = "";
  version: string = "";

  withRetry(p: RetryPolicy): CallOptions {
    this.retry = p;
    return this;
  }

  withInstanceId(id: string): CallOptions {
    this.instanceId = id;
    return this;
  }

  withVersion(version: string): CallOptions {
    this.version = version;
    return this;
  }
}

/** A command to schedule (ABI.md, "Command"). */
class Command {
  constructor(
    public kind: u32,
    public name: string,
    public input: string,
    public version: string = "",
    public instanceId: string = "",
    public delay: i64 = 0,
  ) {}
}

const PENDING: u8 = 0;
const SETTLED: u8 = 1;
const CANCELLED: u8 = 2;

/**
 * The pending result of something an orchestration started: an activity, a timer, an
 * external event, a queue message, a sub-orchestration. Nothing happens while the
 * orchestration does not wait; wait() (or any accessor below) waits for this future, and
 * Context.select / waitAny / waitAll wait for several.
 *
 *     const f = ctx.callActivity("greet", '"Ada"');
 *     if (!f.wait()) return Outcome.fail(f.failure!);
 *     const greeting = f.value; // the result, JSON text
 */
export class Future {
  state: u8 = PENDING;
  resultBytes: Uint8Array | null = null;
  failureValue: Failure | null = null;
  driven: bool = false;
  mark: u64 = 0;
  private text: string | null = null;

  constructor(public ctx: Context, public handle: u32, public retry: RetryMachine | null = null) {}

  /** Waits until the future completes; true when it succeeded, false when it failed. */
  wait(): bool {
    if (this.state == PENDING) this.ctx.waitOne(this);
    return this.failureValue == null;
  }

  /** True once the future completed (or was cancelled), without waiting. */
  get done(): bool {
    return this.state != PENDING;
  }

  /** Waits, and tells whether the future succeeded. */
  get ok(): bool {
    return this.wait();
  }

  /** Waits, and returns the failure (null when the future succeeded). */
  get failure(): Failure | null {
    this.wait();
    return this.failureValue;
  }

  /** Waits, and returns the result as text (JSON by convention; "" when empty or failed). */
  get value(): string {
    this.wait();
    let t = this.text;
    if (t == null) {
      const b = this.resultBytes;
      t = b == null ? "" : decodeUTF8(b.dataStart, <usize>b.length);
      this.text = t;
    }
    return t!;
  }

  /** Waits, and returns the result parsed as JSON (see JsonValue; Missing when empty or failed). */
  json(): JsonValue {
    return parse(this.value);
  }

  /** Waits, and returns the result as bytes (empty when the result is empty or failed). */
  get bytes(): Uint8Array {
    this.wait();
    const b = this.resultBytes;
    return b == null ? new Uint8Array(0) : b;
  }

  /**
   * Drops the future: if it has not completed, the host records the cancellation and stops
   * the work (an activity is withdrawn, a child cancelled, a timer ignored, an event or queue
   * subscription withdrawn). It then fails with kind cancelled. Cancelling a completed
   * future does nothing.
   */
  cancel(): void {
    this.ctx.check();
    if (this.state != PENDING) return;
    const r = this.retry;
    if (r != null) r.cancel();
    else this.ctx.cancelHandle(this.handle);
    this.settle(null, new Failure(FailureKind.Cancelled, "", "future cancelled by the orchestration"));
    this.state = CANCELLED;
  }

  /** @internal Completes the future with a result or a failure. */
  settle(result: Uint8Array | null, failure: Failure | null): void {
    this.state = SETTLED;
    this.resultBytes = result;
    this.failureValue = failure;
    this.retry = null;
    if (this.driven) this.ctx.undrive(this);
  }

  /** @internal Appends the handles the future waits on. */
  waiting(ctx: Context): void {
    const r = this.retry;
    if (r != null) r.waiting(ctx, this);
    else ctx.addHandle(this.handle, this);
  }

  /** @internal Called when await reported h complete: reads it and advances. */
  ready(h: u32): void {
    const r = this.retry;
    if (r != null) {
      if (r.ready(h)) this.settle(r.result, r.failure);
      return;
    }
    const ctx = this.ctx;
    ctx.readResult(h);
    this.settle(ctx.lastResult, ctx.lastFailure);
  }
}

/** The attempts of a retried call: attempt (with its timeout timer), backoff timer, attempt... */
export class RetryMachine {
  attempt: i32 = 0;
  call: u32 = 0;
  timeout: u32 = 0;
  backoff: u32 = 0;
  result: Uint8Array | null = null;
  failure: Failure | null = null;

  constructor(public ctx: Context, public cmd: Command, public policy: RetryPolicy) {
    this.start();
  }

  start(): void {
    this.attempt++;
    this.call = this.ctx.schedule(this.cmd);
    if (this.policy.attemptTimeoutMs > 0) {
      this.timeout = this.ctx.schedule(new Command(CMD_TIMER, "", "", "", "", this.policy.attemptTimeoutMs * NANOS_PER_MS));
    }
  }

  waiting(ctx: Context, f: Future): void {
    if (this.backoff != 0) {
      ctx.addHandle(this.backoff, f);
      return;
    }
    ctx.addHandle(this.call, f);
    if (this.timeout != 0) ctx.addHandle(this.timeout, f);
  }

  /** Advances on handle h; true when the call settled (result and failure are set). */
  ready(h: u32): bool {
    const ctx = this.ctx;
    let err: Failure | null = null;
    if (h == this.backoff) {
      this.backoff = 0;
      ctx.readResult(h);
      if (ctx.lastFailure != null) {
        this.failure = ctx.lastFailure; // the timer itself failed (cancellation)
        return true;
      }
      this.start();
      return false;
    } else if (h == this.call) {
      this.call = 0;
      ctx.readResult(h);
      const res = ctx.lastResult;
      err = ctx.lastFailure;
      if (this.timeout != 0) {
        ctx.cancelHandle(this.timeout);
        this.timeout = 0;
      }
      if (err == null) {
        this.result = res;
        return true;
      }
    } else if (h == this.timeout) {
      this.timeout = 0;
      ctx.readResult(h);
      const terr = ctx.lastFailure;
      ctx.cancelHandle(this.call);
      this.call = 0;
      if (terr != null) {
        this.failure = terr;
        return true;
      }
      err = new Failure(FailureKind.Timeout, CODE_ATTEMPT_TIMEOUT,
        commandKindName(this.cmd.kind) + " " + goQuote(this.cmd.name) + ": attempt " + this.attempt.toString() +
        " timed out after " + formatDuration(this.policy.attemptTimeoutMs * NANOS_PER_MS));
    } else {
      abort("durohost: internal error: retry woken by a foreign handle");
    }
    const e = err!;
    const p = this.policy;
    if (!p.retryable(e) || (p.maxAttempts > 0 && this.attempt >= p.maxAttempts)) {
      this.failure = e;
      return true;
    }
    this.backoff = ctx.schedule(new Command(CMD_TIMER, "", "", "", "", p.intervalNanos(this.attempt)));
    return false;
  }

  cancel(): void {
    if (this.call != 0) this.ctx.cancelHandle(this.call);
    if (this.timeout != 0) this.ctx.cancelHandle(this.timeout);
    if (this.backoff != 0) this.ctx.cancelHandle(this.backoff);
    this.call = 0;
    this.timeout = 0;
    this.backoff = 0;
  }
}

/** Log levels of Logger (ABI.md, "Log levels"). */
export enum LogLevel {
  Debug = 0,
  Info = 1,
  Warn = 2,
  Error = 3,
}

/** A replay-safe logger: lines written while the orchestration replays are dropped. */
export class Logger {
  /** Set when the orchestration returned: a host call then would be an ABI misuse. */
  closed: bool = false;

  log(level: LogLevel, message: string): void {
    if (this.closed || hostIsReplaying() != 0) return;
    const b = String.UTF8.encode(message, false, String.UTF8.ErrorMode.REPLACE);
    hostLog(<i32>level, changetype<usize>(b), b.byteLength);
  }

  debug(message: string): void { this.log(LogLevel.Debug, message); }
  info(message: string): void { this.log(LogLevel.Info, message); }
  warn(message: string): void { this.log(LogLevel.Warn, message); }
  error(message: string): void { this.log(LogLevel.Error, message); }
}

const RESULT_BUF_SIZE: i32 = 1024;
const MAX_RESULT_BUF_SIZE: i32 = 64 << 10;
const HEX = "0123456789abcdef";

/**
 * Context is an orchestration's view of its execution: its metadata, and the only way to
 * start work, wait, set a custom status and log. Every wait blocks in the host: while the
 * orchestration waits the instance is parked (or, after a restart, re-run from the top with
 * the recorded results), so the code reads as straight-line code.
 */
export class Context {
  /** The ID of the orchestration instance. */
  instanceId: string = "";
  /** The execution number: 1 for the first, incremented by every continue-as-new. */
  executionId: u32 = 0;
  /** The orchestration's registered name. */
  name: string = "";
  /** The registered version that runs ("" for an unversioned orchestration). */
  version: string = "";
  /** The parent's instance ID for a sub-orchestration, else "". */
  parentId: string = "";
  /** The logical time the execution started, in Unix nanoseconds. */
  startTimeNanos: i64 = 0;
  /** The input, as bytes (the orchestration function receives it as text). */
  inputBytes: Uint8Array = new Uint8Array(0);
  /** The replay-safe logger. */
  log: Logger = new Logger();
  finished: bool = false;

  private status: Uint8Array | null = null;
  private drivers: Future[] = [];
  private epoch: u64 = 0;
  private handles: Uint32Array = new Uint32Array(16);
  private owners: Future[] = [];
  private nHandles: i32 = 0;
  private cmd: CborWriter = new CborWriter();
  private res: Uint8Array = new Uint8Array(RESULT_BUF_SIZE);
  private one: Future[] = [];
  /** @internal Set by readResult. */
  lastResult: Uint8Array | null = null;
  lastFailure: Failure | null = null;

  /** Marks the Context as used up: the orchestration returned. */
  finish(): void {
    this.finished = true;
    this.log.closed = true;
  }

  /** @internal Aborts when the orchestration already returned. */
  check(): void {
    if (this.finished) abort("durohost: Context used after its orchestration returned");
  }

  /** Tells whether the orchestration re-executes a part that history already recorded. */
  get isReplaying(): bool {
    this.check();
    return hostIsReplaying() != 0;
  }

  /** The logical time, Unix milliseconds: the same on every replay. */
  now(): i64 {
    return this.nowNanos() / NANOS_PER_MS;
  }

  /** The logical time, Unix nanoseconds. */
  nowNanos(): i64 {
    const t = memory.data(8);
    wasiClockTimeGet(0, 1, t);
    return load<i64>(t);
  }

  /** Random bytes from the instance's random stream: the same on every replay. */
  randomBytes(n: i32): Uint8Array {
    const b = new Uint8Array(n);
    if (n > 0) wasiRandomGet(b.dataStart, <usize>n);
    return b;
  }

  /** A random RFC 4122 version 4 UUID, the same on every replay. */
  newUuid(): string {
    const b = this.randomBytes(16);
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let s = "";
    for (let i = 0; i < 16; i++) {
      if (i == 4 || i == 6 || i == 8 || i == 10) s += "-";
      s += HEX.charAt(b[i] >> 4) + HEX.charAt(b[i] & 15);
    }
    return s;
  }

  /** The custom status (JSON text by convention), or null when none is set. */
  get customStatus(): string | null {
    const s = this.status;
    if (s == null) return null;
    return decodeUTF8(s.dataStart, <usize>s.length);
  }

  /** Tells whether a custom status is set (an empty one counts). */
  get hasCustomStatus(): bool {
    return this.status != null;
  }

  /** Sets the instance's custom status, visible to clients (JSON text by convention). */
  setCustomStatus(status: string): void {
    this.check();
    const b = Uint8Array.wrap(String.UTF8.encode(status, false, String.UTF8.ErrorMode.REPLACE));
    this.status = b;
    hostSetStatus(b.dataStart, b.length);
  }

  /** Removes the instance's custom status. */
  clearCustomStatus(): void {
    this.check();
    this.status = null;
    hostSetStatus(0, -1);
  }

  /** Schedules the activity name with input (JSON text) and returns the future of its result. */
  callActivity(name: string, input: string, options: CallOptions | null = null): Future {
    if (options != null && (options.instanceId.length > 0 || options.version.length > 0)) {
      abort("durohost: instance IDs and versions do not apply to activities");
    }
    return this.call(new Command(CMD_ACTIVITY, name, input), options);
  }

  /**
   * Starts the orchestration name as a child of this one and returns the future of its
   * output. Options: an instance ID (else derived from this instance), a version, a retry
   * policy (with a derived instance ID only: every attempt is a new child).
   */
  callSubOrchestration(name: string, input: string, options: CallOptions | null = null): Future {
    let version = "";
    let id = "";
    if (options != null) {
      version = options.version;
      id = options.instanceId;
      if (options.retry != null && id.length > 0) {
        abort("durohost: a retry policy needs a derived instance ID: every attempt is a new child");
      }
    }
    return this.call(new Command(CMD_SUB_ORCHESTRATION, name, input, version, id), options);
  }

  /**
   * Starts the orchestration name as a new, independent instance (not awaited; its end does
   * not concern this one) and returns its instance ID. Options: an instance ID, a version.
   */
  startOrchestration(name: string, input: string, options: CallOptions | null = null): string {
    let version = "";
    let id = "";
    if (options != null) {
      if (options.retry != null) abort("durohost: retry policies do not apply to detached orchestrations");
      version = options.version;
      id = options.instanceId;
    }
    const f = this.call(new Command(CMD_START_ORCHESTRATION, name, input, version, id), null);
    return f.value;
  }

  /** Starts a durable timer of ms milliseconds (negative counts as 0). */
  timer(ms: i64): Future {
    return this.timerNanos(ms * NANOS_PER_MS);
  }

  /** Starts a durable timer of ns nanoseconds. */
  timerNanos(ns: i64): Future {
    this.check();
    return new Future(this, this.schedule(new Command(CMD_TIMER, "", "", "", "", ns < 0 ? 0 : ns)));
  }

  /** Waits for a durable timer of ms milliseconds; false only if the host failed the timer. */
  sleep(ms: i64): bool {
    return this.timer(ms).wait();
  }

  /**
   * Subscribes to the next external event called name and returns the future of its data.
   * Events are positional: each subscription takes the oldest event of that name not yet
   * taken, including events raised before it was made.
   */
  waitForEvent(name: string): Future {
    this.check();
    if (name.length == 0) abort("durohost: waitForEvent with an empty name");
    return new Future(this, this.schedule(new Command(CMD_WAIT_EVENT, name, "")));
  }

  /** Takes the next message of the instance's persistent queue called name (FIFO). */
  dequeue(queue: string): Future {
    this.check();
    if (queue.length == 0) abort("durohost: dequeue with an empty queue name");
    return new Future(this, this.schedule(new Command(CMD_DEQUEUE, queue, "")));
  }

  /**
   * Waits until one of the futures completes, cancels all the others and returns the index
   * of the winner. When several have completed, the one first in history wins.
   */
  select(futures: Future[]): i32 {
    this.validate(futures, false);
    const i = this.waitAny_(futures);
    const winner = futures[i];
    for (let j = 0; j < futures.length; j++) {
      const f = unchecked(futures[j]);
      if (j != i && f != winner) f.cancel();
    }
    return i;
  }

  /** Waits until one of the futures completes and returns its index; the others keep running. */
  waitAny(futures: Future[]): i32 {
    this.validate(futures, false);
    return this.waitAny_(futures);
  }

  /**
   * Waits until every future completes and returns the first failure in argument order, or
   * null (also for an empty list, like Promise.all). Every future is awaited even when an
   * earlier one failed.
   */
  waitAll(futures: Future[]): Failure | null {
    if (futures.length == 0) return null;
    this.validate(futures, true);
    let first: Failure | null = null;
    for (let i = 0; i < futures.length; i++) {
      const f = unchecked(futures[i]);
      f.wait();
      if (first == null && f.failureValue != null) first = f.failureValue;
    }
    return first;
  }

  // --- internals ---

  private validate(futures: Future[], allowCancelled: bool): void {
    this.check();
    if (futures.length == 0) abort("durohost: waiting on no futures");
    for (let i = 0; i < futures.length; i++) {
      const f = unchecked(futures[i]);
      if (f.ctx != this) abort("durohost: a future of another Context");
      if (f.state == CANCELLED && !allowCancelled) abort("durohost: waiting on a cancelled future (a select loser?)");
    }
  }

  private call(cmd: Command, options: CallOptions | null): Future {
    this.check();
    if (cmd.name.length == 0) abort("durohost: a call with an empty name");
    if (options != null) {
      const p = options.retry;
      if (p != null) {
        p.validate();
        const f = new Future(this, 0);
        f.retry = new RetryMachine(this, cmd, p);
        f.driven = true;
        this.drivers.push(f);
        return f;
      }
    }
    return new Future(this, this.schedule(cmd));
  }

  /** @internal Records a command (the schedule host call) and returns its handle. */
  schedule(cmd: Command): u32 {
    const w = this.cmd;
    w.reset();
    let n = 1;
    if (cmd.name.length > 0) n++;
    if (cmd.input.length > 0) n++;
    if (cmd.version.length > 0) n++;
    if (cmd.instanceId.length > 0) n++;
    if (cmd.delay != 0) n++;
    w.map(n);
    w.uint(1);
    w.uint(cmd.kind);
    if (cmd.name.length > 0) { w.uint(2); w.text(cmd.name); }
    if (cmd.input.length > 0) { w.uint(3); w.textAsBytes(cmd.input); }
    if (cmd.version.length > 0) { w.uint(4); w.text(cmd.version); }
    if (cmd.instanceId.length > 0) { w.uint(5); w.text(cmd.instanceId); }
    if (cmd.delay != 0) { w.uint(6); w.int(cmd.delay); }
    const h = hostSchedule(w.ptr, w.len);
    if (h <= 0) abort("durohost: schedule failed");
    return <u32>h;
  }

  /** @internal Drops a handle (the cancel host call). */
  cancelHandle(h: u32): void {
    if (hostCancel(h) != 0) abort("durohost: cancel failed");
  }

  /** @internal Reads and releases the completion of h into lastResult / lastFailure. */
  readResult(h: u32): void {
    let buf = this.res;
    let n = hostResult(h, buf.dataStart, buf.length);
    if (n == STATUS_NOT_READY) abort("durohost: result not ready after await reported it");
    if (n < 0) abort("durohost: result failed");
    if (n > buf.length) {
      buf = new Uint8Array(n);
      if (hostResult(h, buf.dataStart, n) != n) abort("durohost: result changed size");
      if (n <= MAX_RESULT_BUF_SIZE) this.res = buf;
    }
    this.lastResult = null;
    this.lastFailure = null;
    if (n == 0) return;
    const r = new CborReader(buf.dataStart, buf.dataStart + <usize>n);
    const fields = r.expect(5);
    for (let i: u64 = 0; i < fields; i++) {
      const key = r.uint();
      if (key == 1) this.lastResult = r.bytes();
      else if (key == 2) this.lastFailure = readFailure(r);
      else r.skip();
    }
  }

  /** @internal Adds a handle to the await being built. */
  addHandle(h: u32, owner: Future): void {
    const n = this.nHandles;
    if (n == this.handles.length) {
      const b = new Uint32Array(n << 1);
      memory.copy(b.dataStart, this.handles.dataStart, <usize>n << 2);
      this.handles = b;
    }
    unchecked(this.handles[n] = h);
    if (n < this.owners.length) unchecked(this.owners[n] = owner);
    else this.owners.push(owner);
    this.nHandles = n + 1;
  }

  private add(f: Future): void {
    if (f.mark == this.epoch) return;
    f.mark = this.epoch;
    f.waiting(this);
  }

  /** @internal Waits for one future (Future.wait). */
  waitOne(f: Future): void {
    const one = this.one;
    if (one.length == 0) one.push(f);
    else unchecked(one[0] = f);
    this.waitAny_(one);
  }

  /** Blocks in await until one of fs settles, driving the retrying calls meanwhile. */
  private waitAny_(fs: Future[]): i32 {
    for (;;) {
      for (let i = 0; i < fs.length; i++) {
        if (unchecked(fs[i]).state != PENDING) return i;
      }
      this.epoch++;
      this.nHandles = 0;
      for (let i = 0; i < fs.length; i++) this.add(unchecked(fs[i]));
      const drivers = this.drivers;
      for (let i = 0; i < drivers.length; i++) this.add(unchecked(drivers[i]));
      const n = this.nHandles;
      if (n == 0) abort("durohost: internal error: pending futures wait on no handle");
      if (n > MAX_AWAIT_HANDLES) abort("durohost: waiting on more handles at once than the ABI allows (4096)");
      const i = hostAwait(this.handles.dataStart, n);
      if (i < 0 || i >= n) abort("durohost: await returned an index out of range");
      const owner = unchecked(this.owners[i]);
      owner.ready(unchecked(this.handles[i]));
    }
    return -1; // not reached
  }

  /** @internal Stops driving a settled retrying future. */
  undrive(f: Future): void {
    f.driven = false;
    const i = this.drivers.indexOf(f);
    if (i >= 0) this.drivers.splice(i, 1);
  }

  /** @internal Sets the custom status the execution started with. */
  setStatusFromStart(status: Uint8Array | null): void {
    this.status = status;
  }
}

export function readFailure(r: CborReader): Failure {
  const f = new Failure(FailureKind.Application, "", "");
  const n = r.expect(5);
  for (let i: u64 = 0; i < n; i++) {
    const key = r.uint();
    if (key == 1) f.kind = <FailureKind>(<i32>r.uint());
    else if (key == 2) f.code = r.text();
    else if (key == 3) f.message = r.text();
    else if (key == 4) f.details = r.bytes();
    else r.skip();
  }
  return f;
}

export { Command };
export { OUTCOME_FAILED, OUTCOME_CONTINUED_AS_NEW };
