//! The Rust SDK for writing durohost orchestrations: durable, replayable workflows written as
//! `async fn`, compiled to WebAssembly (`wasm32-unknown-unknown`) and run by the durohost host
//! in a deterministic sandbox. It talks to the host only through the `durohost_v1` ABI
//! (abi/ABI.md) and depends on no other crate.
//!
//! ```no_run
//! use durohost::{OrchestrationContext, Registry, RetryPolicy, CallOptions, Failure, select2, Either};
//! use std::time::Duration;
//!
//! /// Asks a reviewer, waits one day for the "decision" event, and files the result.
//! async fn approve(ctx: OrchestrationContext, doc: String) -> Result<String, Failure> {
//!     ctx.schedule_activity("notify", &doc).await?;
//!     let decision = ctx.wait_for_event("decision");
//!     let expiry = ctx.create_timer(Duration::from_secs(24 * 3600));
//!     let d = match select2(decision, expiry).await {
//!         Either::Left(d) => d?,
//!         Either::Right(_) => return Ok("\"expired\"".into()), // the subscription was cancelled
//!     };
//!     let retry = RetryPolicy::new(5).initial_interval(Duration::from_secs(1));
//!     ctx.schedule_activity_with("file", d, &CallOptions::new().retry(retry)).await
//! }
//!
//! fn register(r: &mut Registry) {
//!     r.add_version("approve", "1", approve);
//! }
//!
//! durohost::export!(register);
//! ```
//!
//! Build it as a `cdylib` for `wasm32-unknown-unknown` (see the README of this crate).
//!
//! # Replay and determinism
//!
//! The host runs an orchestration again from the start whenever it needs to (after a restart,
//! or when it did not keep the instance in memory) and answers the calls it already recorded
//! from history. An orchestration must issue the same commands in the same order every time it
//! runs with the same history: take time from [`OrchestrationContext::now`], randomness from
//! [`OrchestrationContext::new_uuid`] and [`OrchestrationContext::random_bytes`], put side
//! effects in activities, and wait only on the futures of the context (combined with
//! [`select`], [`select2`], [`join_all`], [`join2`] or your own `async` blocks). Nothing of the
//! orchestration runs while it waits.
//!
//! # Futures
//!
//! Starting work returns a [`DurableFuture`] at once, and records its command then. `.await`
//! gives `Result<T, Failure>`. [`select`] waits for the first of several and cancels the others;
//! [`join_all`] waits for all. Every wait is one `await` host call: the executor is a loop over
//! it (see `runtime.rs`), with no threads, no wakers and no allocation per wait beyond the
//! completion it reads.
//!
//! # Failures
//!
//! A failed activity or child gives a [`Failure`] (kind, code, message, details). An
//! orchestration returns `Result<String, E>` with `E: Into<Failure>`: `String` and `&str`
//! become application failures, a `Failure` keeps its kind and code, so `?` on a call
//! propagates its failure unchanged. A panic fails the execution with code `panic` (see the
//! README: on wasm32 a panic aborts, so the SDK reports it before the trap).

#![deny(missing_docs)]

#[cfg(all(target_arch = "wasm32", not(feature = "system-allocator")))]
mod alloc;
mod cbor;
mod context;
mod failure;
#[cfg(all(test, not(target_arch = "wasm32")))]
mod fakehost;
mod future;
mod gofmt;
mod host;
pub mod json;
mod payload;
mod retry;
mod runtime;
#[cfg(all(test, not(target_arch = "wasm32")))]
mod executor_tests;

pub use context::{CallOptions, LogLevel, OrchestrationContext};
pub use failure::{codes, Failure, FailureKind};
pub use future::{join2, join_all, select, select2, Cancellable, DurableFuture, Either, Join2, JoinAll, Select, Select2};
pub use payload::{Decode, Encode};
pub use retry::RetryPolicy;

use cbor::Outcome;
use std::cell::RefCell;
use std::future::Future;
use std::pin::Pin;

#[cfg(all(target_arch = "wasm32", not(feature = "system-allocator")))]
#[global_allocator]
static ALLOCATOR: alloc::DurohostAllocator = alloc::DurohostAllocator::new();

