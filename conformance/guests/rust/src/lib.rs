//! The Rust test guest of the conformance suite: every orchestration of the scenario catalog
//! (conformance/scenarios/README.md), with exactly the behaviour it describes, so that the
//! histories it records are byte for byte those of the Go test guest. Built twice by
//! build.sh: the default build ("variant a") and, with `--cfg 'variant="b"'`, variant b,
//! which plays a changed and redeployed version of the code.
//!
//! Outputs are written as Go's `encoding/json` writes them: the keys of maps sorted, the
//! fields of structs in declaration order, payloads compacted.

use durohost::json::{self, Value};
use durohost::{join_all, select, select2, CallOptions, DurableFuture, Either, Failure, OrchestrationContext, Registry, RetryPolicy};
use std::time::Duration;

/// "a" for the default build, "b" for the variant build.
const VARIANT: &str = if cfg!(variant = "b") { "b" } else { "a" };

fn register(r: &mut Registry) {
    r.add("sc_call", sc_call)
        .add("sc_sequence", sc_sequence)
        .add("sc_fanout", sc_fanout)
        .add("sc_saga", sc_saga)
        .add("sc_timers", sc_timers)
        .add("sc_status", sc_status)
        .add("sc_fail", sc_fail)
        .add("sc_info", sc_info)
        .add("sc_select", sc_select)
        .add("sc_join", sc_join)
        .add("sc_receive", sc_receive)
        .add("sc_rebind", sc_rebind)
        .add("sc_child", sc_child)
        .add("sc_hold", sc_hold)
        .add("sc_detached", sc_detached)
        .add("sc_counter", sc_counter)
        .add("sc_carry", sc_carry)
        .add("sc_random", sc_random)
        .add("sc_nd", sc_nd)
        .add_version("sc_versioned", "1", sc_versioned_v1);
    if VARIANT == "b" {
        r.add_version("sc_versioned", "2", sc_versioned_v2);
    }
}

durohost::export!(register);

// ---- helpers ----

/// The input as a JSON value (an empty input is null).
fn parse(input: &str) -> Result<Value, Failure> {
    let text = if input.trim().is_empty() { "null" } else { input };
    Value::parse(text).map_err(|e| Failure::application("bad_payload", &format!("decode input: {}", e)))
}

fn field_str(v: &Value, key: &str) -> String {
    v.get(key).and_then(Value::as_str).unwrap_or("").to_string()
}

fn field_i64(v: &Value, key: &str) -> i64 {
    v.get(key).and_then(Value::as_i64).unwrap_or(0)
}

fn field_bool(v: &Value, key: &str) -> bool {
    v.get(key).and_then(Value::as_bool).unwrap_or(false)
}

fn field_array<'a>(v: &'a Value, key: &str) -> &'a [Value] {
    v.get(key).and_then(Value::as_array).unwrap_or(&[])
}

/// A JSON value as an activity or child input: its bytes, null when absent.
fn input_of(v: Option<&Value>) -> String {
    match v {
        None => "null".to_string(),
        Some(v) => v.to_json(),
    }
}

/// A payload as a JSON value: null when empty, else embedded (compacted).
fn payload(data: &[u8]) -> Value {
    if data.is_empty() {
        Value::Null
    } else {
        Value::Raw(String::from_utf8_lossy(data).into_owned())
    }
}

/// The error object of a caught failure: {"kind", "code" (when set), "message"}.
fn describe_error(f: &Failure) -> Value {
    let mut o = json::object().set("kind", f.kind.name());
    if !f.code.is_empty() {
        o = o.set("code", f.code.as_str());
    }
    o.set("message", f.message.as_str()).build()
}

fn retry_policy(r: &Value) -> RetryPolicy {
    let ms = |k: &str| Duration::from_millis(field_i64(r, k).max(0) as u64);
    let mut p = RetryPolicy::new(field_i64(r, "max_attempts").max(0) as u32)
        .initial_interval(ms("initial_ms"))
        .backoff_coefficient(r.get("coefficient").and_then(Value::as_f64).unwrap_or(0.0))
        .max_interval(ms("max_ms"))
        .attempt_timeout(ms("timeout_ms"));
    for c in field_array(r, "non_retryable") {
        p.non_retryable_codes.push(c.as_str().unwrap_or("").to_string());
    }
    p
}

