//! The futures of an orchestration and their combinators.

use crate::failure::Failure;
use crate::runtime;
use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;
use std::task::{Context, Poll};

/// How a future turns the payload of its completion into its output.
pub(crate) type Decoder<T> = fn(Vec<u8>) -> Result<T, Failure>;

/// The future of something an orchestration started: an activity, a timer, an external event,
/// a queue message, a sub-orchestration. The command is recorded when the future is created,
/// not when it is first polled, so commands are recorded in the order the code creates them.
///
/// `.await` it for its output: `Ok` with the result, or `Err` with the failure (a cancelled
/// future fails with kind cancelled). Nothing runs while the orchestration is not waiting, and
/// every wait is one `await` host call.
///
/// Dropping a future that has not completed does **not** cancel its work (as in the Go SDK: an
/// orchestration may start an activity and never wait for it); call [`cancel`](Self::cancel),
/// or let [`select`]/[`select2`] cancel the losers. A retried call whose future was dropped
/// goes on with its attempts while the orchestration waits for other things.
#[must_use = "a durable future records its command when created; await it, cancel it, or drop it on purpose"]
pub struct DurableFuture<T> {
    slot: u32,
    immediate: Option<Failure>,
    decode: Decoder<T>,
    _t: PhantomData<fn() -> T>,
}

const NO_SLOT: u32 = u32::MAX;

impl<T> DurableFuture<T> {
    pub(crate) fn new(slot: u32, decode: Decoder<T>) -> DurableFuture<T> {
        DurableFuture { slot, immediate: None, decode, _t: PhantomData }
    }

    /// A future that has failed already, without any command (a typed helper whose input
    /// could not be encoded).
    pub(crate) fn failed(f: Failure, decode: Decoder<T>) -> DurableFuture<T> {
        DurableFuture { slot: NO_SLOT, immediate: Some(f), decode, _t: PhantomData }
    }

    /// Cancels the work if it has not completed: the host records the cancellation and stops
    /// it (an activity is withdrawn, a child orchestration cancelled, a timer ignored, an event
    /// or queue subscription withdrawn, giving back an event it received but did not read).
    /// The future then completes with a failure of kind cancelled. Cancelling a completed or
    /// cancelled future does nothing: a completed one keeps its result.
    pub fn cancel(&mut self) {
        if self.slot != NO_SLOT {
            runtime::with(|s| s.cancel_slot(self.slot));
        }
    }

    /// The same future with its result as raw bytes (to mix futures of several output types
    /// in one [`select`]; a timer's result is empty).
    pub fn into_bytes(self) -> DurableFuture<Vec<u8>> {
        let mut me = std::mem::ManuallyDrop::new(self);
        DurableFuture {
            slot: me.slot,
            immediate: me.immediate.take(),
            decode: Ok,
            _t: PhantomData,
        }
    }

    /// The same future with its result as text (see [`into_bytes`](Self::into_bytes)).
    pub fn into_text(self) -> DurableFuture<String> {
        let mut me = std::mem::ManuallyDrop::new(self);
        DurableFuture {
            slot: me.slot,
            immediate: me.immediate.take(),
            decode: crate::payload::text,
            _t: PhantomData,
        }
    }
}

impl<T> Future for DurableFuture<T> {
    type Output = Result<T, Failure>;

