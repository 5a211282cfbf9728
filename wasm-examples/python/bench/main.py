# The Python benchmark guest (`durohost bench --guest python`): the orchestrations of the Go
# benchmark guest (internal/bench/guest), with the same names, inputs and histories.
import json

import durohost


def count(input):
    """The input: a non-negative integer (no input: 1)."""
    if input is None:
        return 1
    if not isinstance(input, int) or isinstance(input, bool) or input < 0:
        raise durohost.DurableError("bad_input", "input must be a non-negative integer, got %s" % json.dumps(input))
    return input


@durohost.orchestration("bench_sequence")
def sequence(ctx, input):
    """Calls "noop" n times, one call after the other, and returns n."""
    n = count(input)
    for _ in range(n):
        yield ctx.call_activity("noop", "x")
    return n


@durohost.orchestration("bench_fanout")
def fanout(ctx, input):
    """Calls "noop" n times in parallel, waits for them all and returns n."""
    n = count(input)
    yield ctx.all([ctx.call_activity("noop", "x") for _ in range(n)])
    return n


@durohost.orchestration("bench_one")
def one(ctx, input):
    """Calls "noop" once and returns its result."""
    return (yield ctx.call_activity("noop", "x"))


@durohost.orchestration("bench_timer")
def timer(ctx, input):
    """Waits for a durable timer of input milliseconds."""
    yield ctx.create_timer(count(input))
    return None


@durohost.orchestration("bench_ticks")
def ticks(ctx, input):
    """Waits for n durable timers of 0 ms, one after the other."""
    n = count(input)
    for _ in range(n):
        yield ctx.create_timer(0)
    return n
