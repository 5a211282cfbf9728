# The Python test guest of the conformance suite: the scenario orchestrations of
# conformance/scenarios/README.md, written with the Python SDK (guest-sdk/python). Outputs are
# byte for byte those of the Go guest, whose golden histories record them: keys of what Go
# encodes from a map come sorted, those of a struct (error objects, continue-as-new inputs) in
# the struct's order; payloads are embedded as they came (durohost.raw). `variant` ("a" or "b")
# is defined before this script by the test that bundles it.
import json
import random  # imported (and seeded) while the runtime initialises, not by an instance
import time

import durohost
from durohost import DurableError, raw

orchestration = durohost.orchestration


def error_object(e):
    o = {"kind": e.kind}
    if e.code:
        o["code"] = e.code
    o["message"] = e.message
    return o


def payload(t):
    return raw(t.raw)


def inp(x):
    return x


@orchestration("sc_call")
def sc_call(ctx, i):
    r = i.get("retry")
    retry = None
    if r:
        retry = {
            "max_attempts": r.get("max_attempts", 0),
            "initial_interval_ms": r.get("initial_ms", 0),
            "backoff_coefficient": r.get("coefficient", 0),
            "max_interval_ms": r.get("max_ms", 0),
            "attempt_timeout_ms": r.get("timeout_ms", 0),
            "non_retryable_codes": r.get("non_retryable") or [],
        }
    t = ctx.call_activity(i.get("activity", ""), i.get("input"), retry=retry)
    try:
        yield t
    except DurableError as e:
        if i.get("catch"):
            return {"error": error_object(e)}
        raise
    if i.get("len"):
        return {"len": len(t.raw)}
    return payload(t)


@orchestration("sc_sequence")
def sc_sequence(ctx, i):
    count, batch = i.get("count", 0), max(i.get("batch") or 0, 1)
    last = None
    for k in range(0, count, batch):
        tasks = [ctx.call_activity(i["activity"], j) for j in range(k, min(k + batch, count))]
        yield ctx.all(tasks)
        last = tasks[-1]
    return {"count": count, "last": payload(last) if last else None}


@orchestration("sc_fanout")
def sc_fanout(ctx, i):
    tasks = [ctx.call_activity(i["activity"], x) for x in i.get("inputs") or []]
    first = None
    try:
        yield ctx.all(tasks)
    except DurableError as e:
        first = e
    results = [None if t.error else payload(t) for t in tasks]
    if first and i.get("catch"):
        return {"error": error_object(first), "results": results}
    if first:
        raise first
    return results


@orchestration("sc_saga")
def sc_saga(ctx, i):
    done = []
    for s in i.get("steps") or []:
        try:
            yield ctx.call_activity(s, None)
        except DurableError as e:
            compensated, failed = [], []
            for d in reversed(done):
                undo = "undo_" + d
                try:
                    yield ctx.call_activity(undo, None)
                    compensated.append(undo)
                except DurableError:
                    failed.append(undo)
            raise DurableError(
                "saga_failed",
                "step %s failed (%s); compensated [%s]; compensations failed [%s]"
                % (s, e.message, " ".join(compensated), " ".join(failed)),
            )
        done.append(s)
    return done


@orchestration("sc_timers")
def sc_timers(ctx, i):
    ms = i.get("ms") or []
    start = time.time_ns()
    if i.get("parallel"):
        want = max(ms, default=0)
        if ms:
            yield ctx.all([ctx.create_timer(d) for d in ms])
    else:
        want = 0
        for d in ms:
            yield ctx.create_timer(d)
            want += d
    return {"elapsed_ok": time.time_ns() - start >= want * 10**6, "fired": len(ms)}


@orchestration("sc_status")
def sc_status(ctx, steps):
    for k, s in enumerate(steps):
        if k > 0:
            yield ctx.create_timer(1)
        if s == "clear":
            ctx.clear_custom_status()
        elif s == "empty":
            ctx.set_custom_status(b"")
        else:
            ctx.set_custom_status(s)
    st = ctx.custom_status()
    return {"set": False} if st is None else {"set": True, "status": st.decode("utf-8")}


@orchestration("sc_fail")
def sc_fail(ctx, i):
    raise DurableError(i.get("code", ""), i.get("message", ""))


@orchestration("sc_info")
def sc_info(ctx, i):
    return {
        "execution_id": ctx.execution_id,
        "input": raw(ctx.raw_input),
        "instance_id": ctx.instance_id,
        "parent_id": ctx.parent_id,
    }


def start_future(ctx, s):
    kind = s.get("kind")
    if kind == "activity":
        return ctx.call_activity(s.get("name", ""), s.get("input"))
    if kind == "timer":
        return ctx.create_timer(s.get("ms", 0))
    if kind == "event":
        return ctx.wait_for_event(s["name"])
    if kind == "queue":
        return ctx.dequeue(s["name"])
    if kind == "child":
        return ctx.call_sub_orchestration(s["name"], s.get("input"), instance_id=s.get("id"))
    raise ValueError("unknown future kind %s" % json.dumps(kind))


def outcome(t):
    return {"error": error_object(t.error)} if t.error else {"result": payload(t)}


@orchestration("sc_select")
def sc_select(ctx, i):
    tasks = [start_future(ctx, s) for s in i["futures"]]
    winner = yield ctx.any(tasks)
    index = next(k for k, t in enumerate(tasks) if t is winner)
    if winner.error:
        return {"error": error_object(winner.error), "index": index}
    return {"index": index, "result": payload(winner)}


