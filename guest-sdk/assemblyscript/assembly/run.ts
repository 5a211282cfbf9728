// The registry of orchestrations and durohost_run: read StartInfo, run the orchestration it
// names (or describe the module) and complete.

import { decodeUTF8 } from "./utf8";
import {
  ABI_VERSION, MODE_DESCRIBE, MODE_RUN, OUTCOME_COMPLETED, OUTCOME_CONTINUED_AS_NEW, OUTCOME_DESCRIBE,
  OUTCOME_FAILED, hostComplete, hostLog, hostStartInfo,
} from "./abi";
import { CborReader, CborWriter } from "./cbor";
import { Context } from "./context";
import { CODE_PANIC, Failure, FailureKind, Outcome } from "./failure";
import { quote } from "./json";

/**
 * The code of an orchestration: it receives its Context and its input (JSON text, "" when the
 * instance was started without input) and returns how it ends.
 */
export type Orchestration = (ctx: Context, input: string) => Outcome;

class Registration {
  constructor(public name: string, public version: string, public fn: Orchestration) {}
}

const registrations: Registration[] = [];

/**
 * Registers an orchestration under a name (and optionally a version) in the module. Call it
 * from the top level of a module: the host describes the module, and later runs it, after its
 * top-level code ran. A request naming a version runs exactly that version; one without runs
 * the highest (dot-separated segments compared numerically when both are decimal numbers).
 */
export function register(name: string, fn: Orchestration, version: string = ""): void {
  if (name.length == 0) abort("durohost: register with an empty name");
  for (let i = 0; i < registrations.length; i++) {
    const r = unchecked(registrations[i]);
    if (r.name == name && r.version == version) abort("durohost: orchestration " + describe(name, version) + " registered twice");
  }
  registrations.push(new Registration(name, version, fn));
}

function describe(name: string, version: string): string {
  return version.length == 0 ? name : name + "@" + version;
}

function isDecimal(s: string): bool {
  if (s.length == 0) return false;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 48 || c > 57) return false;
  }
  return true;
}

function trimZeros(s: string): string {
  let i = 0;
  while (i < s.length && s.charCodeAt(i) == 48) i++;
  return s.substring(i);
}

function compareStrings(a: string, b: string): i32 {
  // Byte order of UTF-8 equals code point order; UTF-16 order differs only above U+FFFF.
  const n = min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const x = a.codePointAt(i);
    const y = b.codePointAt(i);
    if (x != y) return x < y ? -1 : 1;
    if (x > 0xffff) i++;
  }
  return a.length == b.length ? 0 : (a.length < b.length ? -1 : 1);
}

function compareSegments(a: string, b: string): i32 {
  if (isDecimal(a) && isDecimal(b)) {
    a = trimZeros(a);
    b = trimZeros(b);
    if (a.length != b.length) return a.length < b.length ? -1 : 1;
  }
  return compareStrings(a, b);
}

/** Compares dot-separated versions as the Go SDK does: -1, 0 or +1. */
export function compareVersions(a: string, b: string): i32 {
  const as = a.split(".");
  const bs = b.split(".");
  for (let i = 0; i < as.length && i < bs.length; i++) {
    const c = compareSegments(unchecked(as[i]), unchecked(bs[i]));
    if (c != 0) return c;
  }
  if (as.length != bs.length) return as.length < bs.length ? -1 : 1;
  return 0;
}

function lookup(name: string, version: string): Registration | null {
  let best: Registration | null = null;
  for (let i = 0; i < registrations.length; i++) {
    const r = unchecked(registrations[i]);
    if (r.name != name) continue;
    if (version.length > 0) {
      if (r.version == version) return r;
      continue;
    }
    if (best == null || compareVersions(r.version, best.version) > 0) best = r;
  }
  return best;
}

function sorted(): Registration[] {
  const out = registrations.slice(0);
  out.sort((a: Registration, b: Registration): i32 => {
    const c = compareStrings(a.name, b.name);
    return c != 0 ? c : compareVersions(a.version, b.version);
  });
  return out;
}

