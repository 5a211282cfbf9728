//! The orchestration's view of its execution.

use crate::cbor::{Command, CommandKind};
use crate::failure::Failure;
use crate::future::{Decoder, DurableFuture};
use crate::payload::{self, Decode, Encode};
use crate::retry::{nanos, RetryPolicy};
use crate::runtime::{self, Machine, RetryMachine};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Levels of replay-safe log lines (ABI.md, "Log levels").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogLevel {
    /// Debug.
    Debug = 0,
    /// Info.
    Info = 1,
    /// Warn.
    Warn = 2,
    /// Error.
    Error = 3,
}

/// Options of a call: an activity, a sub-orchestration or a detached orchestration.
///
/// ```
/// use durohost::{CallOptions, RetryPolicy};
/// let o = CallOptions::new().instance_id("order-7-payment").version("2");
/// let r = CallOptions::new().retry(RetryPolicy::new(3));
/// # let _ = (o, r);
/// ```
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CallOptions {
    retry: Option<RetryPolicy>,
    instance_id: String,
    version: String,
}

impl CallOptions {
    /// No options.
    pub fn new() -> CallOptions {
        CallOptions::default()
    }

    /// Retries the call according to the policy (activities, and sub-orchestrations with a
    /// derived instance ID: every attempt is a new child).
    pub fn retry(mut self, p: RetryPolicy) -> CallOptions {
        self.retry = Some(p);
        self
    }

    /// Gives a sub-orchestration or a detached orchestration an explicit instance ID; without
    /// it the host derives one (`<parent>:<execution>:<handle>`).
    pub fn instance_id(mut self, id: &str) -> CallOptions {
        self.instance_id = id.to_string();
        self
    }

    /// Runs a given version of a sub-orchestration or a detached orchestration; without it
    /// the highest registered version runs.
    pub fn version(mut self, v: &str) -> CallOptions {
        self.version = v.to_string();
        self
    }

    fn check(&self, what: &str) {
        match what {
            "activity" if !self.instance_id.is_empty() || !self.version.is_empty() => {
                panic!("durohost: instance_id and version do not apply to activities")
            }
            "detached orchestration" if self.retry.is_some() => {
                panic!("durohost: retry does not apply to detached orchestrations")
            }
            "sub-orchestration" if self.retry.is_some() && !self.instance_id.is_empty() => {
                panic!("durohost: retry needs a derived instance ID: every attempt is a new child")
            }
            _ => {}
        }
        if let Some(p) = &self.retry {
            p.validate();
        }
    }
}

/// An orchestration's view of its execution: its metadata, and the only way to start work,
/// wait, set a custom status and log. It is a copyable handle, valid while its orchestration
/// runs; using it afterwards panics.
#[derive(Debug, Clone, Copy)]
pub struct OrchestrationContext {
    _private: (),
}

impl OrchestrationContext {
    pub(crate) fn new() -> OrchestrationContext {
        OrchestrationContext { _private: () }
    }

    /// The ID of the orchestration instance.
    pub fn instance_id(&self) -> String {
        runtime::with_info(|s| s.info.instance_id.clone())
    }

    /// The number of the execution: 1 for the first, incremented by every continue-as-new.
    pub fn execution_id(&self) -> u32 {
        runtime::with_info(|s| s.info.execution_id)
    }

    /// The orchestration's registered name.
    pub fn name(&self) -> String {
        runtime::with_info(|s| s.info.name.clone())
    }

    /// The registered version that runs (the highest one when the start request named none),
    /// or "" for an unversioned orchestration.
    pub fn version(&self) -> String {
        runtime::with_info(|s| s.version.clone())
    }

    /// The instance ID of the parent orchestration, or "" when the instance is not a
    /// sub-orchestration.
    pub fn parent_id(&self) -> String {
        runtime::with_info(|s| s.info.parent_id.clone())
    }

    /// The logical time at which the execution started.
    pub fn start_time(&self) -> SystemTime {
        time_of(runtime::with_info(|s| s.info.start_time))
    }