fn ok(v: Value) -> Result<String, Failure> {
    Ok(v.to_json())
}

// ---- basic scenarios ----

async fn sc_call(ctx: OrchestrationContext, input: String) -> Result<String, Failure> {
    let v = parse(&input)?;
    let activity = field_str(&v, "activity");
    let x = input_of(v.get("input"));
    let fut = match v.get("retry") {
        Some(r) if !r.is_null() => ctx.schedule_activity_with(&activity, x, &CallOptions::new().retry(retry_policy(r))),
        _ => ctx.schedule_activity(&activity, x),
    };
    match fut.await {
        Err(f) if field_bool(&v, "catch") => ok(json::object().set("error", describe_error(&f)).build()),
        Err(f) => Err(f),
        Ok(res) if field_bool(&v, "len") => ok(json::object().set("len", res.len()).build()),
        Ok(res) => ok(payload(res.as_bytes())),
    }
}

async fn sc_sequence(ctx: OrchestrationContext, input: String) -> Result<String, Failure> {
    let v = parse(&input)?;
    let activity = field_str(&v, "activity");
    let count = field_i64(&v, "count");
    let batch = field_i64(&v, "batch").max(1);
    let mut last = String::new();
    let mut i = 0;
    while i < count {
        let calls = (i..(i + batch).min(count)).map(|j| ctx.schedule_activity(&activity, j.to_string())).collect();
        for r in join_all(calls).await {
            last = r?;
        }
        i += batch;
    }
    ok(json::object().set("count", count).set("last", payload(last.as_bytes())).build())
}

async fn sc_fanout(ctx: OrchestrationContext, input: String) -> Result<String, Failure> {
    let v = parse(&input)?;
    let activity = field_str(&v, "activity");
    let calls = field_array(&v, "inputs").iter().map(|x| ctx.schedule_activity(&activity, x.to_json())).collect();
    let mut first = None;
    let mut out = Vec::new();
    for r in join_all(calls).await {
        match r {
            Ok(res) => out.push(payload(res.as_bytes())),
            Err(f) => {
                out.push(Value::Null);
                first.get_or_insert(f);
            }
        }
    }
    match first {
        Some(f) if field_bool(&v, "catch") => {
            ok(json::object().set("error", describe_error(&f)).set("results", Value::Array(out)).build())
        }
        Some(f) => Err(f),
        None => ok(Value::Array(out)),
    }
}

async fn sc_saga(ctx: OrchestrationContext, input: String) -> Result<String, Failure> {
    let v = parse(&input)?;
    let mut done: Vec<String> = Vec::new();
    for s in field_array(&v, "steps") {
        let step = s.as_str().unwrap_or("").to_string();
        if let Err(f) = ctx.schedule_activity(&step, "null").await {
            let (mut compensated, mut failed) = (Vec::new(), Vec::new());
            for d in done.iter().rev() {
                let undo = format!("undo_{}", d);
                match ctx.schedule_activity(&undo, "null").await {
                    Ok(_) => compensated.push(undo),
                    Err(_) => failed.push(undo),
                }
            }
            let msg = format!(
                "step {} failed ({}); compensated [{}]; compensations failed [{}]",
                step,
                f.message,
                compensated.join(" "),
                failed.join(" ")
            );
            return Err(Failure::application("saga_failed", &msg));
        }
        done.push(step);
    }
    ok(Value::from(done))
}

async fn sc_timers(ctx: OrchestrationContext, input: String) -> Result<String, Failure> {
    let v = parse(&input)?;
    let ms: Vec<u64> = field_array(&v, "ms").iter().map(|m| m.as_i64().unwrap_or(0).max(0) as u64).collect();
    let start = ctx.now();
    let mut want = Duration::ZERO;
    if field_bool(&v, "parallel") {
        let timers: Vec<DurableFuture<()>> = ms.iter().map(|&m| ctx.create_timer(Duration::from_millis(m))).collect();
        want = ms.iter().map(|&m| Duration::from_millis(m)).max().unwrap_or(Duration::ZERO);
        for r in join_all(timers).await {
            r?;
        }
    } else {
        for &m in &ms {
            ctx.sleep(Duration::from_millis(m)).await?;
            want += Duration::from_millis(m);
        }
    }
    let elapsed = ctx.now().duration_since(start).unwrap_or(Duration::ZERO);
    ok(json::object().set("elapsed_ok", elapsed >= want).set("fired", ms.len()).build())
}