function writeFailure(w: CborWriter, f: Failure): void {
  let n = 1;
  if (f.code.length > 0) n++;
  if (f.message.length > 0) n++;
  const d = f.details;
  if (d != null && d.length > 0) n++;
  w.map(n);
  w.uint(1);
  w.uint(<u64>f.kind);
  if (f.code.length > 0) { w.uint(2); w.text(f.code); }
  if (f.message.length > 0) { w.uint(3); w.text(f.message); }
  if (d != null && d.length > 0) { w.uint(4); w.bytes(d.dataStart, d.length); }
}

function payloadFields(o: Outcome): i32 {
  const b = o.payloadBytes;
  return (b != null ? b.length : o.payload.length) > 0 ? 1 : 0;
}

function writePayload(w: CborWriter, o: Outcome): void {
  const b = o.payloadBytes;
  if (b != null) w.bytes(b.dataStart, b.length);
  else w.textAsBytes(o.payload);
}

function finish(o: Outcome): void {
  const w = new CborWriter();
  if (o.kind == OUTCOME_COMPLETED) {
    const p = payloadFields(o);
    w.map(1 + p);
    w.uint(1); w.uint(OUTCOME_COMPLETED);
    if (p > 0) { w.uint(2); writePayload(w, o); }
  } else if (o.kind == OUTCOME_FAILED) {
    w.map(2);
    w.uint(1); w.uint(OUTCOME_FAILED);
    w.uint(3); writeFailure(w, o.failure!);
  } else if (o.kind == OUTCOME_CONTINUED_AS_NEW) {
    const p = payloadFields(o);
    const v = o.version.length > 0 ? 1 : 0;
    w.map(1 + p + v);
    w.uint(1); w.uint(OUTCOME_CONTINUED_AS_NEW);
    if (p > 0) { w.uint(4); writePayload(w, o); }
    if (v > 0) { w.uint(5); w.text(o.version); }
  } else {
    abort("durohost: unknown outcome kind");
  }
  hostComplete(w.ptr, w.len);
}

function failInfra(code: string, message: string): void {
  finish(Outcome.fail(new Failure(FailureKind.Infrastructure, code, message)));
}

function describeModule(): void {
  const regs = sorted();
  const w = new CborWriter();
  w.map(2);
  w.uint(1); w.uint(OUTCOME_DESCRIBE);
  w.uint(6);
  w.array(regs.length);
  for (let i = 0; i < regs.length; i++) {
    const r = unchecked(regs[i]);
    w.map(r.version.length > 0 ? 2 : 1);
    w.uint(1); w.text(r.name);
    if (r.version.length > 0) { w.uint(2); w.text(r.version); }
  }
  hostComplete(w.ptr, w.len);
}

/** The Context of the orchestration running, until it returns: the abort handler fails it. */
let running: Context | null = null;

/** Set by the abort handler: an abort while it runs (out of memory) traps at once. */
let aborting = false;

/** The current instance's seed of Math.random (see __durohost_seed). */
let mathSeed: u64 = 0x9e3779b97f4a7c15;