    fn poll(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<Self::Output> {
        let me = self.get_mut();
        if me.slot == NO_SLOT {
            return match me.immediate.take() {
                Some(f) => Poll::Ready(Err(f)),
                None => panic!("durohost: a future polled after it completed"),
            };
        }
        match runtime::with(|s| s.poll_slot(me.slot)) {
            Some(r) => {
                me.slot = NO_SLOT;
                Poll::Ready(r.and_then(me.decode))
            }
            None => Poll::Pending,
        }
    }
}

impl<T> Drop for DurableFuture<T> {
    fn drop(&mut self) {
        if self.slot != NO_SLOT {
            let slot = self.slot;
            // Dropped after the orchestration returned (the executor is being torn down):
            // nothing to release.
            if !std::thread::panicking() && runtime::active() {
                runtime::with(|s| s.drop_slot(slot));
            }
        }
    }
}

/// A future whose work can be cancelled: what [`select`] and [`select2`] accept.
pub trait Cancellable: Future + Unpin {
    /// Cancels the work if it has not completed (see [`DurableFuture::cancel`]).
    fn cancel(&mut self);
}

impl<T> Cancellable for DurableFuture<T> {
    fn cancel(&mut self) {
        DurableFuture::cancel(self)
    }
}

/// Waits for the first of several futures to complete, cancels all the others (in order) and
/// returns the winner's index and output. When several have completed, the one that completed
/// first in history wins, so the choice is deterministic; a future given already completed wins
/// before the others. Panics when given no future. One host wait names at most the ABI's 4,096
/// handles: beyond them, "first in history" holds within each wait's slice (the handles of the
/// first futures in argument order), which is still deterministic: replay chooses the same.
///
/// ```no_run
/// # async fn f(ctx: durohost::OrchestrationContext) -> Result<String, durohost::Failure> {
/// use std::time::Duration;
/// let approval = ctx.wait_for_event("approved").into_bytes();
/// let timeout = ctx.create_timer(Duration::from_secs(3600)).into_bytes();
/// let (i, _) = durohost::select(vec![approval, timeout]).await;
/// Ok(if i == 0 { "approved".into() } else { "expired".into() })
/// # }
/// ```
pub fn select<F: Cancellable>(futures: Vec<F>) -> Select<F> {
    if futures.is_empty() {
        panic!("durohost: select of no futures");
    }
    Select { futures, done: false }
}

/// The future of [`select`].
pub struct Select<F> {
    futures: Vec<F>,
    done: bool,
}

impl<F: Cancellable> Future for Select<F> {
    type Output = (usize, F::Output);

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let me = self.get_mut();
        if me.done {
            panic!("durohost: select polled after it completed");
        }
        for i in 0..me.futures.len() {
            if let Poll::Ready(v) = Pin::new(&mut me.futures[i]).poll(cx) {
                me.done = true;
                for (j, f) in me.futures.iter_mut().enumerate() {
                    if j != i {
                        f.cancel();
                    }
                }
                return Poll::Ready((i, v));
            }
        }
        Poll::Pending
    }
}

/// One of two outputs: which future of [`select2`] won.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Either<A, B> {
    /// The first future won.
    Left(A),
    /// The second future won.
    Right(B),
}

/// [`select`] of two futures of different output types: waits for the first to complete and
/// cancels the other.
pub fn select2<A: Cancellable, B: Cancellable>(a: A, b: B) -> Select2<A, B> {
    Select2 { a, b, done: false }
}

/// The future of [`select2`].
pub struct Select2<A, B> {
    a: A,
    b: B,
    done: bool,
}

impl<A: Cancellable, B: Cancellable> Future for Select2<A, B> {
    type Output = Either<A::Output, B::Output>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let me = self.get_mut();
        if me.done {
            panic!("durohost: select2 polled after it completed");
        }
        if let Poll::Ready(v) = Pin::new(&mut me.a).poll(cx) {
            me.done = true;
            me.b.cancel();
            return Poll::Ready(Either::Left(v));
        }
        if let Poll::Ready(v) = Pin::new(&mut me.b).poll(cx) {
            me.done = true;
            me.a.cancel();
            return Poll::Ready(Either::Right(v));
        }
        Poll::Pending
    }
}

enum MaybeDone<F: Future> {
    Pending(F),
    Done(F::Output),
    Taken,
}

impl<F: Future> MaybeDone<F> {
    /// Polls a pinned element; true once it is done.
    fn poll_pinned(self: Pin<&mut Self>, cx: &mut Context<'_>) -> bool {
        // Safety: the element is never moved while Pending (it lives in a pinned box); it
        // is replaced in place (dropping the future) once it completed.
        let me = unsafe { self.get_unchecked_mut() };
        match me {
            MaybeDone::Pending(f) => match unsafe { Pin::new_unchecked(f) }.poll(cx) {
                Poll::Ready(v) => {
                    *me = MaybeDone::Done(v);
                    true
                }
                Poll::Pending => false,
            },
            _ => true,
        }
    }