async fn sc_status(ctx: OrchestrationContext, input: String) -> Result<String, Failure> {
    let v = parse(&input)?;
    let steps = v.as_array().unwrap_or(&[]);
    for (i, s) in steps.iter().enumerate() {
        if i > 0 {
            ctx.sleep(Duration::from_millis(1)).await?;
        }
        let raw = s.to_json();
        match raw.as_str() {
            "\"clear\"" => ctx.clear_custom_status(),
            "\"empty\"" => ctx.set_custom_status(""),
            _ => ctx.set_custom_status(&raw),
        }
    }
    match ctx.custom_status() {
        None => ok(json::object().set("set", false).build()),
        Some(st) => ok(json::object().set("set", true).set("status", String::from_utf8_lossy(&st).into_owned()).build()),
    }
}

async fn sc_fail(_ctx: OrchestrationContext, input: String) -> Result<String, Failure> {
    let v = parse(&input)?;
    Err(Failure::application(&field_str(&v, "code"), &field_str(&v, "message")))
}

async fn sc_info(ctx: OrchestrationContext, input: String) -> Result<String, Failure> {
    ok(json::object()
        .set("execution_id", ctx.execution_id())
        .set("input", payload(input.as_bytes()))
        .set("instance_id", ctx.instance_id())
        .set("parent_id", ctx.parent_id())
        .build())
}

// ---- flow scenarios ----

/// Starts the future a spec of sc_select and sc_join describes.
fn start(ctx: OrchestrationContext, s: &Value) -> DurableFuture<Vec<u8>> {
    let name = field_str(s, "name");
    match field_str(s, "kind").as_str() {
        "activity" => ctx.schedule_activity(&name, input_of(s.get("input"))).into_bytes(),
        "timer" => ctx.create_timer(Duration::from_millis(field_i64(s, "ms").max(0) as u64)).into_bytes(),
        "event" => ctx.wait_for_event(&name).into_bytes(),
        "queue" => ctx.dequeue(&name).into_bytes(),
        "child" => {
            let mut o = CallOptions::new();
            let id = field_str(s, "id");
            if !id.is_empty() {
                o = o.instance_id(&id);
            }
            ctx.schedule_sub_orchestration_with(&name, input_of(s.get("input")), &o).into_bytes()
        }
        k => panic!("unknown future kind {:?}", k),
    }
}

async fn sc_select(ctx: OrchestrationContext, input: String) -> Result<String, Failure> {
    let v = parse(&input)?;
    let futures = field_array(&v, "futures").iter().map(|s| start(ctx, s)).collect();
    let (i, r) = select(futures).await;
    ok(match r {
        Err(f) => json::object().set("error", describe_error(&f)).set("index", i).build(),
        Ok(data) => json::object().set("index", i).set("result", payload(&data)).build(),
    })
}

async fn sc_join(ctx: OrchestrationContext, input: String) -> Result<String, Failure> {
    let v = parse(&input)?;
    let futures = field_array(&v, "futures").iter().map(|s| start(ctx, s)).collect();
    let out: Vec<Value> = join_all(futures)
        .await
        .into_iter()
        .map(|r| match r {
            Err(f) => json::object().set("error", describe_error(&f)).build(),
            Ok(data) => json::object().set("result", payload(&data)).build(),
        })
        .collect();
    ok(Value::Array(out))
}