    /// Whether the orchestration is re-executing a part that history already recorded. The
    /// log functions already drop output while replaying.
    pub fn is_replaying(&self) -> bool {
        runtime::with(|_| crate::host::is_replaying())
    }

    /// The logical time: the time of the turn being executed, recorded in history, so it is
    /// the same on every replay.
    pub fn now(&self) -> SystemTime {
        runtime::with(|_| time_of(crate::host::now_nanos()))
    }

    /// A random RFC 4122 version 4 UUID in its canonical text form, from the execution's
    /// random stream, which the host seeds per execution: replay returns the same UUIDs in
    /// the same order (and the Go SDK's `NewUUID` the same ones).
    pub fn new_uuid(&self) -> String {
        let mut b = [0u8; 16];
        self.random_bytes(&mut b);
        b[6] = (b[6] & 0x0f) | 0x40;
        b[8] = (b[8] & 0x3f) | 0x80;
        let mut s = String::with_capacity(36);
        for (i, x) in b.iter().enumerate() {
            if matches!(i, 4 | 6 | 8 | 10) {
                s.push('-');
            }
            s.push_str(&format!("{:02x}", x));
        }
        s
    }

    /// Fills buf with bytes of the execution's random stream (deterministic on replay).
    pub fn random_bytes(&self, buf: &mut [u8]) {
        runtime::with(|_| crate::host::random(buf))
    }

    /// The instance's custom status, if one is set. A new execution starts with the status its
    /// previous execution left (continue-as-new).
    pub fn custom_status(&self) -> Option<Vec<u8>> {
        runtime::with_info(|s| s.status.clone())
    }

    /// Sets the instance's custom status, visible to clients; the host records it in history.
    pub fn set_custom_status(&self, status: impl AsRef<[u8]>) {
        let status = status.as_ref();
        runtime::with(|s| {
            s.status = Some(status.to_vec());
            crate::host::set_status(Some(status));
        })
    }

    /// Sets the custom status to an encoded value (JSON by convention).
    pub fn set_custom_status_typed<T: Encode + ?Sized>(&self, status: &T) -> Result<(), Failure> {
        let b = status.encode().map_err(|e| Failure::bad_payload(format!("encode custom status: {}", e)))?;
        self.set_custom_status(b);
        Ok(())
    }

    /// Removes the instance's custom status.
    pub fn clear_custom_status(&self) {
        runtime::with(|s| {
            s.status = None;
            crate::host::set_status(None);
        })
    }

    /// Writes a replay-safe log line: the host records it, and drops it while the
    /// orchestration replays. See also the [`info!`](crate::info) macros, which do not format
    /// the line while replaying.
    pub fn log(&self, level: LogLevel, msg: &str) {
        runtime::with(|_| {
            if !crate::host::is_replaying() {
                crate::host::log(level as i32, msg);
            }
        })
    }

    /// Like [`log`](Self::log), formatting the line only when it is not dropped.
    pub fn log_with(&self, level: LogLevel, msg: impl FnOnce() -> String) {
        if !self.is_replaying() {
            let m = msg();
            runtime::with(|_| crate::host::log(level as i32, &m));
        }
    }

    /// Ends this execution and starts a new one of the same instance with input; the custom
    /// status and the unconsumed queue messages carry over. Return its value from the
    /// orchestration: `return ctx.continue_as_new(input);`.
    pub fn continue_as_new<T>(&self, input: impl AsRef<[u8]>) -> Result<T, Failure> {
        self.continue_as_new_version(input, "")
    }

    /// [`continue_as_new`](Self::continue_as_new), the next execution running version (""
    /// keeps the current one).
    pub fn continue_as_new_version<T>(&self, input: impl AsRef<[u8]>, version: &str) -> Result<T, Failure> {
        let mut f = Failure::application("", "continue as new");
        f.continue_as_new = Some(Box::new((input.as_ref().to_vec(), version.to_string())));
        Err(f)
    }

