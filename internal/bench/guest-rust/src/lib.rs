//! The Rust guest module of `durohost bench --guest rust`: the orchestrations of the Go
//! benchmark guest (internal/bench/guest), with the same names, inputs and commands, each as
//! light as the SDK allows so that a workload measures the host. Inputs are JSON numbers; the
//! activity "noop" (registered by the benchmark) returns its input.

use durohost::{join_all, Failure, OrchestrationContext, Registry};
use std::time::Duration;

/// The input of every activity call: a small JSON value.
const NOOP: &str = "\"x\"";

/// The input as a count: a JSON number (no input: 1).
fn count(input: &str) -> Result<u64, Failure> {
    let s = input.trim();
    if s.is_empty() || s == "null" {
        return Ok(1);
    }
    s.parse().map_err(|_| Failure::application("bad_input", &format!("input must be a non-negative integer, got {:?}", s)))
}

/// Calls "noop" n times, one call after the other, and returns n.
async fn sequence(ctx: OrchestrationContext, input: String) -> Result<String, Failure> {
    let n = count(&input)?;
    for _ in 0..n {
        ctx.schedule_activity("noop", NOOP).await?;
    }
    Ok(n.to_string())
}

/// Calls "noop" n times in parallel, waits for them all and returns n.
async fn fanout(ctx: OrchestrationContext, input: String) -> Result<String, Failure> {
    let n = count(&input)?;
    let calls = (0..n).map(|_| ctx.schedule_activity("noop", NOOP)).collect();
    for r in join_all(calls).await {
        r?;
    }
    Ok(n.to_string())
}

/// Calls "noop" once and returns its result.
async fn one(ctx: OrchestrationContext, _input: String) -> Result<String, Failure> {
    ctx.schedule_activity("noop", NOOP).await
}

/// Waits for a durable timer of input milliseconds.
async fn timer(ctx: OrchestrationContext, input: String) -> Result<String, Failure> {
    let ms = count(&input)?;
    ctx.sleep(Duration::from_millis(ms)).await?;
    Ok("null".into())
}

/// Waits for n durable timers of 0 ms, one after the other: each is one turn of the host.
async fn ticks(ctx: OrchestrationContext, input: String) -> Result<String, Failure> {
    let n = count(&input)?;
    for _ in 0..n {
        ctx.sleep(Duration::ZERO).await?;
    }
    Ok(n.to_string())
}

fn register(r: &mut Registry) {
    r.add("bench_sequence", sequence)
        .add("bench_fanout", fanout)
        .add("bench_one", one)
        .add("bench_timer", timer)
        .add("bench_ticks", ticks);
}

durohost::export!(register);