async fn sc_receive(ctx: OrchestrationContext, input: String) -> Result<String, Failure> {
    let v = parse(&input)?;
    let gate = field_str(&v, "gate");
    if !gate.is_empty() {
        ctx.wait_for_event(&gate).await?;
    }
    let mut out = Vec::new();
    for s in field_array(&v, "steps") {
        let event = field_str(s, "event");
        let f = if !event.is_empty() { ctx.wait_for_event(&event) } else { ctx.dequeue(&field_str(s, "queue")) };
        let timeout = field_i64(s, "timeout_ms");
        let data = if timeout > 0 {
            match select2(f, ctx.create_timer(Duration::from_millis(timeout as u64))).await {
                Either::Left(r) => r?,
                Either::Right(_) => {
                    out.push(Value::str("timeout"));
                    continue;
                }
            }
        } else {
            f.await?
        };
        out.push(payload(data.as_bytes()));
    }
    ok(Value::Array(out))
}

async fn sc_rebind(ctx: OrchestrationContext, input: String) -> Result<String, Failure> {
    let v = parse(&input)?;
    let name = field_str(&v, "name");
    let queue = field_str(&v, "kind") == "queue";
    let sub = || if queue { ctx.dequeue(&name) } else { ctx.wait_for_event(&name) };
    let mut first = sub();
    ctx.wait_for_event(&field_str(&v, "gate")).await?;
    first.cancel();
    let data = sub().await?;
    ok(payload(data.as_bytes()))
}

fn id_options(v: &Value) -> CallOptions {
    let id = field_str(v, "id");
    if id.is_empty() {
        CallOptions::new()
    } else {
        CallOptions::new().instance_id(&id)
    }
}

async fn sc_child(ctx: OrchestrationContext, input: String) -> Result<String, Failure> {
    let v = parse(&input)?;
    let r = ctx.schedule_sub_orchestration_with(&field_str(&v, "name"), input_of(v.get("input")), &id_options(&v)).await;
    match r {
        Err(f) if field_bool(&v, "catch") => ok(json::object().set("error", describe_error(&f)).build()),
        Err(f) => Err(f),
        Ok(res) => ok(payload(res.as_bytes())),
    }
}

async fn sc_hold(ctx: OrchestrationContext, input: String) -> Result<String, Failure> {
    let v = parse(&input)?;
    let depth = field_i64(&v, "depth");
    let activity = field_str(&v, "activity");
    // Started and never awaited: dropping the futures leaves the work running.
    if !activity.is_empty() {
        drop(ctx.schedule_activity(&activity, "null"));
    }
    if depth > 0 {
        let child = json::object().set("depth", depth - 1).set("activity", activity.as_str()).build();
        let id = format!("{}-c", ctx.instance_id());
        drop(ctx.schedule_sub_orchestration_with("sc_hold", child.to_json(), &CallOptions::new().instance_id(&id)));
    }
    ctx.wait_for_event("release").await?;
    ok(Value::str("released"))
}

async fn sc_detached(ctx: OrchestrationContext, input: String) -> Result<String, Failure> {
    let v = parse(&input)?;
    let id = ctx.start_orchestration(&field_str(&v, "name"), input_of(v.get("input")), &id_options(&v)).await?;
    ok(Value::String(id))
}

async fn sc_counter(ctx: OrchestrationContext, input: String) -> Result<String, Failure> {
    let v = parse(&input)?;
    let n = field_i64(&v, "n");
    let to = field_i64(&v, "to");
    let event = field_str(&v, "event");
    let mut got: Vec<Value> = field_array(&v, "got").to_vec();
    ctx.set_custom_status(json::object().set("n", n).build().to_json());
    if !event.is_empty() {
        let data = ctx.wait_for_event(&event).await?;
        got.push(payload(data.as_bytes()));
    }
    if n < to {
        let mut next = json::object().set("n", n + 1).set("to", to);
        if !event.is_empty() {
            next = next.set("event", event.as_str());
        }
        if !got.is_empty() {
            next = next.set("got", Value::Array(got));
        }
        return ctx.continue_as_new(next.build().to_json());
    }
    ok(json::object().set("execution", ctx.execution_id()).set("got", Value::Array(got)).set("n", n).build())
}

