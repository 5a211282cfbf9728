// durohost.js: the JavaScript SDK of durohost. Orchestrations are generator functions that
// yield tasks (activities, timers, events, queue messages, sub-orchestrations) and receive
// their results; the SDK speaks the stream form of the ABI (abi/ABI.md, "Stream form") through
// the JavaScript runtime's native __durohost functions (runtime/runtime.c).
//
//   durohost.register("greet", function* (ctx, name) {
//     const hello = yield ctx.callActivity("echo", "Hello, " + name);
//     yield ctx.createTimer(1000);
//     return hello;
//   });
//
// Inputs, outputs and payloads are JSON. See README.md.
(function (global) {
  "use strict";

  const native = global.__durohost;

  // UTF-8 (QuickJS has no TextEncoder).
  function utf8(s) {
    return new Uint8Array(native.utf8encode(String(s)));
  }
  function text(bytes) {
    return native.utf8decode(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength));
  }

  // CBOR (RFC 8949), what the ABI's messages need: unsigned and negative integers, byte and
  // text strings, arrays, maps (Map with integer keys), null, booleans.
  class Writer {
    constructor() {
      this.buf = new Uint8Array(256);
      this.n = 0;
    }
    ensure(k) {
      if (this.n + k > this.buf.length) {
        const nb = new Uint8Array(Math.max(this.buf.length * 2, this.n + k));
        nb.set(this.buf.subarray(0, this.n));
        this.buf = nb;
      }
    }
    byte(b) {
      this.ensure(1);
      this.buf[this.n++] = b;
    }
    u32(v) {
      this.byte((v >>> 24) & 255);
      this.byte((v >>> 16) & 255);
      this.byte((v >>> 8) & 255);
      this.byte(v & 255);
    }
    head(major, v) {
      const m = major << 5;
      if (v < 24) this.byte(m | v);
      else if (v < 0x100) {
        this.byte(m | 24);
        this.byte(v);
      } else if (v < 0x10000) {
        this.byte(m | 25);
        this.byte(v >>> 8);
        this.byte(v & 255);
      } else if (v < 0x100000000) {
        this.byte(m | 26);
        this.u32(v);
      } else {
        this.byte(m | 27);
        this.u32(Math.floor(v / 0x100000000));
        this.u32(v >>> 0);
      }
    }
    bytes(b) {
      this.ensure(b.length);
      this.buf.set(b, this.n);
      this.n += b.length;
    }
    value(x) {
      if (x === null || x === undefined) this.byte(0xf6);
      else if (x === true) this.byte(0xf5);
      else if (x === false) this.byte(0xf4);
      else if (typeof x === "number") {
        if (!Number.isSafeInteger(x)) throw new RangeError("CBOR: " + x + " is not a safe integer");
        if (x >= 0) this.head(0, x);
        else this.head(1, -1 - x);
      } else if (typeof x === "string") {
        const b = utf8(x);
        this.head(3, b.length);
        this.bytes(b);
      } else if (x instanceof Uint8Array) {
        this.head(2, x.length);
        this.bytes(x);
      } else if (Array.isArray(x)) {
        this.head(4, x.length);
        for (const v of x) this.value(v);
      } else if (x instanceof Map) {
        this.head(5, x.size);
        for (const [k, v] of x) {
          this.value(k);
          this.value(v);
        }
      } else throw new TypeError("CBOR: cannot encode " + typeof x);
    }
    done() {
      return this.buf.buffer.slice(0, this.n);
    }
  }

  function decode(ab) {
    const b = new Uint8Array(ab);
    let p = 0;
    function u(n) {
      let v = 0;
      for (let k = 0; k < n; k++) v = v * 256 + b[p++];
      return v;
    }
    function item() {
      const h = b[p++];
      const major = h >> 5,
        info = h & 31;
      let v = info;
      if (info === 24) v = u(1);
      else if (info === 25) v = u(2);
      else if (info === 26) v = u(4);
      else if (info === 27) v = u(8);
      else if (info > 27) throw new Error("durohost: malformed answer from the host");
      switch (major) {
        case 0:
          return v;
        case 1:
          return -1 - v;
        case 2: {
          const s = b.slice(p, p + v);
          p += v;
          return s;
        }
        case 3: {
          const s = text(b.subarray(p, p + v));
          p += v;
          return s;
        }
        case 4: {
          const a = [];
          for (let k = 0; k < v; k++) a.push(item());
          return a;
        }
        case 5: {
          const o = {};
          for (let k = 0; k < v; k++) {
            const key = item();
            o[key] = item();
          }
          return o;
        }
        case 6:
          return item();
        default:
          return info === 21 ? true : info === 20 ? false : null;
      }
    }
    return item();
  }

  // The stream calls, one per host function (ABI.md, "Stream calls").
  function call(num, ...args) {
    const w = new Writer();
    w.head(4, 1 + args.length);
    w.value(num);
    for (const a of args) w.value(a);
    return decode(native.call(w.done()));
  }
  const host = {
    startInfo: () => call(1),
    schedule: (cmd) => call(2, cmd),
    await: (handles) => call(3, handles),
    result: (h) => call(4, h),
    cancel: (h) => call(5, h),
    setStatus: (bytes) => call(6, bytes),
    complete: (outcome) => call(7, outcome),
    log: (level, msg) => call(8, level, msg),
    isReplaying: () => call(9) === 1,
  };

  const KIND_NAMES = { 1: "application", 2: "infrastructure", 3: "cancelled", 4: "timeout" };
  const KIND_VALUES = { application: 1, infrastructure: 2, cancelled: 3, timeout: 4 };
  const COMMAND = { activity: 1, timer: 2, wait_event: 3, dequeue: 4, sub_orchestration: 5, start_orchestration: 6 };

  // DurableError is a failure: of an activity, a child, a timeout, a cancellation, or the one
  // an orchestration throws to fail with a code of its own.
  class DurableError extends Error {
    constructor(code, message, options) {
      super(message);
      this.name = "DurableError";
      this.code = code || "";
      this.kind = (options && options.kind) || "application";
      this.details = (options && options.details) || null;
    }
  }

  function failureOf(f) {
    return new DurableError(f[2] || "", f[3] || "", { kind: KIND_NAMES[f[1]] || "application", details: f[4] || null });
  }

  function failureMap(e) {
    const m = new Map([[1, KIND_VALUES[e.kind] || 1]]);
    if (e.code) m.set(2, e.code);
    m.set(3, String(e.message));
    if (e.details && e.details.length) m.set(4, e.details);
    return m;
  }

  // payload decodes a JSON payload: null when empty.
  function payload(bytes) {
    return bytes && bytes.length ? JSON.parse(text(bytes)) : null;
  }

  // RawJSON is JSON text embedded as is (compacted) where a value is encoded: a payload passed
  // on without decoding it (durohost.raw(bytes)).
  class RawJSON {
    constructor(bytes) {
      this.text = typeof bytes === "string" ? bytes : bytes && bytes.length ? text(bytes) : "null";
    }
  }

  // goEscape escapes what Go's encoding/json escapes in strings and JavaScript does not (the
  // characters only occur inside strings of JSON text), so that a value encodes to the bytes
  // the Go SDK would record.
  function goEscape(s) {
    return s.replace(/[<>&\u2028\u2029]/g, (c) => "\\u" + c.charCodeAt(0).toString(16).padStart(4, "0"));
  }

  // compact removes the whitespace outside strings of JSON text (as Go does with raw JSON).
  function compact(t) {
    let out = "",
      inString = false;
    for (let k = 0; k < t.length; k++) {
      const c = t[k];
      if (inString) {
        out += c;
        if (c === "\\") out += t[++k];
        else if (c === '"') inString = false;
      } else if (c === '"') {
        inString = true;
        out += c;
      } else if (c !== " " && c !== "\t" && c !== "\n" && c !== "\r") out += c;
    }
    return out;
  }

  // encodeJSON encodes a value as the Go SDK does (JSON.stringify with Go's escapes, RawJSON
  // embedded compacted).
  function encodeJSON(v) {
    if (v === null || v === undefined || typeof v !== "object") {
      // The common case of a scalar, without a replacer.
      const t = JSON.stringify(v === undefined ? null : v);
      return utf8(/[<>&\u2028\u2029]/.test(t) ? goEscape(t) : t);
    }
    const raws = [];
    let s = JSON.stringify(v === undefined ? null : v, (k, x) => {
      if (x instanceof RawJSON) {
        raws.push(compact(x.text));
        return "\u0000durohost.raw." + (raws.length - 1) + "\u0000";
      }
      return x;
    });
    if (s === undefined) s = "null";
    if (raws.length) s = s.replace(/"\\u0000durohost\.raw\.(\d+)\\u0000"/g, (m, i) => raws[+i]);
    return utf8(goEscape(s));
  }

  function command(kind, fields) {
    const m = new Map([[1, kind]]);
    if (fields.name) m.set(2, fields.name);
    if (fields.input) m.set(3, fields.input);
    if (fields.version) m.set(4, fields.version);
    if (fields.instanceId) m.set(5, fields.instanceId);
    if (fields.delay !== undefined) m.set(6, fields.delay);
    return m;
  }

  // A Task is the pending result of something the orchestration started. Yield it to wait for
  // it: the yield gives its value, or throws its DurableError.
  class Task {
    constructor(ctx, machine, convert) {
      this._ctx = ctx;
      this._m = machine;
      this._convert = convert;
      this.isCompleted = false;
      this.isCancelled = false;
      this.raw = null; // the result's bytes
      this.error = null;
    }
    get value() {
      return this._convert(this.raw);
    }
    _settle(raw, error) {
      this.isCompleted = true;
      this.raw = raw;
      this.error = error;
      this._m = null;
    }
    // cancel drops the task: its work is stopped (an activity withdrawn, a child cancelled, a
    // subscription withdrawn); yielding it afterwards throws a cancelled DurableError.
    cancel() {
      if (this.isCompleted) return;
      this._m.cancel();
      this._settle(null, new DurableError("", "task cancelled by the orchestration", { kind: "cancelled" }));
      this.isCancelled = true;
    }
  }

  class HandleMachine {
    constructor(ctx, h) {
      this.ctx = ctx;
      this.h = h;
    }
    waiting() {
      return [this.h];
    }
    ready(h) {
      return [true].concat(this.ctx._read(h));
    }
    cancel() {
      host.cancel(this.h);
    }
  }

  // RetryMachine runs the attempts of a retried call as the Go SDK's RetryPolicy does: every
  // attempt a command, every wait a durable timer, an attempt timeout a timer raced against
  // the attempt.
  class RetryMachine {
    constructor(ctx, cmd, p, kindName, name) {
      this.ctx = ctx;
      this.cmd = cmd;
      this.kindName = kindName;
      this.name = name;
      this.p = {
        maxAttempts: p.maxAttempts || 0,
        initialMs: p.initialIntervalMs || 1000,
        coefficient: p.backoffCoefficient || 2,
        maxMs: p.maxIntervalMs || 0,
        timeoutMs: p.attemptTimeoutMs || 0,
        nonRetryable: p.nonRetryableCodes || [],
      };
      if (!this.p.maxMs) this.p.maxMs = 100 * this.p.initialMs;
      this.attempt = 0;
      this.call = 0;
      this.timeout = 0;
      this.backoff = 0;
      this.start();
    }
    start() {
      this.attempt++;
      this.call = host.schedule(this.cmd);
      if (this.p.timeoutMs > 0) this.timeout = host.schedule(command(COMMAND.timer, { delay: this.p.timeoutMs * 1e6 }));
    }
    interval(attempt) {
      const initial = this.p.initialMs * 1e6;
      const d = initial * Math.pow(this.p.coefficient, Math.max(attempt - 1, 0));
      return d >= this.p.maxMs * 1e6 ? this.p.maxMs * 1e6 : Math.trunc(d);
    }
    waiting() {
      if (this.backoff) return [this.backoff];
      return this.timeout ? [this.call, this.timeout] : [this.call];
    }
    ready(h) {
      let err;
      if (h === this.backoff) {
        this.backoff = 0;
        const [, e] = this.ctx._read(h);
        if (e) return [true, null, e];
        this.start();
        return [false];
      } else if (h === this.call) {
        this.call = 0;
        const [res, e] = this.ctx._read(h);
        if (this.timeout) {
          host.cancel(this.timeout);
          this.timeout = 0;
        }
        if (!e) return [true, res, null];
        err = e;
      } else {
        this.timeout = 0;
        const [, e] = this.ctx._read(h);
        host.cancel(this.call);
        this.call = 0;
        if (e) return [true, null, e];
        err = new DurableError(
          "attempt_timeout",
          `${this.kindName} ${JSON.stringify(this.name)}: attempt ${this.attempt} timed out after ${goDuration(this.p.timeoutMs * 1e6)}`,
          { kind: "timeout" }
        );
      }
      const retryable = (err.kind === "application" || err.kind === "timeout") && !this.p.nonRetryable.includes(err.code);
      if (!retryable || (this.p.maxAttempts > 0 && this.attempt >= this.p.maxAttempts)) return [true, null, err];
      this.backoff = host.schedule(command(COMMAND.timer, { delay: this.interval(this.attempt) }));
      return [false];
    }
    cancel() {
      for (const h of [this.call, this.timeout, this.backoff]) if (h) host.cancel(h);
      this.call = this.timeout = this.backoff = 0;
    }
  }

  // goDuration formats nanoseconds as Go's time.Duration does (messages match the Go SDK's).
  function goDuration(ns) {
    if (ns === 0) return "0s";
    const frac = (v, prec) => {
      let s = String(v % Math.pow(10, prec)).padStart(prec, "0").replace(/0+$/, "");
      return [Math.floor(v / Math.pow(10, prec)), s ? "." + s : ""];
    };
    if (ns < 1e9) {
      const [unit, prec] = ns < 1e3 ? ["ns", 0] : ns < 1e6 ? ["\u00b5s", 3] : ["ms", 6];
      const [i, f] = prec ? frac(ns, prec) : [ns, ""];
      return i + f + unit;
    }
    let [s, f] = frac(ns, 9);
    let out = (s % 60) + f + "s";
    let m = Math.floor(s / 60);
    if (m > 0) {
      out = (m % 60) + "m" + out;
      const h = Math.floor(m / 60);
      if (h > 0) out = h + "h" + out;
    }
    return out;
  }

  class AllTask {
    constructor(tasks) {
      this.tasks = tasks;
    }
  }
  class AnyTask {
    constructor(tasks) {
      this.tasks = tasks;
    }
  }

  class ContinueAsNew {
    constructor(input, version) {
      this.input = input;
      this.version = version || "";
    }
  }

  const LEVELS = { debug: 0, info: 1, warn: 2, error: 3 };

  // The Context of one execution.
  class Context {
    constructor(info, version) {
      this.instanceId = info[4] || "";
      this.executionId = info[5] || 0;
      this.name = info[2] || "";
      this.version = version;
      this.parentId = info[7] || "";
      this.rawInput = info[6] || new Uint8Array(0);
      this._status = info[8] !== undefined ? info[8] : null;
      this.log = {};
      for (const level of Object.keys(LEVELS)) {
        this.log[level] = (...parts) => host.log(LEVELS[level], parts.map(String).join(" "));
      }
    }
    _read(h) {
      const c = host.result(h);
      if (c === -1) throw new Error(`durohost: handle ${h} is not complete`);
      return c[2] ? [null, failureOf(c[2])] : [c[1] || new Uint8Array(0), null];
    }
    _task(cmd, convert, options) {
      if (options && options.retry) {
        const kindName = cmd.get(1) === COMMAND.activity ? "activity" : "sub_orchestration";
        return new Task(this, new RetryMachine(this, cmd, options.retry, kindName, cmd.get(2)), convert);
      }
      return new Task(this, new HandleMachine(this, host.schedule(cmd)), convert);
    }
    // callActivity schedules an activity with a JSON input (a Uint8Array is passed as is);
    // options.retry is a retry policy {maxAttempts, initialIntervalMs, backoffCoefficient,
    // maxIntervalMs, attemptTimeoutMs, nonRetryableCodes}.
    callActivity(name, input, options) {
      return this._task(command(COMMAND.activity, { name, input: bytesOf(input) }), payload, options);
    }
    // callSubOrchestration starts a child and waits for its output; options.instanceId and
    // options.version choose the child's ID (derived when empty) and version.
    callSubOrchestration(name, input, options) {
      const o = options || {};
      return this._task(
        command(COMMAND.sub_orchestration, { name, input: bytesOf(input), version: o.version, instanceId: o.instanceId }),
        payload,
        o
      );
    }
    // startOrchestration starts an independent instance; the task gives its instance ID.
    startOrchestration(name, input, options) {
      const o = options || {};
      return this._task(
        command(COMMAND.start_orchestration, { name, input: bytesOf(input), version: o.version, instanceId: o.instanceId }),
        (raw) => text(raw)
      );
    }
    // createTimer is a durable timer of ms milliseconds.
    createTimer(ms) {
      return this._task(command(COMMAND.timer, { delay: Math.max(0, Math.round(ms * 1e6)) }), () => null);
    }
    // waitForEvent takes the next external event of that name (FIFO).
    waitForEvent(name) {
      return this._task(command(COMMAND.wait_event, { name }), payload);
    }
    // dequeue takes the next message of the persistent queue name.
    dequeue(name) {
      return this._task(command(COMMAND.dequeue, { name }), payload);
    }
    // all: yield it to wait for every task (in order); it gives their values, or throws the
    // first failure in order once all have completed.
    all(tasks) {
      return new AllTask(tasks);
    }
    // any: yield it to wait for the first task to complete (first in history); the others are
    // cancelled; it gives the winning task.
    any(tasks) {
      return new AnyTask(tasks);
    }
    setCustomStatus(value) {
      const b = value instanceof Uint8Array ? value : encodeJSON(value);
      host.setStatus(b);
      this._status = b;
    }
    clearCustomStatus() {
      host.setStatus(null);
      this._status = null;
    }
    // customStatus returns the custom status's bytes, null when none is set.
    customStatus() {
      return this._status;
    }
    // continueAsNew: return its value to start the next execution with input.
    continueAsNew(input, options) {
      return new ContinueAsNew(input, options && options.version);
    }
    isReplaying() {
      return host.isReplaying();
    }
    // now is the logical time (Date.now() is the same clock).
    now() {
      return new Date(Date.now());
    }
    randomBytes(n) {
      return new Uint8Array(native.random(n));
    }
    newUUID() {
      const b = this.randomBytes(16);
      b[6] = (b[6] & 0x0f) | 0x40;
      b[8] = (b[8] & 0x3f) | 0x80;
      const h = Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
      return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
    }
    // _waitAny waits until one of the tasks completes and returns its index (a completed task
    // wins at once, first in order).
    _waitAny(tasks) {
      for (;;) {
        for (let i = 0; i < tasks.length; i++) if (tasks[i].isCompleted) return i;
        const handles = [],
          owners = [];
        for (const t of tasks) {
          if (owners.includes(t)) continue;
          for (const h of t._m.waiting()) {
            handles.push(h);
            owners.push(t);
          }
        }
        const i = host.await(handles);
        const t = owners[i];
        const r = t._m.ready(handles[i]);
        if (r[0]) t._settle(r[1], r[2]);
      }
    }
    // _resolve waits for what the orchestration yielded: [value, error].
    _resolve(y) {
      if (y instanceof Task) {
        this._waitAny([y]);
        return y.error ? [undefined, y.error] : [y.value, null];
      }
      if (y instanceof AllTask || Array.isArray(y)) {
        const tasks = Array.isArray(y) ? y : y.tasks;
        let first = null;
        const values = tasks.map((t) => {
          this._waitAny([t]);
          if (t.error && !first) first = t.error;
          return t.error ? null : t.value;
        });
        return first ? [undefined, first] : [values, null];
      }
      if (y instanceof AnyTask) {
        if (!y.tasks.length) return [undefined, new TypeError("durohost: any() of no tasks")];
        const i = this._waitAny(y.tasks);
        y.tasks.forEach((t, j) => {
          if (j !== i && t !== y.tasks[i]) t.cancel();
        });
        return [y.tasks[i], null];
      }
      return [undefined, new TypeError("durohost: an orchestration yields a Task, ctx.all([...]) or ctx.any([...])")];
    }
  }

  function bytesOf(input) {
    return input instanceof Uint8Array ? input : encodeJSON(input);
  }

  // The registry.
  const registry = [];

  function register(name, fn, options) {
    const version = (options && options.version) || "";
    if (typeof name !== "string" || !name) throw new TypeError("durohost.register: a name is required");
    if (typeof fn !== "function") throw new TypeError("durohost.register: " + name + " needs a function");
    if (registry.some((r) => r.name === name && r.version === version))
      throw new Error(`durohost.register: ${name}${version ? "@" + version : ""} is registered twice`);
    registry.push({ name, version, fn });
  }

  function compareVersions(a, b) {
    const x = a.split("."),
      y = b.split(".");
    for (let k = 0; k < Math.min(x.length, y.length); k++) {
      const nx = /^\d+$/.test(x[k]),
        ny = /^\d+$/.test(y[k]);
      if (nx && ny && +x[k] !== +y[k]) return +x[k] - +y[k];
      if (x[k] !== y[k]) return x[k] < y[k] ? -1 : 1;
    }
    return x.length - y.length;
  }

  function lookup(name, version) {
    const named = registry.filter((r) => r.name === name);
    if (version) return named.find((r) => r.version === version);
    return named.find((r) => !r.version) || named.sort((a, b) => compareVersions(b.version, a.version))[0];
  }

  function describe(name, version) {
    return version ? name + "@" + version : name;
  }

  // execute runs an orchestration to its outcome.
  function execute(ctx, fn, input) {
    try {
      let out = fn(ctx, input);
      if (out && typeof out.next === "function" && typeof out.throw === "function") {
        const gen = out;
        let step = gen.next();
        while (!step.done) {
          const [value, error] = ctx._resolve(step.value);
          step = error ? gen.throw(error) : gen.next(value);
        }
        out = step.value;
      }
      if (out instanceof ContinueAsNew) return continued(out);
      return new Map([
        [1, 1],
        [2, encodeJSON(out)],
      ]);
    } catch (e) {
      if (e instanceof ContinueAsNew) return continued(e);
      if (e instanceof DurableError) return failed(failureMap(e));
      const msg = e && e.message !== undefined ? e.message : String(e);
      const f = new Map([
        [1, 1],
        [2, "panic"],
        [3, `orchestration ${describe(ctx.name, ctx.version)} threw: ${msg}`],
      ]);
      if (e && e.stack) f.set(4, encodeJSON(String(e.stack)));
      return failed(f);
    }
  }

  function continued(c) {
    const m = new Map([
      [1, 3],
      [4, bytesOf(c.input)],
    ]);
    if (c.version) m.set(5, c.version);
    return m;
  }

  function failed(f) {
    return new Map([
      [1, 2],
      [3, f],
    ]);
  }

  function infrastructure(code, message) {
    return failed(
      new Map([
        [1, 2],
        [2, code],
        [3, message],
      ])
    );
  }

  // __run is durohost_run: read StartInfo, run the orchestration it names (or describe the
  // module), and complete. initError is what failed while the runtime initialised.
  function run(initError) {
    const info = host.startInfo();
    if (initError) {
      host.complete(infrastructure("DH-GUEST-001", "the JavaScript orchestrations failed to load: " + initError));
      return;
    }
    if (info[1] === 1) {
      const regs = registry.map((r) => {
        const m = new Map([[1, r.name]]);
        if (r.version) m.set(2, r.version);
        return m;
      });
      host.complete(
        new Map([
          [1, 4],
          [6, regs],
        ])
      );
      return;
    }
    const name = info[2] || "",
      version = info[3] || "";
    const r = lookup(name, version);
    if (!r) {
      const names = registry.map((x) => describe(x.name, x.version)).join(", ") || "none";
      host.complete(
        infrastructure("DH-GUEST-001", `the module does not register orchestration ${describe(name, version)}; it registers: ${names}`)
      );
      return;
    }
    const ctx = new Context(info, r.version);
    let input;
    try {
      input = payload(ctx.rawInput);
    } catch (e) {
      host.complete(
        failed(
          new Map([
            [1, 1],
            [2, "bad_payload"],
            [3, "decode input: " + e.message],
          ])
        )
      );
      return;
    }
    host.complete(execute(ctx, r.fn, input));
  }

  const console = {
    log: (...a) => native.print(1, a.map(String).join(" ")),
    info: (...a) => native.print(1, a.map(String).join(" ")),
    debug: (...a) => native.print(1, a.map(String).join(" ")),
    warn: (...a) => native.print(2, a.map(String).join(" ")),
    error: (...a) => native.print(2, a.map(String).join(" ")),
  };
  global.console = console;

  global.durohost = {
    register,
    DurableError,
    raw: (bytes) => new RawJSON(bytes),
    RawJSON,
    Task,
    utf8,
    text,
    __run: run,
    __cbor: { Writer, decode },
  };
})(globalThis);