@orchestration("sc_join")
def sc_join(ctx, i):
    tasks = [start_future(ctx, s) for s in i["futures"]]
    try:
        yield ctx.all(tasks)
    except DurableError:
        pass  # every outcome is reported below
    return [outcome(t) for t in tasks]


@orchestration("sc_receive")
def sc_receive(ctx, i):
    if i.get("gate"):
        yield ctx.wait_for_event(i["gate"])
    out = []
    for s in i.get("steps") or []:
        f = ctx.wait_for_event(s["event"]) if s.get("event") else ctx.dequeue(s.get("queue", ""))
        if (s.get("timeout_ms") or 0) > 0:
            t = ctx.create_timer(s["timeout_ms"])
            if (yield ctx.any([f, t])) is t:
                out.append("timeout")
                continue
        yield f
        out.append(payload(f))
    return out


@orchestration("sc_rebind")
def sc_rebind(ctx, i):
    def sub():
        return ctx.dequeue(i["name"]) if i.get("kind") == "queue" else ctx.wait_for_event(i["name"])

    first = sub()
    yield ctx.wait_for_event(i["gate"])
    first.cancel()
    second = sub()
    yield second
    return payload(second)


@orchestration("sc_child")
def sc_child(ctx, i):
    t = ctx.call_sub_orchestration(i["name"], i.get("input"), instance_id=i.get("id"))
    try:
        yield t
    except DurableError as e:
        if i.get("catch"):
            return {"error": error_object(e)}
        raise
    return payload(t)


@orchestration("sc_hold")
def sc_hold(ctx, i):
    activity = i.get("activity") or ""
    if activity:
        ctx.call_activity(activity, None)
    if (i.get("depth") or 0) > 0:
        ctx.call_sub_orchestration(
            "sc_hold", {"depth": i["depth"] - 1, "activity": activity}, instance_id=ctx.instance_id + "-c"
        )
    yield ctx.wait_for_event("release")
    return "released"


@orchestration("sc_detached")
def sc_detached(ctx, i):
    return (yield ctx.start_orchestration(i["name"], i.get("input"), instance_id=i.get("id")))


@orchestration("sc_counter")
def sc_counter(ctx, i):
    n, to = i.get("n", 0), i.get("to", 0)
    ctx.set_custom_status({"n": n})
    got = list(i.get("got") or [])
    if i.get("event"):
        t = ctx.wait_for_event(i["event"])
        yield t
        got.append(payload(t))
    if n < to:
        nxt = {"n": n + 1, "to": to}
        if i.get("event"):
            nxt["event"] = i["event"]
        if got:
            nxt["got"] = got
        return ctx.continue_as_new(nxt)
    return {"execution": ctx.execution_id, "got": got, "n": n}


@orchestration("sc_carry")
def sc_carry(ctx, i):
    got = list(i.get("got") or [])

    def take():
        t = ctx.dequeue("q")
        try:
            yield t
        finally:
            got.append(None if t.error else payload(t))

    if (i.get("phase") or 0) <= 1:
        ctx.set_custom_status(b'"carried"')
        yield ctx.wait_for_event("go")
        yield from take()
        return ctx.continue_as_new({"phase": 2, "got": got})
    st = ctx.custom_status()
    for _ in range(2):
        yield from take()
    return {"execution": ctx.execution_id, "got": got, "status": st.decode("utf-8") if st else ""}


@orchestration("sc_random")
def sc_random(ctx, i):
    ms = i.get("ms", 0)

    def sample():
        # The Go guest's order: 8 random bytes, then a UUID, then the ordinary generator.
        crypto = ctx.random_bytes(8).hex()
        uuid = ctx.new_uuid()
        return {"crypto": crypto, "rand_ok": random.random() >= 0, "uuid": uuid}

    t0 = time.time_ns()
    before = sample()
    yield ctx.create_timer(ms)
    after = sample()
    return {"after": after, "before": before, "time_ok": time.time_ns() - t0 >= ms * 10**6}


# Variant-dependent orchestrations.


@orchestration("sc_versioned", version="1")
def sc_versioned_v1(ctx, i):
    data = yield ctx.wait_for_event("go")
    if data == "upgrade" and variant == "a":
        return ctx.continue_as_new("from-v1", version="2")
    return "v1-%s:%s" % (variant, data)


if variant == "b":

    @orchestration("sc_versioned", version="2")
    def sc_versioned_v2(ctx, i):
        return "v2-%s:%s" % (variant, i)


@orchestration("sc_nd")
def sc_nd(ctx, change):
    if variant != "b":
        tasks = [ctx.call_activity("nd_step", 1), ctx.call_activity("nd_step", 2)]
    elif change == "name":
        tasks = [ctx.call_activity("nd_other", 1), ctx.call_activity("nd_step", 2)]
    elif change == "input":
        tasks = [ctx.call_activity("nd_step", 99), ctx.call_activity("nd_step", 2)]
    elif change == "kind":
        yield ctx.create_timer(1)
        tasks = [ctx.call_activity("nd_step", 2)]
    elif change == "extra":
        tasks = [ctx.call_activity("nd_step", k) for k in (1, 2, 3)]
    elif change == "missing":
        tasks = [ctx.call_activity("nd_step", 1)]
    else:
        tasks = []
    values = yield ctx.all(tasks)
    return sum(values)