/// The version of the ABI the SDK implements (the `durohost_abi_version` export).
pub const ABI_VERSION: i32 = 1;

/// The boxed future of a registered orchestration.
type BoxedRun = Pin<Box<dyn Future<Output = Result<String, Failure>>>>;

/// A registered orchestration function.
type OrchestrationFn = Box<dyn Fn(OrchestrationContext, String) -> BoxedRun>;

struct Registration {
    name: String,
    version: String,
    run: OrchestrationFn,
}

/// The orchestrations a module registers, by name and version. The function given to
/// [`export!`] fills it.
#[derive(Default)]
pub struct Registry {
    entries: Vec<Registration>,
}

impl Registry {
    /// Registers an unversioned orchestration: an `async fn(OrchestrationContext, String) ->
    /// Result<String, E>` (or a closure returning such a future) whose input and output are
    /// the raw payloads as text (JSON by convention), and whose error converts into a
    /// [`Failure`]. Panics when the name is empty or already registered without a version.
    pub fn add<F, Fut, E>(&mut self, name: &str, f: F) -> &mut Registry
    where
        F: Fn(OrchestrationContext, String) -> Fut + 'static,
        Fut: Future<Output = Result<String, E>> + 'static,
        E: Into<Failure>,
    {
        self.add_version(name, "", f)
    }

    /// Registers an orchestration under a version. A module may register several versions of
    /// one name. A request naming a version runs exactly that version; a request with an empty
    /// version runs the highest one, comparing dot-separated segments numerically when both
    /// are decimal numbers and lexically otherwise ("1.10" > "1.9" > "1" > "").
    pub fn add_version<F, Fut, E>(&mut self, name: &str, version: &str, f: F) -> &mut Registry
    where
        F: Fn(OrchestrationContext, String) -> Fut + 'static,
        Fut: Future<Output = Result<String, E>> + 'static,
        E: Into<Failure>,
    {
        if name.is_empty() {
            panic!("durohost: register an orchestration with an empty name");
        }
        if self.entries.iter().any(|r| r.name == name && r.version == version) {
            panic!("durohost: orchestration {} registered twice", describe(name, version));
        }
        let run: OrchestrationFn = Box::new(move |ctx, input| {
            let fut = f(ctx, input);
            Box::pin(async move { fut.await.map_err(Into::into) })
        });
        self.entries.push(Registration { name: name.to_string(), version: version.to_string(), run });
        self
    }

    /// Registers a typed orchestration: its input is decoded with [`Decode`] (an empty input
    /// is offered as is) and its output encoded with [`Encode`]; a payload that does not
    /// decode or encode fails the execution with code `bad_payload`.
    pub fn add_typed<I, O, F, Fut, E>(&mut self, name: &str, version: &str, f: F) -> &mut Registry
    where
        I: Decode + 'static,
        O: Encode + 'static,
        F: Fn(OrchestrationContext, I) -> Fut + 'static,
        Fut: Future<Output = Result<O, E>> + 'static,
        E: Into<Failure> + 'static,
    {
        let f = std::rc::Rc::new(f);
        let owned = name.to_string();
        self.add_version(name, version, move |ctx, input: String| {
            let f = f.clone();
            let name = owned.clone();
            async move {
                let i = I::decode(input.as_bytes()).map_err(|e| {
                    Failure::bad_payload(format!("decode input of {} as {}: {}", name, std::any::type_name::<I>(), e))
                })?;
                let o = f(ctx, i).await.map_err(Into::into)?;
                let b = o.encode().map_err(|e| Failure::bad_payload(format!("encode output of {}: {}", name, e)))?;
                String::from_utf8(b).map_err(|_| Failure::bad_payload(format!("encode output of {}: not UTF-8", name)))
            }
        })
    }

    fn lookup(&self, name: &str, version: &str) -> Option<&Registration> {
        let mut best: Option<&Registration> = None;
        for r in self.entries.iter().filter(|r| r.name == name) {
            if !version.is_empty() {
                if r.version == version {
                    return Some(r);
                }
                continue;
            }
            if best.map_or(true, |b| compare_versions(&r.version, &b.version) == std::cmp::Ordering::Greater) {
                best = Some(r);
            }
        }
        best
    }

