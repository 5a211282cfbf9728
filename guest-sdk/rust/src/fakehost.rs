//! A scripted fake of the host for the SDK's native unit tests: it records the commands,
//! cancellations, statuses and the outcome, and delivers completions in the order a test
//! scripts them, as the host delivers them in history order.

use crate::cbor;
use std::cell::RefCell;
use std::collections::{HashMap, VecDeque};

/// What a completion delivers.
#[derive(Clone, Debug)]
pub(crate) enum Delivery {
    Done(&'static str),
    Fail(crate::FailureKind, &'static str, &'static str),
}

#[derive(Default)]
pub(crate) struct Fake {
    pub start: Vec<u8>,
    /// Decoded commands, by handle (handle = index + 1).
    pub commands: Vec<cbor::Command>,
    pub cancelled: Vec<u32>,
    /// Completions of handles, with their position in "history".
    pub done: HashMap<u32, (u64, Vec<u8>)>,
    pub released: Vec<u32>,
    pub seq: u64,
    /// Completions to deliver when the guest waits and nothing it waits for is complete.
    pub script: VecDeque<(u32, Delivery)>,
    pub outcome: Option<Vec<u8>>,
    pub statuses: Vec<Option<Vec<u8>>>,
    pub awaits: usize,
    /// The most handles one await was given.
    pub max_await: usize,
    pub now: u64,
}

thread_local! {
    pub(crate) static FAKE: RefCell<Fake> = RefCell::new(Fake::default());
}

pub(crate) fn reset() {
    FAKE.with(|f| *f.borrow_mut() = Fake { now: 1_000_000_000, ..Fake::default() });
}

pub(crate) fn script(items: &[(u32, Delivery)]) {
    FAKE.with(|f| f.borrow_mut().script.extend(items.iter().cloned()));
}

pub(crate) fn with<R>(f: impl FnOnce(&mut Fake) -> R) -> R {
    FAKE.with(|x| f(&mut x.borrow_mut()))
}

fn encode_completion(d: &Delivery) -> Vec<u8> {
    // {1: bytes} or {2: {1: kind, 2: code, 3: message}}
    let mut out = Vec::new();
    match d {
        Delivery::Done(r) => {
            out.extend_from_slice(&[0xa1, 0x01, 0x58, r.len() as u8]);
            out.extend_from_slice(r.as_bytes());
        }
        Delivery::Fail(kind, code, msg) => {
            out.extend_from_slice(&[0xa1, 0x02, 0xa3, 0x01, *kind as u8, 0x02, 0x78, code.len() as u8]);
            out.extend_from_slice(code.as_bytes());
            out.extend_from_slice(&[0x03, 0x78, msg.len() as u8]);
            out.extend_from_slice(msg.as_bytes());
        }
    }
    out
}

fn decode_command(b: &[u8]) -> cbor::Command {
    cbor::decode_command(b).expect("the SDK encoded an invalid command")
}

pub(crate) mod imports {
    use super::*;

    fn slice<'a>(p: *const u8, n: i32) -> &'a [u8] {
        if n <= 0 {
            return &[];
        }
        unsafe { std::slice::from_raw_parts(p, n as usize) }
    }

    pub unsafe fn start_info(buf: *mut u8, cap: i32) -> i32 {
        with(|f| {
            if f.start.len() <= cap as usize {
                std::ptr::copy_nonoverlapping(f.start.as_ptr(), buf, f.start.len());
            }
            f.start.len() as i32
        })
    }

    pub unsafe fn schedule(cmd: *const u8, n: i32) -> i32 {
        let c = decode_command(slice(cmd, n));
        with(|f| {
            f.commands.push(c);
            f.commands.len() as i32
        })
    }

    pub unsafe fn await_(handles: *const u32, count: i32) -> i32 {
        let hs = std::slice::from_raw_parts(handles, count as usize).to_vec();
        with(|f| {
            f.awaits += 1;
            f.max_await = f.max_await.max(hs.len());
            loop {
                let best = hs
                    .iter()
                    .enumerate()
                    .filter_map(|(i, h)| f.done.get(h).map(|(seq, _)| (*seq, i)))
                    .min();
                if let Some((_, i)) = best {
                    return i as i32;
                }
                let (h, d) = f.script.pop_front().unwrap_or_else(|| panic!("suspended: waiting on {:?}", hs));
                f.seq += 1;
                let seq = f.seq;
                if !f.cancelled.contains(&h) {
                    f.done.insert(h, (seq, encode_completion(&d)));
                }
            }
        })
    }

    pub unsafe fn result(h: u32, buf: *mut u8, cap: i32) -> i32 {
        with(|f| match f.done.get(&h) {
            None => -1,
            Some((_, c)) => {
                let n = c.len() as i32;
                if n <= cap {
                    std::ptr::copy_nonoverlapping(c.as_ptr(), buf, c.len());
                    f.done.remove(&h);
                    f.released.push(h);
                }
                n
            }
        })
    }

    pub unsafe fn cancel(h: u32) -> i32 {
        with(|f| {
            f.cancelled.push(h);
            f.done.remove(&h);
        });
        0
    }

    pub unsafe fn set_status(buf: *const u8, n: i32) -> i32 {
        let s = if n < 0 { None } else { Some(slice(buf, n).to_vec()) };
        with(|f| f.statuses.push(s));
        0
    }

    pub unsafe fn complete(buf: *const u8, n: i32) -> i32 {
        let o = slice(buf, n).to_vec();
        with(|f| f.outcome = Some(o));
        0
    }

    pub unsafe fn log(_: i32, _: *const u8, _: i32) {}

    pub unsafe fn is_replaying() -> i32 {
        0
    }

    pub unsafe fn clock_time_get(_: u32, _: u64, t: *mut u64) -> u16 {
        *t = with(|f| f.now);
        0
    }

    pub unsafe fn random_get(buf: *mut u8, n: usize) -> u16 {
        for i in 0..n {
            *buf.add(i) = i as u8;
        }
        0
    }
}
