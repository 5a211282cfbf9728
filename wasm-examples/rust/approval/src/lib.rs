//! approval: human interaction. The orchestration waits for a person's decision, sent as an
//! external event, but gives up after a durable timer.

use durohost::json::{self, Value};
use durohost::{select2, Either, Failure, OrchestrationContext, Registry};
use std::time::Duration;

const DEFAULT_TIMEOUT_MS: i64 = 60_000;

/// Input `{"request": R, "timeout_ms": T}`; output `{"request", "status", "by"}` with status
/// "approved", "rejected" or "timed out".
async fn approval(ctx: OrchestrationContext, input: String) -> Result<String, Failure> {
    let v = if input.trim().is_empty() { Value::Null } else { Value::parse(&input).map_err(|e| e.to_string())? };
    let request = v.get("request").and_then(Value::as_str).unwrap_or("").to_string();
    let mut timeout_ms = v.get("timeout_ms").and_then(Value::as_i64).unwrap_or(0);
    if timeout_ms <= 0 {
        timeout_ms = DEFAULT_TIMEOUT_MS;
    }

    // Clients see what the instance is doing (durohost status <instance-id>).
    ctx.set_custom_status("\"waiting for approval\"");

    // Both futures start now: a subscription to the next event "approval" (an event raised
    // earlier is kept until this point) and a timer the host stores durably.
    let decision = ctx.wait_for_event("approval");
    let timer = ctx.create_timer(Duration::from_millis(timeout_ms as u64));

    // Whichever comes first wins; the other is cancelled, and history records it.
    let winner = select2(decision, timer).await;
    ctx.clear_custom_status();

    let out = json::object().set("request", request.as_str());
    match winner {
        Either::Right(_) => {
            durohost::info!(ctx, "no decision request={} timeout_ms={}", request, timeout_ms);
            Ok(out.set("status", "timed out").build().to_json())
        }
        Either::Left(data) => {
            let d = Value::parse(&data?).map_err(|e| format!("the approval event must be JSON: {}", e))?;
            let by = d.get("by").and_then(Value::as_str).unwrap_or("").to_string();
            let approved = d.get("approved").and_then(Value::as_bool).unwrap_or(false);
            let status = if approved { "approved" } else { "rejected" };
            durohost::info!(ctx, "decided request={} status={} by={}", request, status, by);
            let mut out = out.set("status", status);
            if !by.is_empty() {
                out = out.set("by", by);
            }
            Ok(out.build().to_json())
        }
    }
}

fn register(r: &mut Registry) {
    r.add("approval", approval);
}

durohost::export!(register);
