//! The executor: one orchestration future, driven over the ABI's `await`.
//!
//! Every command the orchestration starts gets a *slot*: the state of its future (pending, or
//! settled with a result) and the *machine* that waits for it (one handle, or the attempts and
//! timers of a retried call). The executor polls the orchestration's future; a pending SDK
//! future that is polled registers its slot's handles for the next `await`. When the
//! orchestration is pending, the executor makes one `await` call over the registered handles
//! (plus those of retried calls, which progress even while nobody polls them, as in the Go
//! SDK), reads the one completion it returns, settles its slot, and polls again. So every wait
//! is one host call, which returns the completion that comes first in history: the order in
//! which the orchestration sees completions, and so every decision it makes, is a function of
//! history alone. Wakers are not used (nothing can complete outside `await`).

use crate::cbor::{self, Command, CommandKind, StartInfo};
use crate::failure::{codes, Failure, FailureKind};
use crate::host;
use crate::retry::RetryPolicy;
use std::cell::RefCell;

/// The largest number of handles one `await` accepts (ABI.md). When more are pending, one
/// wait covers the first ones in polling order (then the retried calls'); the others are
/// awaited once some of those complete. The choice depends on the code and history only, so
/// replay makes it again. The tests lower it to exercise the cut.
#[cfg(not(test))]
const MAX_AWAIT_HANDLES: usize = 4096;
#[cfg(test)]
const MAX_AWAIT_HANDLES: usize = 8;

/// Sizes of the completion buffer: the first one, and the largest kept for later results (a
/// larger completion is read into a buffer of its own).
const RESULT_BUF_SIZE: usize = 1 << 10;
const MAX_RESULT_BUF_SIZE: usize = 64 << 10;

/// What a slot waits on.
pub(crate) enum Machine {
    /// Nothing (free slot, or settled).
    None,
    /// One handle: every command but a retried call.
    Handle(u32),
    /// The attempts of a retried call.
    Retry(Box<RetryMachine>),
}

pub(crate) enum SlotState {
    Free,
    Pending,
    Settled(Result<Vec<u8>, Failure>),
}

pub(crate) struct Slot {
    state: SlotState,
    machine: Machine,
    /// The epoch in which the slot's handles were last added to the await list.
    mark: u32,
    /// Its future was dropped while a retried call was pending: the call goes on (as it does
    /// in the Go SDK) and the slot is freed when it settles.
    detached: bool,
}

/// The state of the running execution.
pub(crate) struct State {
    pub(crate) info: StartInfo,
    pub(crate) version: String,
    pub(crate) status: Option<Vec<u8>>,
    /// Set once the orchestration returned (or panicked): the context may not be used.
    pub(crate) done: bool,
    slots: Vec<Slot>,
    free: Vec<u32>,
    epoch: u32,
    /// Slots registered by the futures polled in this epoch, in polling order.
    interest: Vec<u32>,
    /// Slots of retried calls still pending.
    drivers: Vec<u32>,
    handles: Vec<u32>,
    owners: Vec<u32>,
    cmd: Vec<u8>,
    res: Vec<u8>,
}

thread_local! {
    static STATE: RefCell<Option<State>> = RefCell::new(None);
}

/// Runs f on the state of the running execution. Panics when no orchestration runs or after
/// it returned.
pub(crate) fn with<R>(f: impl FnOnce(&mut State) -> R) -> R {
    STATE.with(|s| {
        let mut b = s.borrow_mut();
        match b.as_mut() {
            Some(st) if !st.done => f(st),
            Some(_) => panic!("durohost: OrchestrationContext used after its orchestration returned"),
            None => panic!("durohost: OrchestrationContext used outside a running orchestration"),
        }
    })
}

/// Like with, for the accessors that remain valid after the orchestration returned.
pub(crate) fn with_info<R>(f: impl FnOnce(&State) -> R) -> R {
    STATE.with(|s| match s.borrow().as_ref() {
        Some(st) => f(st),
        None => panic!("durohost: OrchestrationContext used outside a running orchestration"),
    })
}

pub(crate) fn install(info: StartInfo, version: String) {
    let status = info.custom_status.clone();
    let st = State {
        info,
        version,
        status,
        done: false,
        slots: Vec::new(),
        free: Vec::new(),
        epoch: 0,
        interest: Vec::new(),
        drivers: Vec::new(),
        handles: Vec::new(),
        owners: Vec::new(),
        cmd: Vec::new(),
        res: Vec::new(),
    };
    STATE.with(|s| *s.borrow_mut() = Some(st));
}

