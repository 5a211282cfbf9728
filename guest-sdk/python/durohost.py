"""durohost: the Python SDK of durohost.

Orchestrations are generator functions that yield tasks (activities, timers, events, queue
messages, sub-orchestrations) and receive their results; the SDK speaks the stream form of the
ABI (abi/ABI.md, "Stream form") through the Python runtime's native module _durohost
(runtime/runtime.c)::

    import durohost

    @durohost.orchestration("greet")
    def greet(ctx, name):
        hello = yield ctx.call_activity("echo", "Hello, " + name)
        yield ctx.create_timer(1000)
        return hello

Inputs, outputs and payloads are JSON. See README.md.
"""

import json
import time as _time

try:
    import _durohost as _native
except ImportError:  # imported outside the runtime (documentation, tests of pure parts)
    _native = None

__all__ = ["orchestration", "register", "DurableError", "Task", "raw"]

# CBOR (RFC 8949), what the ABI's messages need.


def _head(out, major, v):
    m = major << 5
    if v < 24:
        out.append(m | v)
    elif v < 0x100:
        out += bytes((m | 24, v))
    elif v < 0x10000:
        out.append(m | 25)
        out += v.to_bytes(2, "big")
    elif v < 0x100000000:
        out.append(m | 26)
        out += v.to_bytes(4, "big")
    else:
        out.append(m | 27)
        out += v.to_bytes(8, "big")


def _encode(out, x):
    if x is None:
        out.append(0xF6)
    elif x is True:
        out.append(0xF5)
    elif x is False:
        out.append(0xF4)
    elif isinstance(x, int):
        if x >= 0:
            _head(out, 0, x)
        else:
            _head(out, 1, -1 - x)
    elif isinstance(x, str):
        b = x.encode("utf-8", "surrogatepass")
        _head(out, 3, len(b))
        out += b
    elif isinstance(x, (bytes, bytearray)):
        _head(out, 2, len(x))
        out += x
    elif isinstance(x, (list, tuple)):
        _head(out, 4, len(x))
        for v in x:
            _encode(out, v)
    elif isinstance(x, dict):
        _head(out, 5, len(x))
        for k, v in x.items():
            _encode(out, k)
            _encode(out, v)
    else:
        raise TypeError("CBOR: cannot encode %r" % type(x))


def _decode(b):
    pos = 0

    def item():
        nonlocal pos
        h = b[pos]
        pos += 1
        major, info = h >> 5, h & 31
        v = info
        if 24 <= info <= 27:
            n = 1 << (info - 24)
            v = int.from_bytes(b[pos : pos + n], "big")
            pos += n
        elif info > 27:
            raise ValueError("durohost: malformed answer from the host")
        if major == 0:
            return v
        if major == 1:
            return -1 - v
        if major in (2, 3):
            s = bytes(b[pos : pos + v])
            pos += v
            return s if major == 2 else s.decode("utf-8")
        if major == 4:
            return [item() for _ in range(v)]
        if major == 5:
            d = {}
            for _ in range(v):
                k = item()
                d[k] = item()
            return d
        if major == 6:
            return item()
        return {20: False, 21: True}.get(info)

    return item()


def _call(num, *args):
    out = bytearray()
    _head(out, 4, 1 + len(args))
    _encode(out, num)
    for a in args:
        _encode(out, a)
    return _decode(_native.call(bytes(out)))


class _Host:
    """The stream calls, one per host function (ABI.md, "Stream calls")."""

    start_info = staticmethod(lambda: _call(1))
    schedule = staticmethod(lambda cmd: _call(2, cmd))
    await_ = staticmethod(lambda handles: _call(3, handles))
    result = staticmethod(lambda h: _call(4, h))
    cancel = staticmethod(lambda h: _call(5, h))
    set_status = staticmethod(lambda b: _call(6, b))
    complete = staticmethod(lambda outcome: _call(7, outcome))
    log = staticmethod(lambda level, msg: _call(8, level, msg))
    is_replaying = staticmethod(lambda: _call(9) == 1)


_host = _Host()

_KIND_NAMES = {1: "application", 2: "infrastructure", 3: "cancelled", 4: "timeout"}
_KIND_VALUES = {v: k for k, v in _KIND_NAMES.items()}
_ACTIVITY, _TIMER, _WAIT_EVENT, _DEQUEUE, _SUB, _START = 1, 2, 3, 4, 5, 6