function run(): void {
  let buf = new Uint8Array(1024);
  let n = hostStartInfo(buf.dataStart, buf.length);
  if (n > buf.length) {
    buf = new Uint8Array(n);
    if (hostStartInfo(buf.dataStart, n) != n) {
      failInfra("DH-ABI-002", "read start info: its size changed");
      return;
    }
  }
  if (n < 0) {
    failInfra("DH-ABI-002", "read start info: start_info returned " + n.toString());
    return;
  }
  const ctx = new Context();
  let mode: u64 = 0;
  let input: Uint8Array = new Uint8Array(0);
  const r = new CborReader(buf.dataStart, buf.dataStart + <usize>n);
  const fields = r.expect(5);
  let status: Uint8Array | null = null;
  for (let i: u64 = 0; i < fields; i++) {
    const key = r.uint();
    switch (<i32>key) {
      case 1: mode = r.uint(); break;
      case 2: ctx.name = r.text(); break;
      case 3: ctx.version = r.text(); break;
      case 4: ctx.instanceId = r.text(); break;
      case 5: ctx.executionId = <u32>r.uint(); break;
      case 6: input = r.bytes(); break;
      case 7: ctx.parentId = r.text(); break;
      case 8: status = r.bytes(); break;
      case 9: ctx.startTimeNanos = r.int(); break;
      default: r.skip();
    }
  }
  if (mode == <u64>MODE_DESCRIBE) {
    describeModule();
    return;
  }
  if (mode != <u64>MODE_RUN) {
    failInfra("DH-ABI-004", "unknown start mode " + mode.toString());
    return;
  }
  const reg = lookup(ctx.name, ctx.version);
  if (reg == null) {
    const regs = sorted();
    let names = "";
    for (let i = 0; i < regs.length; i++) {
      if (i > 0) names += ", ";
      names += describe(unchecked(regs[i]).name, unchecked(regs[i]).version);
    }
    if (names.length == 0) names = "none";
    failInfra("DH-GUEST-001", "the module does not register orchestration " + describe(ctx.name, ctx.version) +
      "; it registers: " + names);
    return;
  }
  ctx.version = reg.version;
  ctx.inputBytes = input;
  ctx.setStatusFromStart(status);
  // Math.random is seeded per instance and execution, without reading the instance's random
  // stream (which newUuid and randomBytes read, as the Go SDK's crypto/rand does).
  mathSeed = fnv(ctx.instanceId, ctx.executionId);
  NativeMath.seedRandom(<i64>mathSeed);
  running = ctx;
  const out = reg.fn(ctx, decodeUTF8(input.dataStart, <usize>input.length));
  running = null;
  ctx.finish();
  finish(out);
}

function fnv(id: string, execution: u32): u64 {
  let h: u64 = 0xcbf29ce484222325;
  for (let i = 0; i < id.length; i++) {
    h = (h ^ <u64>id.charCodeAt(i)) * 0x100000001b3;
  }
  return (h ^ <u64>execution) * 0x100000001b3;
}

/** durohost_run: export it from the module's entry file (see README.md). */
export function durohost_run(): void {
  run();
}

/** durohost_abi_version: export it from the module's entry file (see README.md). */
export function durohost_abi_version(): i32 {
  return ABI_VERSION;
}

/**
 * The seed of Math.random (asc --use seed=__durohost_seed): a function of the instance, so
 * that Math.random returns the same numbers on every replay.
 */
// @ts-ignore: decorator
@global export function __durohost_seed(): f64 {
  return reinterpret<f64>(mathSeed);
}

/**
 * The abort handler (asc --use abort=__durohost_abort), reached by a `throw`, a failed
 * assertion or an abort of the SDK. It logs the message and its place at level error. While
 * an orchestration runs, it then fails the execution as the Go SDK reports a panic: the
 * application failure `panic`, message "orchestration NAME panicked: MESSAGE", details the
 * JSON string "panicked at FILE:LINE:COLUMN" (with complete; ABI.md lets a guest trap after
 * it). Then it traps: an abort elsewhere (StartInfo, the outcome) fails with DH-TRAP-001.
 */
// @ts-ignore: decorator
@global export function __durohost_abort(message: string | null = null, fileName: string | null = null, line: u32 = 0, column: u32 = 0): void {
  if (aborting) unreachable();
  aborting = true;
  const msg = message != null ? message : "(no message)";
  const place = fileName != null ? fileName + ":" + line.toString() + ":" + column.toString() : "";
  const b = String.UTF8.encode("abort: " + msg + (place.length > 0 ? " at " + place : ""), false, String.UTF8.ErrorMode.REPLACE);
  hostLog(3, changetype<usize>(b), b.byteLength);
  const ctx = running;
  if (ctx != null) {
    running = null;
    ctx.finish();
    const f = new Failure(FailureKind.Application, CODE_PANIC,
      "orchestration " + describe(ctx.name, ctx.version) + " panicked: " + msg);
    if (place.length > 0) f.details = Uint8Array.wrap(String.UTF8.encode(quote("panicked at " + place), false, String.UTF8.ErrorMode.REPLACE));
    finish(Outcome.fail(f));
  }
  unreachable();
}