/// Marks the orchestration as returned; returns false when no orchestration ran.
pub(crate) fn finish() -> bool {
    STATE.with(|s| match s.try_borrow_mut() {
        Ok(mut b) => match b.as_mut() {
            Some(st) => {
                st.done = true;
                true
            }
            None => false,
        },
        Err(_) => false,
    })
}

impl State {
    /// Records a command and returns its handle.
    pub(crate) fn schedule(&mut self, c: &Command) -> u32 {
        self.schedule_parts(c.kind, &c.name, &c.input, &c.version, &c.instance_id, c.delay)
    }

    pub(crate) fn schedule_parts(
        &mut self,
        kind: CommandKind,
        name: &str,
        input: &[u8],
        version: &str,
        instance_id: &str,
        delay: i64,
    ) -> u32 {
        self.cmd.clear();
        cbor::encode_command_parts(&mut self.cmd, kind, name, input, version, instance_id, delay);
        let h = host::schedule(&self.cmd);
        if h <= 0 {
            panic!("durohost: schedule {} {:?} returned {}", kind.name(), name, h);
        }
        h as u32
    }

    /// Reads and releases the completion of a handle that await reported complete.
    pub(crate) fn read_result(&mut self, h: u32) -> Result<Vec<u8>, Failure> {
        if self.res.is_empty() {
            self.res = vec![0; RESULT_BUF_SIZE];
        }
        let mut n = host::result(h, &mut self.res);
        if n == host::STATUS_NOT_READY {
            panic!("durohost: result of handle {} not ready after await reported it", h);
        }
        if n < 0 {
            panic!("durohost: result of handle {} returned {}", h, n);
        }
        let decoded = if n as usize > self.res.len() {
            let mut big = vec![0; n as usize];
            let m = host::result(h, &mut big);
            if m != n {
                panic!("durohost: result of handle {}: size {}, then {}", h, n, m);
            }
            n = m;
            let d = cbor::decode_completion(&big[..n as usize]);
            if n as usize <= MAX_RESULT_BUF_SIZE {
                self.res = big;
            }
            d
        } else {
            cbor::decode_completion(&self.res[..n as usize])
        };
        match decoded {
            Ok(c) => c,
            Err(e) => panic!("durohost: decode completion of handle {}: {}", h, e),
        }
    }

    pub(crate) fn cancel_handle(&mut self, h: u32) {
        let st = host::cancel(h);
        if st != 0 {
            panic!("durohost: cancel of handle {} returned {}", h, st);
        }
    }

    /// A new pending slot waiting on machine.
    pub(crate) fn new_slot(&mut self, machine: Machine) -> u32 {
        let retry = matches!(machine, Machine::Retry(_));
        let slot = Slot { state: SlotState::Pending, machine, mark: 0, detached: false };
        let idx = match self.free.pop() {
            Some(i) => {
                self.slots[i as usize] = slot;
                i
            }
            None => {
                self.slots.push(slot);
                (self.slots.len() - 1) as u32
            }
        };
        if retry {
            self.drivers.push(idx);
        }
        idx
    }

    fn free_slot(&mut self, idx: u32) {
        let s = &mut self.slots[idx as usize];
        s.state = SlotState::Free;
        s.machine = Machine::None;
        s.detached = false;
        self.free.push(idx);
    }

    /// Settles a slot with its result. retry says that it was a retried call: its machine has
    /// been taken out of the slot by then (to be advanced or cancelled), so the slot cannot
    /// tell, and a retried call that settled must leave the drivers (else the next future to
    /// reuse the slot would be awaited without being polled).
    fn settle(&mut self, idx: u32, r: Result<Vec<u8>, Failure>, retry: bool) {
        let s = &mut self.slots[idx as usize];
        s.machine = Machine::None;
        s.state = SlotState::Settled(r);
        if retry {
            if let Some(p) = self.drivers.iter().position(|&d| d == idx) {
                self.drivers.remove(p);
            }
        }
        if self.slots[idx as usize].detached {
            self.free_slot(idx);
        }
    }