class DurableError(Exception):
    """A failure: of an activity, a child, a timeout, a cancellation, or the one an
    orchestration raises to fail with a code of its own."""

    def __init__(self, code, message, kind="application", details=None):
        super().__init__(message)
        self.code = code or ""
        self.message = message
        self.kind = kind
        self.details = details

    def __repr__(self):
        return "DurableError(%r, %r, kind=%r)" % (self.code, self.message, self.kind)


def _failure_of(f):
    return DurableError(f.get(2, ""), f.get(3, ""), _KIND_NAMES.get(f.get(1), "application"), f.get(4))


def _failure_map(e):
    m = {1: _KIND_VALUES.get(e.kind, 1)}
    if e.code:
        m[2] = e.code
    m[3] = str(e.message)
    if e.details:
        m[4] = e.details
    return m


class RawJSON:
    """JSON text embedded as is (compacted) where a value is encoded: a payload passed on
    without decoding it."""

    def __init__(self, data):
        self.text = data.decode("utf-8") if isinstance(data, (bytes, bytearray)) else (data or "null")
        if not self.text:
            self.text = "null"


def raw(data):
    """raw(bytes) embeds a payload as is in a value to encode (empty: null)."""
    return RawJSON(data)


def _compact(t):
    out, in_string, k = [], False, 0
    while k < len(t):
        c = t[k]
        if in_string:
            out.append(c)
            if c == "\\":
                k += 1
                out.append(t[k])
            elif c == '"':
                in_string = False
        elif c == '"':
            in_string = True
            out.append(c)
        elif c not in " \t\n\r":
            out.append(c)
        k += 1
    return "".join(out)


_GO_ESCAPES = {"<": "\\u003c", ">": "\\u003e", "&": "\\u0026", "\u2028": "\\u2028", "\u2029": "\\u2029"}


class _Encoder(json.JSONEncoder):
    def __init__(self):
        super().__init__(separators=(",", ":"), ensure_ascii=False, allow_nan=False)
        self.raws = []

    def default(self, o):
        if isinstance(o, RawJSON):
            self.raws.append(_compact(o.text))
            return "\x00durohost.raw.%d\x00" % (len(self.raws) - 1)
        return super().default(o)


def _encode_json(v):
    """Encodes a value as the Go SDK does: compact, Go's escapes, RawJSON embedded compacted,
    so that the same orchestration records the same bytes in every language."""
    enc = _Encoder()
    s = enc.encode(v)
    for i, r in enumerate(enc.raws):
        s = s.replace('"\\u0000durohost.raw.%d\\u0000"' % i, r)
    for c, e in _GO_ESCAPES.items():
        s = s.replace(c, e)
    return s.encode("utf-8")


def _payload(b):
    return json.loads(b.decode("utf-8")) if b else None


def _bytes_of(x):
    return bytes(x) if isinstance(x, (bytes, bytearray)) else _encode_json(x)


def _command(kind, name=None, input=None, version=None, instance_id=None, delay=None):
    m = {1: kind}
    if name:
        m[2] = name
    if input:
        m[3] = input
    if version:
        m[4] = version
    if instance_id:
        m[5] = instance_id
    if delay is not None:
        m[6] = delay
    return m


class Task:
    """The pending result of something the orchestration started. Yield it to wait for it:
    the yield gives its value, or raises its DurableError."""

    def __init__(self, machine, convert):
        self._m = machine
        self._convert = convert
        self.is_completed = False
        self.is_cancelled = False
        self.raw = None  # the result's bytes
        self.error = None

    @property
    def value(self):
        return self._convert(self.raw)

    def _settle(self, raw, error):
        self.is_completed, self.raw, self.error, self._m = True, raw, error, None

    def cancel(self):
        """Drops the task: its work is stopped; yielding it raises a cancelled DurableError."""
        if self.is_completed:
            return
        self._m.cancel()
        self._settle(None, DurableError("", "task cancelled by the orchestration", "cancelled"))
        self.is_cancelled = True


class _HandleMachine:
    def __init__(self, ctx, h):
        self.ctx, self.h = ctx, h

    def waiting(self):
        return [self.h]

    def ready(self, h):
        res, err = self.ctx._read(h)
        return True, res, err

    def cancel(self):
        _host.cancel(self.h)


