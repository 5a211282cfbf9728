//! The imports of the module: the durohost_v1 host functions (ABI.md, "Host functions") and
//! the two WASI functions the SDK reads, the logical clock and the execution's random stream
//! (ABI.md, "Deterministic WASI"). Built for another architecture than wasm32 (to run the
//! SDK's unit tests natively) the functions exist but panic when called.

#[cfg(target_arch = "wasm32")]
mod imports {
    #[link(wasm_import_module = "durohost_v1")]
    extern "C" {
        pub fn start_info(buf: *mut u8, cap: i32) -> i32;
        pub fn schedule(cmd: *const u8, len: i32) -> i32;
        #[link_name = "await"]
        pub fn await_(handles: *const u32, count: i32) -> i32;
        pub fn result(handle: u32, buf: *mut u8, cap: i32) -> i32;
        pub fn cancel(handle: u32) -> i32;
        pub fn set_status(buf: *const u8, len: i32) -> i32;
        pub fn complete(buf: *const u8, len: i32) -> i32;
        pub fn log(level: i32, buf: *const u8, len: i32);
        pub fn is_replaying() -> i32;
    }

    #[link(wasm_import_module = "wasi_snapshot_preview1")]
    extern "C" {
        pub fn clock_time_get(id: u32, precision: u64, time: *mut u64) -> u16;
        pub fn random_get(buf: *mut u8, len: usize) -> u16;
    }
}

#[cfg(not(target_arch = "wasm32"))]
mod imports {
    //! Natively (the SDK's unit tests) the imports are those of a scripted fake host
    //! (`crate::fakehost`); outside tests they panic.
    #[cfg(test)]
    pub use crate::fakehost::imports::*;

    #[cfg(not(test))]
    const MSG: &str = "durohost: host functions exist only in a wasm32 build run by durohost";
    #[cfg(not(test))]
    macro_rules! absent {
        ($($name:ident($($arg:ty),*) $(-> $ret:ty)?;)*) => {$(
            pub unsafe fn $name($(_: $arg),*) $(-> $ret)? { panic!("{}", MSG) }
        )*};
    }
    #[cfg(not(test))]
    absent! {
        start_info(*mut u8, i32) -> i32;
        schedule(*const u8, i32) -> i32;
        await_(*const u32, i32) -> i32;
        result(u32, *mut u8, i32) -> i32;
        cancel(u32) -> i32;
        set_status(*const u8, i32) -> i32;
        complete(*const u8, i32) -> i32;
        log(i32, *const u8, i32);
        is_replaying() -> i32;
        clock_time_get(u32, u64, *mut u64) -> u16;
        random_get(*mut u8, usize) -> u16;
    }
}

/// Status codes (ABI.md, "Status codes").
pub(crate) const STATUS_NOT_READY: i32 = -1;

/// start_info(buf, cap): size-then-read of the StartInfo.
pub(crate) fn start_info(buf: &mut [u8]) -> i32 {
    unsafe { imports::start_info(buf.as_mut_ptr(), buf.len() as i32) }
}

/// schedule(cmd, len): records a command, returns its handle.
pub(crate) fn schedule(cmd: &[u8]) -> i32 {
    unsafe { imports::schedule(cmd.as_ptr(), cmd.len() as i32) }
}

/// await(handles, count): the index of the first complete future, first in history.
pub(crate) fn await_any(handles: &[u32]) -> i32 {
    // wasm32 is little-endian: a [u32] is the array of little-endian u32 the ABI wants.
    unsafe { imports::await_(handles.as_ptr(), handles.len() as i32) }
}

/// result(handle, buf, cap): size-then-read of a completion.
pub(crate) fn result(handle: u32, buf: &mut [u8]) -> i32 {
    unsafe { imports::result(handle, buf.as_mut_ptr(), buf.len() as i32) }
}

/// cancel(handle).
pub(crate) fn cancel(handle: u32) -> i32 {
    unsafe { imports::cancel(handle) }
}

/// set_status(buf, len); None clears the status (len = -1).
pub(crate) fn set_status(status: Option<&[u8]>) -> i32 {
    match status {
        Some(s) => unsafe { imports::set_status(s.as_ptr(), s.len() as i32) },
        None => unsafe { imports::set_status(std::ptr::null(), -1) },
    }
}

/// complete(buf, len) with an encoded Outcome.
pub(crate) fn complete(outcome: &[u8]) -> i32 {
    unsafe { imports::complete(outcome.as_ptr(), outcome.len() as i32) }
}

/// log(level, buf, len).
pub(crate) fn log(level: i32, msg: &str) {
    unsafe { imports::log(level, msg.as_ptr(), msg.len() as i32) }
}

/// is_replaying().
pub(crate) fn is_replaying() -> bool {
    unsafe { imports::is_replaying() != 0 }
}

/// The logical time in Unix nanoseconds (WASI realtime clock, a function of history).
pub(crate) fn now_nanos() -> i64 {
    let mut t = 0u64;
    let errno = unsafe { imports::clock_time_get(0, 1, &mut t) };
    if errno != 0 {
        panic!("durohost: clock_time_get failed with errno {}", errno);
    }
    t as i64
}

/// Fills buf from the execution's random stream (WASI random_get, seeded per execution).
pub(crate) fn random(buf: &mut [u8]) {
    let errno = unsafe { imports::random_get(buf.as_mut_ptr(), buf.len()) };
    if errno != 0 {
        panic!("durohost: random_get failed with errno {}", errno);
    }
}