    fn list(&self) -> Vec<(String, String)> {
        let mut out: Vec<(String, String)> = self.entries.iter().map(|r| (r.name.clone(), r.version.clone())).collect();
        out.sort_by(|a, b| a.0.cmp(&b.0).then_with(|| compare_versions(&a.1, &b.1)));
        out
    }
}

/// Names a registration in messages: "name" or "name@version".
fn describe(name: &str, version: &str) -> String {
    if version.is_empty() {
        name.to_string()
    } else {
        format!("{}@{}", name, version)
    }
}

/// Compares dot-separated versions as the Go SDK does.
fn compare_versions(a: &str, b: &str) -> std::cmp::Ordering {
    use std::cmp::Ordering;
    let (r#as, bs): (Vec<&str>, Vec<&str>) = (a.split('.').collect(), b.split('.').collect());
    for (x, y) in r#as.iter().zip(bs.iter()) {
        let dec = |s: &str| !s.is_empty() && s.bytes().all(|c| c.is_ascii_digit());
        let c = if dec(x) && dec(y) {
            let (x, y) = (x.trim_start_matches('0'), y.trim_start_matches('0'));
            x.len().cmp(&y.len()).then_with(|| x.cmp(y))
        } else {
            x.cmp(y)
        };
        if c != Ordering::Equal {
            return c;
        }
    }
    r#as.len().cmp(&bs.len())
}

thread_local! {
    /// "name@version" of the running orchestration, for the panic hook (which cannot borrow
    /// the runtime state: a panic may happen while it is borrowed).
    static RUNNING: RefCell<Option<String>> = RefCell::new(None);
}

fn complete(o: &Outcome) {
    let mut buf = Vec::new();
    cbor::encode_outcome(&mut buf, o);
    host::complete(&buf);
}

/// Fails the execution with code `panic` when the orchestration panics: on wasm32 a panic
/// aborts (traps) right after the hook, so the hook reports the failure first.
fn panic_hook(info: &std::panic::PanicInfo<'_>) {
    let running = RUNNING.with(|r| r.try_borrow_mut().ok().and_then(|mut r| r.take()));
    let name = match running {
        Some(n) => n,
        None => return, // not in an orchestration, or complete was called already
    };
    runtime::finish();
    let msg = if let Some(s) = info.payload().downcast_ref::<&str>() {
        s.to_string()
    } else if let Some(s) = info.payload().downcast_ref::<String>() {
        s.clone()
    } else {
        "Box<dyn Any>".to_string()
    };
    let location = info.location().map(|l| format!("{}:{}:{}", l.file(), l.line(), l.column())).unwrap_or_default();
    let message = format!("orchestration {} panicked: {}", name, msg);
    // The host keeps the outcome below despite the trap that follows (ABI.md, complete); the
    // log line tells where the panic happened (see the README, "Panics").
    host::log(LogLevel::Error as i32, &format!("{} (at {})", message, location));
    let f = Failure::new(FailureKind::Application, codes::PANIC, &message)
        .with_details(json::quote(&format!("panicked at {}", location)).into_bytes());
    complete(&Outcome::Failed(f));
}