    /// Polls a slot: its result once settled (the slot is then freed), or None after
    /// registering its handles for the next await.
    pub(crate) fn poll_slot(&mut self, idx: u32) -> Option<Result<Vec<u8>, Failure>> {
        let epoch = self.epoch;
        let s = &mut self.slots[idx as usize];
        match s.state {
            SlotState::Pending => {
                if s.mark != epoch {
                    s.mark = epoch;
                    self.interest.push(idx);
                }
                None
            }
            SlotState::Settled(_) => {
                let r = match std::mem::replace(&mut s.state, SlotState::Free) {
                    SlotState::Settled(r) => r,
                    _ => unreachable!(),
                };
                self.free_slot(idx);
                Some(r)
            }
            SlotState::Free => panic!("durohost: a future polled after it completed"),
        }
    }

    /// Cancels the work of a pending slot; its future then completes with a cancellation.
    pub(crate) fn cancel_slot(&mut self, idx: u32) {
        if !matches!(self.slots[idx as usize].state, SlotState::Pending) {
            return; // settled: its result stays readable; free: nothing to do
        }
        let retry = match std::mem::replace(&mut self.slots[idx as usize].machine, Machine::None) {
            Machine::Handle(h) => {
                self.cancel_handle(h);
                false
            }
            Machine::Retry(mut m) => {
                m.cancel(self);
                true
            }
            Machine::None => false,
        };
        self.settle(idx, Err(Failure::cancelled()), retry);
    }

    /// The future of a slot was dropped.
    pub(crate) fn drop_slot(&mut self, idx: u32) {
        let s = &mut self.slots[idx as usize];
        match (&s.state, &s.machine) {
            (SlotState::Pending, Machine::Retry(_)) => s.detached = true,
            (SlotState::Free, _) => {}
            _ => self.free_slot(idx),
        }
    }

    /// One await over the handles of the futures polled in this epoch and of the retried
    /// calls; settles or advances the slot whose completion comes first. Returns false when
    /// there is nothing to wait for.
    fn step(&mut self) -> bool {
        self.handles.clear();
        self.owners.clear();
        let epoch = self.epoch;
        for k in 0..self.interest.len() + self.drivers.len() {
            let idx = if k < self.interest.len() { self.interest[k] } else { self.drivers[k - self.interest.len()] };
            let s = &mut self.slots[idx as usize];
            if k >= self.interest.len() {
                if s.mark == epoch {
                    continue;
                }
                s.mark = epoch;
            }
            if !matches!(s.state, SlotState::Pending) {
                continue;
            }
            let need = match &s.machine {
                Machine::Retry(_) => 2,
                _ => 1,
            };
            if self.handles.len() + need > MAX_AWAIT_HANDLES {
                break;
            }
            let before = self.handles.len();
            match &s.machine {
                Machine::Handle(h) => self.handles.push(*h),
                Machine::Retry(m) => m.waiting(&mut self.handles),
                Machine::None => {}
            }
            for _ in before..self.handles.len() {
                self.owners.push(idx);
            }
        }
        if self.handles.is_empty() {
            return false;
        }
        let i = host::await_any(&self.handles);
        if i < 0 || i as usize >= self.handles.len() {
            panic!("durohost: await of {} handles returned {}", self.handles.len(), i);
        }
        let (idx, h) = (self.owners[i as usize], self.handles[i as usize]);
        match std::mem::replace(&mut self.slots[idx as usize].machine, Machine::None) {
            Machine::Handle(_) => {
                let r = self.read_result(h);
                self.settle(idx, r, false);
            }
            Machine::Retry(mut m) => match m.ready(self, h) {
                Some(r) => self.settle(idx, r, true),
                None => self.slots[idx as usize].machine = Machine::Retry(m),
            },
            Machine::None => unreachable!("durohost: internal error: a pending slot without a machine"),
        }
        true
    }
}

/// A no-op waker: the executor polls after every completion and needs no wake-ups.
fn noop_waker() -> std::task::Waker {
    use std::task::{RawWaker, RawWakerVTable, Waker};
    fn clone(_: *const ()) -> RawWaker {
        RawWaker::new(std::ptr::null(), &VTABLE)
    }
    fn noop(_: *const ()) {}
    static VTABLE: RawWakerVTable = RawWakerVTable::new(clone, noop, noop, noop);
    unsafe { Waker::from_raw(RawWaker::new(std::ptr::null(), &VTABLE)) }
}