    fn take(self: Pin<&mut Self>) -> F::Output {
        let me = unsafe { self.get_unchecked_mut() };
        match std::mem::replace(me, MaybeDone::Taken) {
            MaybeDone::Done(v) => v,
            _ => panic!("durohost: join polled after it completed"),
        }
    }
}

/// Waits for every future and returns their outputs in argument order. Every future is awaited
/// even when an earlier one failed; the futures progress concurrently (an `async` block
/// among them runs its steps while the others wait). A join of [`DurableFuture`]s reads
/// their results in argument order, one wait each, like the Go SDK's `Join`.
///
/// ```no_run
/// # async fn f(ctx: durohost::OrchestrationContext) -> Result<String, durohost::Failure> {
/// let calls = (0..10).map(|i| ctx.schedule_activity("work", i.to_string())).collect();
/// let results = durohost::join_all(calls).await;
/// let ok: Result<Vec<String>, _> = results.into_iter().collect();
/// Ok(ok?.join(","))
/// # }
/// ```
pub fn join_all<F: Future>(futures: Vec<F>) -> JoinAll<F> {
    let elems: Vec<MaybeDone<F>> = futures.into_iter().map(MaybeDone::Pending).collect();
    // A join of the SDK's own futures waits for them in order, as the Go SDK's Join does:
    // their commands are recorded already and nothing runs when one completes, so waiting for
    // the first pending one only (one handle per await) changes nothing but the cost, which
    // is then constant per completion instead of growing with the number still pending.
    // Other futures (async blocks) are all polled every time, so that each progresses.
    let leaves = std::any::type_name::<F>().starts_with(LEAF_TYPE);
    JoinAll { elems: Pin::from(elems.into_boxed_slice()), leaves, next: 0 }
}

/// The type name of DurableFuture, to recognise joins of leaves.
const LEAF_TYPE: &str = "durohost::future::DurableFuture<";

/// The future of [`join_all`].
pub struct JoinAll<F: Future> {
    elems: Pin<Box<[MaybeDone<F>]>>,
    /// The elements are DurableFutures: wait for them in order.
    leaves: bool,
    /// In order: the first element not known to be done.
    next: usize,
}

impl<F: Future> Future for JoinAll<F> {
    type Output = Vec<F::Output>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let me = self.get_mut();
        let n = me.elems.len();
        if me.leaves {
            while me.next < n {
                let e = unsafe { me.elems.as_mut().get_unchecked_mut().get_unchecked_mut(me.next) };
                if !unsafe { Pin::new_unchecked(e) }.poll_pinned(cx) {
                    return Poll::Pending;
                }
                me.next += 1;
            }
        } else {
            let mut all = true;
            for i in 0..n {
                let e = unsafe { me.elems.as_mut().get_unchecked_mut().get_unchecked_mut(i) };
                if !unsafe { Pin::new_unchecked(e) }.poll_pinned(cx) {
                    all = false;
                }
            }
            if !all {
                return Poll::Pending;
            }
        }
        let mut out = Vec::with_capacity(n);
        for i in 0..n {
            let e = unsafe { me.elems.as_mut().get_unchecked_mut().get_unchecked_mut(i) };
            out.push(unsafe { Pin::new_unchecked(e) }.take());
        }
        Poll::Ready(out)
    }
}

/// Waits for two futures of any output types and returns both outputs.
pub fn join2<A: Future, B: Future>(a: A, b: B) -> Join2<A, B> {
    Join2 { a: Box::pin(MaybeDone::Pending(a)), b: Box::pin(MaybeDone::Pending(b)) }
}

/// The future of [`join2`].
pub struct Join2<A: Future, B: Future> {
    a: Pin<Box<MaybeDone<A>>>,
    b: Pin<Box<MaybeDone<B>>>,
}

impl<A: Future, B: Future> Future for Join2<A, B> {
    type Output = (A::Output, B::Output);

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let me = self.get_mut();
        let a = me.a.as_mut().poll_pinned(cx);
        let b = me.b.as_mut().poll_pinned(cx);
        if a && b {
            Poll::Ready((me.a.as_mut().take(), me.b.as_mut().take()))
        } else {
            Poll::Pending
        }
    }
}
