//! Unit tests of the executor, the futures and retries against the scripted fake host
//! (`fakehost.rs`): the commands the SDK records, the handles it cancels, the order in which
//! it reads completions, and the outcomes it reports.

use crate::cbor::{self, CommandKind, StartInfo};
use crate::fakehost::{self, Delivery::*};
use crate::{join_all, runtime, select, CallOptions, Failure, FailureKind, OrchestrationContext, Registry, RetryPolicy};
use std::future::Future;
use std::time::Duration;

fn start() -> OrchestrationContext {
    fakehost::reset();
    runtime::install(
        StartInfo { name: "t".into(), instance_id: "i".into(), execution_id: 1, ..StartInfo::default() },
        String::new(),
    );
    OrchestrationContext::new()
}

fn drive<F: Future<Output = Result<String, Failure>>>(f: F) -> Result<String, Failure> {
    let mut b = Box::pin(f);
    let r = runtime::block_on(b.as_mut());
    drop(b);
    runtime::finish();
    r
}

/// The recorded commands as (kind, name, input, delay).
fn commands() -> Vec<(CommandKind, String, String, i64)> {
    fakehost::with(|f| {
        f.commands
            .iter()
            .map(|c| (c.kind, c.name.clone(), String::from_utf8_lossy(&c.input).into_owned(), c.delay))
            .collect()
    })
}

fn act(name: &str, input: &str) -> (CommandKind, String, String, i64) {
    (CommandKind::Activity, name.to_string(), input.to_string(), 0)
}

fn timer(ms: i64) -> (CommandKind, String, String, i64) {
    (CommandKind::Timer, String::new(), String::new(), ms * 1_000_000)
}

#[test]
fn sequential_activities() {
    let ctx = start();
    fakehost::script(&[(1, Done("\"a\"")), (2, Done("\"b\""))]);
    let out = drive(async move {
        let a = ctx.schedule_activity("x", "1").await?;
        let b = ctx.schedule_activity("y", "2").await?;
        Result::<String, Failure>::Ok(a + &b)
    });
    assert_eq!(out.unwrap(), "\"a\"\"b\"");
    assert_eq!(commands(), vec![act("x", "1"), act("y", "2")]);
    assert_eq!(fakehost::with(|f| f.awaits), 2);
}

#[test]
fn select_cancels_the_losers_in_order() {
    let ctx = start();
    fakehost::script(&[(3, Done(""))]);
    let out = drive(async move {
        let fs = vec![
            ctx.schedule_activity("slow", "null").into_bytes(),
            ctx.wait_for_event("e").into_bytes(),
            ctx.create_timer(Duration::from_millis(10)).into_bytes(),
        ];
        let (i, r) = select(fs).await;
        Ok(format!("{} {:?}", i, r))
    });
    assert_eq!(out.unwrap(), "2 Ok([])");
    assert_eq!(fakehost::with(|f| f.cancelled.clone()), vec![1, 2]);
}

#[test]
fn join_reads_in_history_order_and_returns_in_schedule_order() {
    let ctx = start();
    fakehost::script(&[(3, Done("3")), (1, Fail(FailureKind::Application, "E", "one failed")), (2, Done("2"))]);
    let out = drive(async move {
        let calls = (1..=3).map(|i| ctx.schedule_activity("w", i.to_string())).collect();
        let rs = join_all(calls).await;
        Ok(rs.iter().map(|r| match r {
            Ok(v) => v.clone(),
            Err(f) => f.code.clone(),
        }).collect::<Vec<_>>().join(","))
    });
    assert_eq!(out.unwrap(), "E,2,3");
    // A join of durable futures waits for them in order, one handle per wait.
    assert_eq!(fakehost::with(|f| f.released.clone()), vec![1, 2, 3]);
    assert_eq!(fakehost::with(|f| f.max_await), 1);
}

#[test]
fn a_join_of_async_blocks_progresses_concurrently() {
    let ctx = start();
    // Block a waits for x (handle 1) then y; block b for z (2) then w. z completes first, so
    // b records w (3) before x completes and a records y (4).
    fakehost::script(&[(2, Done("\"z\"")), (3, Done("\"w\"")), (1, Done("\"x\"")), (4, Done("\"y\""))]);
    let out = drive(async move {
        let a = async move {
            let x = ctx.schedule_activity("x", "null").await?;
            let y = ctx.schedule_activity("y", "null").await?;
            Result::<String, Failure>::Ok(x + &y)
        };
        let b = async move {
            let z = ctx.schedule_activity("z", "null").await?;
            let w = ctx.schedule_activity("w", "null").await?;
            Result::<String, Failure>::Ok(z + &w)
        };
        let rs = join_all(vec![Box::pin(a) as std::pin::Pin<Box<dyn Future<Output = Result<String, Failure>>>>, Box::pin(b)]).await;
        Ok(rs.into_iter().map(|r| r.unwrap()).collect::<Vec<_>>().join(" "))
    });
    assert_eq!(out.unwrap(), "\"x\"\"y\" \"z\"\"w\"");
    let names: Vec<String> = commands().into_iter().map(|c| c.1).collect();
    assert_eq!(names, vec!["x", "z", "w", "y"]);
}