async fn sc_carry(ctx: OrchestrationContext, input: String) -> Result<String, Failure> {
    let v = parse(&input)?;
    let mut got: Vec<Value> = field_array(&v, "got").to_vec();
    if field_i64(&v, "phase") <= 1 {
        ctx.set_custom_status("\"carried\"");
        ctx.wait_for_event("go").await?;
        let r = ctx.dequeue("q").await;
        got.push(payload(r.as_deref().unwrap_or("").as_bytes()));
        r?;
        let mut next = json::object().set("phase", 2);
        if !got.is_empty() {
            next = next.set("got", Value::Array(got));
        }
        return ctx.continue_as_new(next.build().to_json());
    }
    let status = String::from_utf8_lossy(&ctx.custom_status().unwrap_or_default()).into_owned();
    for _ in 0..2 {
        let r = ctx.dequeue("q").await;
        got.push(payload(r.as_deref().unwrap_or("").as_bytes()));
        r?;
    }
    ok(json::object()
        .set("execution", ctx.execution_id())
        .set("got", Value::Array(got))
        .set("status", status)
        .build())
}

/// A draw from Rust's only randomness in std, the keys of `RandomState` (not part of the
/// output: the catalog checks only that drawing one replays).
fn ordinary_random_ok() -> bool {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u8(1);
    let _ = h.finish();
    true
}

async fn sc_random(ctx: OrchestrationContext, input: String) -> Result<String, Failure> {
    let v = parse(&input)?;
    let ms = Duration::from_millis(field_i64(&v, "ms").max(0) as u64);
    let sample = || {
        let mut b = [0u8; 8];
        ctx.random_bytes(&mut b);
        let crypto: String = b.iter().map(|x| format!("{:02x}", x)).collect();
        json::object()
            .set("crypto", crypto)
            .set("rand_ok", ordinary_random_ok())
            .set("uuid", ctx.new_uuid())
            .build()
    };
    let t0 = ctx.now();
    let before = sample();
    ctx.sleep(ms).await?;
    let after = sample();
    let elapsed = ctx.now().duration_since(t0).unwrap_or(Duration::ZERO);
    ok(json::object().set("after", after).set("before", before).set("time_ok", elapsed >= ms).build())
}

// ---- variant-dependent scenarios ----

async fn sc_versioned_v1(ctx: OrchestrationContext, _input: String) -> Result<String, Failure> {
    let data: String = ctx.wait_for_event_typed("go").await?;
    if data == "upgrade" && VARIANT == "a" {
        return ctx.continue_as_new_version("\"from-v1\"", "2");
    }
    ok(Value::String(format!("v1-{}:{}", VARIANT, data)))
}

async fn sc_versioned_v2(_ctx: OrchestrationContext, input: String) -> Result<String, Failure> {
    let v = parse(&input)?;
    ok(Value::String(format!("v2-{}:{}", VARIANT, v.as_str().unwrap_or(""))))
}

async fn sc_nd(ctx: OrchestrationContext, input: String) -> Result<String, Failure> {
    let change = parse(&input)?.as_str().unwrap_or("").to_string();
    let step = |name: &str, x: i64| ctx.schedule_activity_typed::<i64, i64>(name, &x, &CallOptions::new());
    let mut fs = Vec::new();
    if VARIANT != "b" {
        fs.push(step("nd_step", 1));
        fs.push(step("nd_step", 2));
    } else {
        match change.as_str() {
            "name" => {
                fs.push(step("nd_other", 1));
                fs.push(step("nd_step", 2));
            }
            "input" => {
                fs.push(step("nd_step", 99));
                fs.push(step("nd_step", 2));
            }
            "kind" => {
                ctx.sleep(Duration::from_millis(1)).await?;
                fs.push(step("nd_step", 2));
            }
            "extra" => {
                fs.push(step("nd_step", 1));
                fs.push(step("nd_step", 2));
                fs.push(step("nd_step", 3));
            }
            "missing" => fs.push(step("nd_step", 1)),
            _ => {}
        }
    }
    let mut sum = 0;
    let mut first = None;
    for r in join_all(fs).await {
        match r {
            Ok(n) => sum += n,
            Err(f) => {
                first.get_or_insert(f);
            }
        }
    }
    match first {
        Some(f) => Err(f),
        None => ok(Value::int(sum)),
    }
}