/// The body of the `durohost_run` export that [`export!`] defines: reads the StartInfo, runs
/// the orchestration it names (or describes the module) and completes.
#[doc(hidden)]
pub fn __run(register: fn(&mut Registry)) {
    std::panic::set_hook(Box::new(panic_hook));
    let mut reg = Registry::default();
    register(&mut reg);
    let info = match read_start_info() {
        Ok(i) => i,
        Err(e) => {
            let f = Failure::new(FailureKind::Infrastructure, "DH-ABI-002", &format!("read start info: {}", e));
            return complete(&Outcome::Failed(f));
        }
    };
    match info.mode {
        0 => {}
        1 => return complete(&Outcome::Describe(reg.list())),
        m => {
            let f = Failure::new(FailureKind::Infrastructure, "DH-ABI-004", &format!("unknown start mode {}", m));
            return complete(&Outcome::Failed(f));
        }
    }
    let r = match reg.lookup(&info.name, &info.version) {
        Some(r) => r,
        None => {
            let names: Vec<String> = reg.list().iter().map(|(n, v)| describe(n, v)).collect();
            let registered = if names.is_empty() { "none".to_string() } else { names.join(", ") };
            let msg = format!(
                "the module does not register orchestration {}; it registers: {}",
                describe(&info.name, &info.version),
                registered
            );
            return complete(&Outcome::Failed(Failure::new(FailureKind::Infrastructure, "DH-GUEST-001", &msg)));
        }
    };
    let input = match String::from_utf8(info.input.clone()) {
        Ok(s) => s,
        Err(_) => {
            let f = Failure::bad_payload(format!("the input of {} is not UTF-8 text", describe(&info.name, &r.version)));
            return complete(&Outcome::Failed(f));
        }
    };
    RUNNING.with(|x| *x.borrow_mut() = Some(describe(&info.name, &r.version)));
    runtime::install(info, r.version.clone());
    let mut fut = (r.run)(OrchestrationContext::new(), input);
    let out = runtime::block_on(fut.as_mut());
    drop(fut);
    runtime::finish();
    RUNNING.with(|x| *x.borrow_mut() = None);
    let outcome = match out {
        Ok(s) => Outcome::Completed(s.into_bytes()),
        Err(mut f) => match f.continue_as_new.take() {
            Some(can) => Outcome::ContinuedAsNew { input: can.0, version: can.1 },
            None => Outcome::Failed(f),
        },
    };
    complete(&outcome);
}

fn read_start_info() -> Result<cbor::StartInfo, String> {
    let mut buf = vec![0u8; 1024];
    let n = host::start_info(&mut buf);
    if n < 0 {
        return Err(format!("start_info returned {}", n));
    }
    if n as usize > buf.len() {
        buf = vec![0u8; n as usize];
        let m = host::start_info(&mut buf);
        if m != n {
            return Err(format!("start_info size {}, then {}", n, m));
        }
    }
    cbor::decode_start_info(&buf[..n as usize]).map_err(|e| e.to_string())
}

/// Defines the module's exports (`durohost_run`, `durohost_abi_version`) from a function that
/// registers its orchestrations. Use it once, in the crate root of a `cdylib`.
///
/// ```ignore
/// fn register(r: &mut durohost::Registry) {
///     r.add("hello", hello);
/// }
/// durohost::export!(register);
/// ```
#[macro_export]
macro_rules! export {
    ($register:path) => {
        /// Runs the orchestration the host's StartInfo names (the durohost_run export).
        #[no_mangle]
        pub extern "C" fn durohost_run() {
            $crate::__run($register)
        }

        /// The ABI version of the module (the durohost_abi_version export).
        #[no_mangle]
        pub extern "C" fn durohost_abi_version() -> i32 {
            $crate::ABI_VERSION
        }
    };
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cmp::Ordering::*;

    #[test]
    fn versions_compare_as_in_go() {
        assert_eq!(compare_versions("1.10", "1.9"), Greater);
        assert_eq!(compare_versions("1.9", "1"), Greater);
        assert_eq!(compare_versions("1", ""), Greater);
        assert_eq!(compare_versions("2", "10"), Less);
        assert_eq!(compare_versions("b", "a"), Greater);
        assert_eq!(compare_versions("01", "1"), Equal);
    }

    #[test]
    fn lookup_picks_the_highest_version() {
        async fn v(_: OrchestrationContext, _: String) -> Result<String, Failure> {
            Ok(String::new())
        }
        let mut r = Registry::default();
        r.add_version("x", "1", v).add_version("x", "1.10", v).add_version("x", "1.9", v).add("y", v);
        assert_eq!(r.lookup("x", "").unwrap().version, "1.10");
        assert_eq!(r.lookup("x", "1.9").unwrap().version, "1.9");
        assert!(r.lookup("x", "3").is_none());
        assert_eq!(r.list()[0], ("x".to_string(), "1".to_string()));
    }
}