#[test]
fn retry_backs_off_with_durable_timers() {
    let ctx = start();
    fakehost::script(&[
        (1, Fail(FailureKind::Application, "E", "x")),
        (2, Done("")),
        (3, Fail(FailureKind::Application, "E", "y")),
        (4, Done("")),
        (5, Done("\"z\"")),
    ]);
    let p = RetryPolicy::new(3).initial_interval(Duration::from_secs(1)).backoff_coefficient(2.0);
    let out = drive(async move { ctx.schedule_activity_with("flaky", "null", &CallOptions::new().retry(p)).await });
    assert_eq!(out.unwrap(), "\"z\"");
    assert_eq!(commands(), vec![act("flaky", "null"), timer(1000), act("flaky", "null"), timer(2000), act("flaky", "null")]);
}

#[test]
fn retry_attempt_timeout_cancels_the_attempt() {
    let ctx = start();
    fakehost::script(&[(2, Done("")), (3, Done("")), (5, Done(""))]);
    let p = RetryPolicy::new(2).initial_interval(Duration::from_millis(10)).attempt_timeout(Duration::from_millis(20));
    let out = drive(async move { ctx.schedule_activity_with("hang", "null", &CallOptions::new().retry(p)).await });
    let f = out.unwrap_err();
    assert_eq!((f.kind, f.code.as_str()), (FailureKind::Timeout, "attempt_timeout"));
    assert_eq!(f.message, "activity \"hang\": attempt 2 timed out after 20ms");
    assert_eq!(commands(), vec![act("hang", "null"), timer(20), timer(10), act("hang", "null"), timer(20)]);
    assert_eq!(fakehost::with(|f| f.cancelled.clone()), vec![1, 4]);
}

#[test]
fn retry_stops_at_a_non_retryable_code() {
    let ctx = start();
    fakehost::script(&[(1, Fail(FailureKind::Application, "E_FATAL", "give up"))]);
    let p = RetryPolicy::new(5).non_retryable(&["E_FATAL"]);
    let out = drive(async move { ctx.schedule_activity_with("fatal", "null", &CallOptions::new().retry(p)).await });
    assert_eq!(out.unwrap_err().message, "give up");
    assert_eq!(commands().len(), 1);
}

#[test]
fn a_retried_call_progresses_while_the_orchestration_waits_for_something_else() {
    let ctx = start();
    fakehost::script(&[(1, Fail(FailureKind::Application, "E", "x")), (3, Done("")), (2, Done("\"ev\""))]);
    let p = RetryPolicy::new(3).initial_interval(Duration::from_millis(5));
    let out = drive(async move {
        let retried = ctx.schedule_activity_with("flaky", "null", &CallOptions::new().retry(p));
        let ev = ctx.wait_for_event("e").await?;
        drop(retried);
        Ok(ev)
    });
    assert_eq!(out.unwrap(), "\"ev\"");
    assert_eq!(
        commands(),
        vec![act("flaky", "null"), (CommandKind::WaitEvent, "e".into(), String::new(), 0), timer(5), act("flaky", "null")]
    );
}

#[test]
fn dropping_a_pending_future_does_not_cancel_it() {
    let ctx = start();
    fakehost::script(&[(2, Done(""))]);
    let out = drive(async move {
        drop(ctx.schedule_activity("background", "null"));
        ctx.sleep(Duration::from_millis(1)).await?;
        Ok("done".to_string())
    });
    assert_eq!(out.unwrap(), "done");
    assert!(fakehost::with(|f| f.cancelled.is_empty()));
}

#[test]
fn cancel_then_await_gives_a_cancellation() {
    let ctx = start();
    let out = drive(async move {
        let mut f = ctx.wait_for_event("e");
        f.cancel();
        f.await
    });
    assert!(out.unwrap_err().is_cancelled());
    assert_eq!(fakehost::with(|f| f.cancelled.clone()), vec![1]);
}

#[test]
fn custom_status_is_recorded_and_read_back() {
    let ctx = start();
    let out = drive(async move {
        ctx.set_custom_status("\"a\"");
        ctx.clear_custom_status();
        ctx.set_custom_status("");
        Ok(format!("{:?}", ctx.custom_status()))
    });
    assert_eq!(out.unwrap(), "Some([])");
    assert_eq!(fakehost::with(|f| f.statuses.clone()), vec![Some(b"\"a\"".to_vec()), None, Some(vec![])]);
}

#[test]
fn uuid_is_version_4() {
    let ctx = start();
    let out = drive(async move { Ok(ctx.new_uuid()) }).unwrap();
    assert_eq!(out, "00010203-0405-4607-8809-0a0b0c0d0e0f");
}

async fn can(ctx: OrchestrationContext, input: String) -> Result<String, Failure> {
    ctx.continue_as_new_version(input + "!", "2")
}

async fn fails(_: OrchestrationContext, _: String) -> Result<String, String> {
    Err("boom".to_string())
}