def _go_duration(ns):
    """Formats nanoseconds as Go's time.Duration does (messages match the Go SDK's)."""
    if ns == 0:
        return "0s"

    def frac(v, prec):
        digits = str(v % 10**prec).rjust(prec, "0").rstrip("0")
        return v // 10**prec, ("." + digits if digits else "")

    if ns < 10**9:
        unit, prec = ("ns", 0) if ns < 10**3 else ("\u00b5s", 3) if ns < 10**6 else ("ms", 6)
        i, f = frac(ns, prec) if prec else (ns, "")
        return "%d%s%s" % (i, f, unit)
    s, f = frac(ns, 9)
    out = "%d%ss" % (s % 60, f)
    m = s // 60
    if m:
        out = "%dm%s" % (m % 60, out)
        if m // 60:
            out = "%dh%s" % (m // 60, out)
    return out


class _RetryMachine:
    """The attempts of a retried call, as the Go SDK's RetryPolicy runs them."""

    def __init__(self, ctx, cmd, policy, kind_name):
        self.ctx, self.cmd, self.kind_name = ctx, cmd, kind_name
        p = policy or {}
        self.max_attempts = p.get("max_attempts", 0) or 0
        self.initial_ms = p.get("initial_interval_ms") or 1000
        self.coefficient = p.get("backoff_coefficient") or 2
        self.max_ms = p.get("max_interval_ms") or 100 * self.initial_ms
        self.timeout_ms = p.get("attempt_timeout_ms") or 0
        self.non_retryable = list(p.get("non_retryable_codes") or [])
        self.attempt = self.call = self.timeout = self.backoff = 0
        self.start()

    def start(self):
        self.attempt += 1
        self.call = _host.schedule(self.cmd)
        if self.timeout_ms > 0:
            self.timeout = _host.schedule(_command(_TIMER, delay=int(self.timeout_ms * 10**6)))

    def interval(self, attempt):
        initial = self.initial_ms * 10**6
        d = float(initial) * self.coefficient ** max(attempt - 1, 0)
        return int(self.max_ms * 10**6) if d >= self.max_ms * 10**6 else int(d)

    def waiting(self):
        if self.backoff:
            return [self.backoff]
        return [self.call, self.timeout] if self.timeout else [self.call]

    def ready(self, h):
        if h == self.backoff:
            self.backoff = 0
            _, e = self.ctx._read(h)
            if e:
                return True, None, e
            self.start()
            return False, None, None
        if h == self.call:
            self.call = 0
            res, err = self.ctx._read(h)
            if self.timeout:
                _host.cancel(self.timeout)
                self.timeout = 0
            if not err:
                return True, res, None
        else:
            self.timeout = 0
            _, e = self.ctx._read(h)
            _host.cancel(self.call)
            self.call = 0
            if e:
                return True, None, e
            err = DurableError(
                "attempt_timeout",
                "%s %s: attempt %d timed out after %s"
                % (self.kind_name, json.dumps(self.cmd.get(2, "")), self.attempt, _go_duration(int(self.timeout_ms * 10**6))),
                "timeout",
            )
        retryable = err.kind in ("application", "timeout") and err.code not in self.non_retryable
        if not retryable or (self.max_attempts > 0 and self.attempt >= self.max_attempts):
            return True, None, err
        self.backoff = _host.schedule(_command(_TIMER, delay=self.interval(self.attempt)))
        return False, None, None

    def cancel(self):
        for h in (self.call, self.timeout, self.backoff):
            if h:
                _host.cancel(h)
        self.call = self.timeout = self.backoff = 0


class _All:
    def __init__(self, tasks):
        self.tasks = list(tasks)


class _Any:
    def __init__(self, tasks):
        self.tasks = list(tasks)


class _ContinueAsNew:
    def __init__(self, input, version):
        self.input, self.version = input, version or ""


_LEVELS = {"debug": 0, "info": 1, "warn": 2, "error": 3}


class _Logger:
    def __init__(self):
        for name, level in _LEVELS.items():
            setattr(self, name, lambda *parts, _l=level: _host.log(_l, " ".join(str(p) for p in parts)))


class Context:
    """The context of one execution."""

    def __init__(self, info, version):
        self.instance_id = info.get(4, "")
        self.execution_id = info.get(5, 0)
        self.name = info.get(2, "")
        self.version = version
        self.parent_id = info.get(7, "")
        self.raw_input = info.get(6, b"")
        self._status = info.get(8)
        self.log = _Logger()

    def _read(self, h):
        c = _host.result(h)
        if c == -1:
            raise RuntimeError("durohost: handle %d is not complete" % h)
        return (None, _failure_of(c[2])) if 2 in c else (c.get(1, b""), None)

    def _task(self, cmd, convert, retry=None):
        if retry:
            kind_name = "activity" if cmd[1] == _ACTIVITY else "sub_orchestration"
            return Task(_RetryMachine(self, cmd, retry, kind_name), convert)
        return Task(_HandleMachine(self, _host.schedule(cmd)), convert)

    def call_activity(self, name, input=None, retry=None):
        """Schedules an activity with a JSON input (bytes are passed as is); retry is a policy
        {max_attempts, initial_interval_ms, backoff_coefficient, max_interval_ms,
        attempt_timeout_ms, non_retryable_codes}."""
        return self._task(_command(_ACTIVITY, name, _bytes_of(input)), _payload, retry)

    def call_sub_orchestration(self, name, input=None, instance_id=None, version=None, retry=None):
        """Starts a child and waits for its output (instance_id: derived when empty)."""
        return self._task(_command(_SUB, name, _bytes_of(input), version, instance_id), _payload, retry)

    def start_orchestration(self, name, input=None, instance_id=None, version=None):
        """Starts an independent instance; the task gives its instance ID."""
        return self._task(_command(_START, name, _bytes_of(input), version, instance_id), lambda r: r.decode("utf-8"))

    def create_timer(self, ms):
        """A durable timer of ms milliseconds."""
        return self._task(_command(_TIMER, delay=max(0, int(round(ms * 10**6)))), lambda r: None)

    def wait_for_event(self, name):
        """The next external event of that name (FIFO)."""
        return self._task(_command(_WAIT_EVENT, name), _payload)

    def dequeue(self, name):
        """The next message of the persistent queue name."""
        return self._task(_command(_DEQUEUE, name), _payload)

    def all(self, tasks):
        """Yield it to wait for every task (in order): it gives their values, or raises the
        first failure in order once all have completed."""
        return _All(tasks)

    def any(self, tasks):
        """Yield it to wait for the first task to complete (first in history); the others are
        cancelled; it gives the winning task."""
        return _Any(tasks)

    def set_custom_status(self, value):
        b = bytes(value) if isinstance(value, (bytes, bytearray)) else _encode_json(value)
        _host.set_status(b)
        self._status = b

    def clear_custom_status(self):
        _host.set_status(None)
        self._status = None

    def custom_status(self):
        """The custom status's bytes, None when none is set."""
        return self._status

    def continue_as_new(self, input, version=None):
        """Return its value to start the next execution with input."""
        return _ContinueAsNew(input, version)

    def is_replaying(self):
        return _host.is_replaying()

    def now(self):
        """The logical time, in seconds since the epoch (time.time() is the same clock)."""
        return _time.time()

    def random_bytes(self, n):
        return _native.random(n)

    def new_uuid(self):
        b = bytearray(self.random_bytes(16))
        b[6] = (b[6] & 0x0F) | 0x40
        b[8] = (b[8] & 0x3F) | 0x80
        h = b.hex()
        return "%s-%s-%s-%s-%s" % (h[:8], h[8:12], h[12:16], h[16:20], h[20:])

    def _wait_any(self, tasks):
        while True:
            for i, t in enumerate(tasks):
                if t.is_completed:
                    return i
            handles, owners = [], []
            for t in tasks:
                if any(o is t for o in owners):
                    continue
                for h in t._m.waiting():
                    handles.append(h)
                    owners.append(t)
            i = _host.await_(handles)
            t = owners[i]
            done, res, err = t._m.ready(handles[i])
            if done:
                t._settle(res, err)

    def _resolve(self, y):
        if isinstance(y, Task):
            self._wait_any([y])
            return (None, y.error) if y.error else (y.value, None)
        if isinstance(y, (_All, list, tuple)):
            tasks = y.tasks if isinstance(y, _All) else list(y)
            first, values = None, []
            for t in tasks:
                self._wait_any([t])
                if t.error and first is None:
                    first = t.error
                values.append(None if t.error else t.value)
            return (None, first) if first else (values, None)
        if isinstance(y, _Any):
            if not y.tasks:
                return None, TypeError("durohost: any() of no tasks")
            i = self._wait_any(y.tasks)
            for j, t in enumerate(y.tasks):
                if j != i and t is not y.tasks[i]:
                    t.cancel()
            return y.tasks[i], None
        return None, TypeError("durohost: an orchestration yields a Task, ctx.all([...]) or ctx.any([...])")


_registry = []


def register(name, fn, version=""):
    """Registers fn as the orchestration name (at version)."""
    if not isinstance(name, str) or not name:
        raise TypeError("durohost.register: a name is required")
    if any(r[0] == name and r[1] == version for r in _registry):
        raise ValueError("durohost.register: %s is registered twice" % _describe(name, version))
    _registry.append((name, version or "", fn))


def orchestration(name, version=""):
    """Decorator form of register."""

    def deco(fn):
        register(name, fn, version)
        return fn

    return deco


def _describe(name, version):
    return name + "@" + version if version else name


def _version_key(v):
    return [(0, int(p), "") if p.isdigit() else (1, 0, p) for p in v.split(".")]


def _lookup(name, version):
    named = [r for r in _registry if r[0] == name]
    if version:
        return next((r for r in named if r[1] == version), None)
    plain = next((r for r in named if not r[1]), None)
    if plain or not named:
        return plain
    return max(named, key=lambda r: _version_key(r[1]))


def _continued(c):
    m = {1: 3, 4: _bytes_of(c.input)}
    if c.version:
        m[5] = c.version
    return m


def _failed(f):
    return {1: 2, 3: f}


def _execute(ctx, fn, input):
    try:
        out = fn(ctx, input)
        if hasattr(out, "send") and hasattr(out, "throw"):
            gen, value, error = out, None, None
            while True:
                try:
                    y = gen.throw(error) if error is not None else gen.send(value)
                except StopIteration as stop:
                    out = stop.value
                    break
                value, error = ctx._resolve(y)
        if isinstance(out, _ContinueAsNew):
            return _continued(out)
        return {1: 1, 2: _encode_json(out)}
    except DurableError as e:
        return _failed(_failure_map(e))
    except Exception as e:  # an orchestration that raises anything else: code panic
        import traceback

        details = _encode_json("".join(traceback.format_exception(type(e), e, e.__traceback__)))
        msg = "orchestration %s raised: %s: %s" % (_describe(ctx.name, ctx.version), type(e).__name__, e)
        return _failed({1: 1, 2: "panic", 3: msg, 4: details})


_load_error = None


def _load(path):
    """Runs the user's script (during initialisation); an error is reported by _run."""
    global _load_error
    try:
        with open(path, "rb") as f:
            source = f.read()
        code = compile(source, "main.py", "exec")
        exec(code, {"__name__": "__main__", "__file__": "main.py"})
    except BaseException as e:  # reported to the host at the first run
        import traceback

        _load_error = "".join(traceback.format_exception(type(e), e, e.__traceback__))


def _infrastructure(code, message):
    return _failed({1: 2, 2: code, 3: message})


def _run():
    """durohost_run: read StartInfo, run the orchestration it names (or describe the module),
    and complete."""
    info = _host.start_info()
    if _load_error:
        _host.complete(_infrastructure("DH-GUEST-001", "the Python orchestrations failed to load: " + _load_error))
        return
    if info.get(1) == 1:
        regs = [{1: n, 2: v} if v else {1: n} for n, v, _ in _registry]
        _host.complete({1: 4, 6: regs})
        return
    name, version = info.get(2, ""), info.get(3, "")
    r = _lookup(name, version)
    if r is None:
        names = ", ".join(_describe(n, v) for n, v, _ in _registry) or "none"
        _host.complete(
            _infrastructure(
                "DH-GUEST-001",
                "the module does not register orchestration %s; it registers: %s" % (_describe(name, version), names),
            )
        )
        return
    ctx = Context(info, r[1])
    try:
        input = _payload(ctx.raw_input)
    except ValueError as e:
        _host.complete(_failed({1: 1, 2: "bad_payload", 3: "decode input: %s" % e}))
        return
    _host.complete(_execute(ctx, r[2], input))