    fn call<T>(&self, what: &str, cmd: Command, opts: &CallOptions, decode: Decoder<T>) -> DurableFuture<T> {
        opts.check(what);
        if cmd.name.is_empty() {
            panic!("durohost: {} with an empty name", what);
        }
        let slot = runtime::with(|s| match &opts.retry {
            Some(p) => {
                let m = RetryMachine::start(s, cmd, p.clone());
                s.new_slot(Machine::Retry(m))
            }
            None => {
                let h = s.schedule(&cmd);
                s.new_slot(Machine::Handle(h))
            }
        });
        DurableFuture::new(slot, decode)
    }

    fn simple<T>(&self, kind: CommandKind, name: &str, input: &[u8], delay: i64, decode: Decoder<T>) -> DurableFuture<T> {
        let slot = runtime::with(|s| {
            let h = s.schedule_parts(kind, name, input, "", "", delay);
            s.new_slot(Machine::Handle(h))
        });
        DurableFuture::new(slot, decode)
    }

    /// Schedules the activity name with an input (JSON by convention) and returns the future
    /// of its result.
    pub fn schedule_activity(&self, name: &str, input: impl AsRef<[u8]>) -> DurableFuture<String> {
        if name.is_empty() {
            panic!("durohost: activity with an empty name");
        }
        self.simple(CommandKind::Activity, name, input.as_ref(), 0, payload::text)
    }

    /// [`schedule_activity`](Self::schedule_activity) with options (a retry policy).
    pub fn schedule_activity_with(&self, name: &str, input: impl AsRef<[u8]>, opts: &CallOptions) -> DurableFuture<String> {
        self.call("activity", Command::new(CommandKind::Activity, name, input.as_ref()), opts, payload::text)
    }

    /// [`schedule_activity_with`](Self::schedule_activity_with) with an encoded input and a
    /// decoded result.
    pub fn schedule_activity_typed<I: Encode + ?Sized, O: Decode>(&self, name: &str, input: &I, opts: &CallOptions) -> DurableFuture<O> {
        match payload::encode_input("activity", name, input) {
            Ok(b) => self.call("activity", Command::new(CommandKind::Activity, name, &b), opts, payload::typed::<O>),
            Err(f) => DurableFuture::failed(f, payload::typed::<O>),
        }
    }

    fn sub_command(&self, kind: CommandKind, name: &str, input: &[u8], opts: &CallOptions) -> Command {
        let mut c = Command::new(kind, name, input);
        c.version = opts.version.clone();
        c.instance_id = opts.instance_id.clone();
        c
    }

    /// Starts the orchestration name as a child of this one and returns the future of its
    /// output. Cancelling the future cancels the child.
    pub fn schedule_sub_orchestration(&self, name: &str, input: impl AsRef<[u8]>) -> DurableFuture<String> {
        self.schedule_sub_orchestration_with(name, input, &CallOptions::new())
    }

    /// [`schedule_sub_orchestration`](Self::schedule_sub_orchestration) with options: an
    /// instance ID, a version, a retry policy (with a derived instance ID only).
    pub fn schedule_sub_orchestration_with(&self, name: &str, input: impl AsRef<[u8]>, opts: &CallOptions) -> DurableFuture<String> {
        let c = self.sub_command(CommandKind::SubOrchestration, name, input.as_ref(), opts);
        self.call("sub-orchestration", c, opts, payload::text)
    }

    /// [`schedule_sub_orchestration_with`](Self::schedule_sub_orchestration_with) with an
    /// encoded input and a decoded output.
    pub fn schedule_sub_orchestration_typed<I: Encode + ?Sized, O: Decode>(&self, name: &str, input: &I, opts: &CallOptions) -> DurableFuture<O> {
        match payload::encode_input("sub-orchestration", name, input) {
            Ok(b) => {
                let c = self.sub_command(CommandKind::SubOrchestration, name, &b, opts);
                self.call("sub-orchestration", c, opts, payload::typed::<O>)
            }
            Err(f) => DurableFuture::failed(f, payload::typed::<O>),
        }
    }

