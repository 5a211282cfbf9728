//! fanout: fan-out/fan-in. It starts one activity per item at once, waits for all of them
//! with `join_all`, and aggregates the results.

use durohost::json::{self, Value};
use durohost::{join_all, Failure, OrchestrationContext, Registry};

const DEFAULT_ITEMS: i64 = 10;
const MAX_ITEMS: i64 = 1000;

/// Input `{"items": N}` (default 10); output `{"count": N, "sum_of_squares": S}`.
async fn fanout(ctx: OrchestrationContext, input: String) -> Result<String, Failure> {
    let v = if input.trim().is_empty() { Value::Null } else { Value::parse(&input).map_err(|e| e.to_string())? };
    let n = match v.get("items").and_then(Value::as_i64) {
        None | Some(0) => DEFAULT_ITEMS,
        Some(n) => n,
    };
    if !(1..=MAX_ITEMS).contains(&n) {
        return Err(Failure::application(
            "bad_input",
            &format!("items must be between 1 and {}, got {}", MAX_ITEMS, n),
        ));
    }

    // Fan out: every call is scheduled now, before any is awaited; the host runs them in
    // parallel.
    let calls: Vec<_> = (1..=n)
        .map(|item| {
            let work = json::object().set("item", item).set("square", item * item).build();
            ctx.schedule_activity("echo", work.to_json())
        })
        .collect();

    // Fan in: wait for all of them; the results come in schedule order.
    let mut sum = 0;
    for r in join_all(calls).await {
        let work = Value::parse(&r?).map_err(|e| e.to_string())?;
        sum += work.get("square").and_then(Value::as_i64).unwrap_or(0);
    }
    Ok(json::object().set("count", n).set("sum_of_squares", sum).build().to_json())
}

fn register(r: &mut Registry) {
    r.add("fanout", fanout);
}

durohost::export!(register);