/// Drives the orchestration's future to its end.
pub(crate) fn block_on<F: std::future::Future + ?Sized>(mut fut: std::pin::Pin<&mut F>) -> F::Output {
    let waker = noop_waker();
    let mut cx = std::task::Context::from_waker(&waker);
    loop {
        with(|s| {
            s.epoch = s.epoch.wrapping_add(1);
            s.interest.clear();
        });
        if let std::task::Poll::Ready(out) = fut.as_mut().poll(&mut cx) {
            return out;
        }
        if !with(|s| s.step()) {
            panic!(
                "durohost: the orchestration is pending but waits for no durohost future \
                 (only futures of OrchestrationContext, and combinations of them, can complete in an orchestration)"
            );
        }
    }
}

/// The attempts of a retried call: an attempt (with its timeout timer), then a backoff timer,
/// then the next attempt. It follows the Go SDK's retryMachine step for step, so that both
/// record the same history.
pub(crate) struct RetryMachine {
    cmd: Command,
    policy: RetryPolicy,
    attempt: u32,
    call: u32,
    timeout: u32,
    backoff: u32,
}

impl RetryMachine {
    /// Creates the machine and starts the first attempt.
    pub(crate) fn start(st: &mut State, cmd: Command, policy: RetryPolicy) -> Box<RetryMachine> {
        let mut m = Box::new(RetryMachine { cmd, policy, attempt: 0, call: 0, timeout: 0, backoff: 0 });
        m.attempt_now(st);
        m
    }

    fn attempt_now(&mut self, st: &mut State) {
        self.attempt += 1;
        self.call = st.schedule(&self.cmd);
        if self.policy.attempt_timeout_nanos() > 0 {
            self.timeout = st.schedule_parts(CommandKind::Timer, "", &[], "", "", self.policy.attempt_timeout_nanos());
        }
    }

    fn waiting(&self, dst: &mut Vec<u32>) {
        if self.backoff != 0 {
            dst.push(self.backoff);
            return;
        }
        dst.push(self.call);
        if self.timeout != 0 {
            dst.push(self.timeout);
        }
    }

    /// Advances after await reported h complete; Some when the call settled.
    fn ready(&mut self, st: &mut State, h: u32) -> Option<Result<Vec<u8>, Failure>> {
        let err;
        if h == self.backoff && h != 0 {
            self.backoff = 0;
            if let Err(e) = st.read_result(h) {
                return Some(Err(e)); // the timer itself failed (cancellation)
            }
            self.attempt_now(st);
            return None;
        } else if h == self.call && h != 0 {
            self.call = 0;
            let r = st.read_result(h);
            if self.timeout != 0 {
                st.cancel_handle(self.timeout);
                self.timeout = 0;
            }
            match r {
                Ok(v) => return Some(Ok(v)),
                Err(e) => err = e,
            }
        } else if h == self.timeout && h != 0 {
            self.timeout = 0;
            if let Err(e) = st.read_result(h) {
                st.cancel_handle(self.call);
                self.call = 0;
                return Some(Err(e));
            }
            st.cancel_handle(self.call);
            self.call = 0;
            err = Failure::new(
                FailureKind::Timeout,
                codes::ATTEMPT_TIMEOUT,
                &format!(
                    "{} {}: attempt {} timed out after {}",
                    self.cmd.kind.name(),
                    crate::gofmt::quote(&self.cmd.name),
                    self.attempt,
                    crate::gofmt::duration(self.policy.attempt_timeout_nanos())
                ),
            );
        } else {
            panic!("durohost: internal error: retry of {:?} woken by foreign handle {}", self.cmd.name, h);
        }
        let max = self.policy.max_attempts;
        if !self.policy.retryable(&err) || (max > 0 && self.attempt >= max) {
            return Some(Err(err));
        }
        self.backoff = st.schedule_parts(CommandKind::Timer, "", &[], "", "", self.policy.interval_nanos(self.attempt));
        None
    }

    fn cancel(&mut self, st: &mut State) {
        for h in [self.call, self.timeout, self.backoff] {
            if h != 0 {
                st.cancel_handle(h);
            }
        }
        self.call = 0;
        self.timeout = 0;
        self.backoff = 0;
    }
}

/// Whether an orchestration runs and may use its context (false after it returned, and while
/// the state is borrowed by a panicking SDK call).
pub(crate) fn active() -> bool {
    STATE.with(|s| match s.try_borrow() {
        Ok(b) => matches!(b.as_ref(), Some(st) if !st.done),
        Err(_) => false,
    })
}