fn register(r: &mut Registry) {
    r.add("can", can).add("fails", fails).add_version("alpha", "1", fails);
}

/// Runs durohost_run with a StartInfo {1: mode, 2: name, 4: "i", 5: 1, 6: input}.
fn run(mode: u8, name: &str, input: &str) -> Vec<u8> {
    fakehost::reset();
    let mut si = vec![0xa5, 0x01, mode, 0x02, 0x60 + name.len() as u8];
    si.extend_from_slice(name.as_bytes());
    si.extend_from_slice(&[0x04, 0x61, b'i', 0x05, 0x01, 0x06, 0x40 + input.len() as u8]);
    si.extend_from_slice(input.as_bytes());
    fakehost::with(|f| f.start = si);
    crate::__run(register);
    fakehost::with(|f| f.outcome.clone()).expect("no outcome")
}

#[test]
fn outcomes_of_the_run_loop() {
    // continued_as_new {1: 3, 4: h'"x"!', 5: "2"}
    assert_eq!(run(0, "can", "\"x\""), [&[0xa3, 0x01, 0x03, 0x04, 0x44][..], b"\"x\"!", &[0x05, 0x61, b'2']].concat());
    // failed {1: 2, 3: {1: 1, 3: "boom"}}
    assert_eq!(run(0, "fails", ""), [&[0xa2, 0x01, 0x02, 0x03, 0xa2, 0x01, 0x01, 0x03, 0x64][..], b"boom"].concat());
    let unknown = String::from_utf8_lossy(&run(0, "nope", "")).into_owned();
    assert!(unknown.contains("DH-GUEST-001") && unknown.contains("it registers: alpha@1, can, fails"), "{}", unknown);
    let describe = run(1, "", "");
    assert_eq!(&describe[..5], &[0xa2, 0x01, 0x04, 0x06, 0x83]);
    let _ = cbor::decode_start_info(&[0xa0]).unwrap();
}

#[test]
fn a_join_wider_than_one_await_waits_in_slices() {
    let ctx = start();
    // 20 activities, each awaited by an async block (a join of blocks polls them all, so all
    // 20 handles are pending at once), completed in reverse order; one await covers at most 8
    // handles here. (A join of DurableFutures waits for one handle at a time: no slice.)
    let script: Vec<(u32, fakehost::Delivery)> = (1..=20).rev().map(|h| (h, Done("1"))).collect();
    fakehost::script(&script);
    let out = drive(async move {
        let calls = (0..20)
            .map(|i| {
                let f = ctx.schedule_activity("w", i.to_string());
                Box::pin(async move { f.await }) as std::pin::Pin<Box<dyn Future<Output = Result<String, Failure>>>>
            })
            .collect();
        let n = join_all(calls).await.into_iter().filter(|r| r.is_ok()).count();
        Ok(n.to_string())
    });
    assert_eq!(out.unwrap(), "20");
    // The first waits covered 8 handles each: the cut was made, and kept.
    assert_eq!(fakehost::with(|f| f.max_await), 8);
    assert_eq!(fakehost::with(|f| f.released.len()), 20);
}

#[test]
fn a_select_wider_than_one_await_waits_in_slices() {
    let ctx = start();
    // 12 subscriptions. One await covers 8 handles here: the first wait covers handles 1..8,
    // so the event of handle 10, which arrives first, is not seen before that of handle 2
    // (beyond the ABI's 4,096 handles, "first in history" holds within each wait's slice).
    fakehost::script(&[(10, Done("\"ten\"")), (2, Done("\"two\""))]);
    let out = drive(async move {
        let fs = (0..12).map(|i| ctx.wait_for_event(&format!("e{}", i))).collect();
        let (i, r) = select(fs).await;
        Ok(format!("{} {}", i, r?))
    });
    assert_eq!(out.unwrap(), "1 \"two\"");
}

/// A retried call that settled (completed, or cancelled) no longer takes part in waits: the
/// slot it leaves is reused by the next future, which is awaited only when polled.
#[test]
fn a_settled_retried_call_leaves_no_driver_behind() {
    for cancel in [false, true] {
        let ctx = start();
        // Handle 1: the retried call. Then x (2), never awaited, and y (3), awaited; x's event
        // comes first in history.
        let mut script = vec![(2, Done("\"x\"")), (3, Done("\"y\""))];
        if !cancel {
            script.insert(0, (1, Done("\"r\"")));
        }
        fakehost::script(&script);
        let out = drive(async move {
            let mut r = ctx.schedule_activity_with("r", "null", &CallOptions::new().retry(RetryPolicy::new(3)));
            if cancel {
                r.cancel();
            }
            let _ = r.await;
            let x = ctx.wait_for_event("x");
            let y = ctx.wait_for_event("y").await?;
            drop(x);
            Ok(y)
        });
        assert_eq!(out.unwrap(), "\"y\"");
        // x was never polled: its completion was not read, and no wait named its handle.
        assert!(!fakehost::with(|f| f.released.contains(&2)), "cancel {}: the unpolled future was read", cancel);
        assert_eq!(fakehost::with(|f| f.max_await), 1, "cancel {}", cancel);
    }
}