    /// Starts the orchestration name as a new, independent instance (this one does not wait
    /// for it, and its end does not concern this one). The future completes at once with the
    /// new instance's ID. Options: an instance ID, a version.
    pub fn start_orchestration(&self, name: &str, input: impl AsRef<[u8]>, opts: &CallOptions) -> DurableFuture<String> {
        let c = self.sub_command(CommandKind::StartOrchestration, name, input.as_ref(), opts);
        self.call("detached orchestration", c, opts, payload::text)
    }

    /// A durable timer that completes d after the current logical time. It survives restarts
    /// and costs nothing while pending.
    pub fn create_timer(&self, d: Duration) -> DurableFuture<()> {
        self.simple(CommandKind::Timer, "", &[], nanos(d), payload::unit)
    }

    /// Waits for a durable timer of d: `ctx.sleep(d).await?`.
    pub fn sleep(&self, d: Duration) -> DurableFuture<()> {
        self.create_timer(d)
    }

    /// Subscribes to the next external event called name and returns the future of its data.
    /// Events are positional: each subscription takes the oldest event of that name not yet
    /// taken, including events raised before the subscription was made. Cancelling the future
    /// gives an event it received but did not read back to the next subscription.
    pub fn wait_for_event(&self, name: &str) -> DurableFuture<String> {
        if name.is_empty() {
            panic!("durohost: wait_for_event with an empty name");
        }
        self.simple(CommandKind::WaitEvent, name, &[], 0, payload::text)
    }

    /// [`wait_for_event`](Self::wait_for_event) with the data decoded.
    pub fn wait_for_event_typed<T: Decode>(&self, name: &str) -> DurableFuture<T> {
        if name.is_empty() {
            panic!("durohost: wait_for_event with an empty name");
        }
        self.simple(CommandKind::WaitEvent, name, &[], 0, payload::typed::<T>)
    }

    /// Takes the next message of the instance's persistent queue called name (FIFO) and returns
    /// the future of its data. Unconsumed messages survive continue-as-new.
    pub fn dequeue(&self, queue: &str) -> DurableFuture<String> {
        if queue.is_empty() {
            panic!("durohost: dequeue with an empty queue name");
        }
        self.simple(CommandKind::Dequeue, queue, &[], 0, payload::text)
    }

    /// [`dequeue`](Self::dequeue) with the message decoded.
    pub fn dequeue_typed<T: Decode>(&self, queue: &str) -> DurableFuture<T> {
        if queue.is_empty() {
            panic!("durohost: dequeue with an empty queue name");
        }
        self.simple(CommandKind::Dequeue, queue, &[], 0, payload::typed::<T>)
    }
}

fn time_of(nanos: i64) -> SystemTime {
    if nanos >= 0 {
        UNIX_EPOCH + Duration::from_nanos(nanos as u64)
    } else {
        UNIX_EPOCH - Duration::from_nanos(nanos.unsigned_abs())
    }
}

/// Writes a replay-safe log line at info level, formatted only when the host keeps it:
/// `durohost::info!(ctx, "charged {} for {}", amount, order)`.
#[macro_export]
macro_rules! info {
    ($ctx:expr, $($arg:tt)+) => { $ctx.log_with($crate::LogLevel::Info, || format!($($arg)+)) };
}

/// [`info!`] at debug level.
#[macro_export]
macro_rules! debug {
    ($ctx:expr, $($arg:tt)+) => { $ctx.log_with($crate::LogLevel::Debug, || format!($($arg)+)) };
}

/// [`info!`] at warn level.
#[macro_export]
macro_rules! warn {
    ($ctx:expr, $($arg:tt)+) => { $ctx.log_with($crate::LogLevel::Warn, || format!($($arg)+)) };
}

/// [`info!`] at error level.
#[macro_export]
macro_rules! error {
    ($ctx:expr, $($arg:tt)+) => { $ctx.log_with($crate::LogLevel::Error, || format!($($arg)+)) };
}
