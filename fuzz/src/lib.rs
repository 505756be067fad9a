//! What the fuzz targets share: the panic policy, and the app wired in-process for the
//! multipart target.
//!
//! # Panics
//!
//! `libfuzzer-sys` installs a panic hook that aborts on *every* panic, including the ones
//! signbridge deliberately catches (lopdf runs under `catch_unwind`; a parser panic becomes a
//! 422, not a crash). Those are handled by design, so by default [`init`] replaces that hook with
//! one that only records the panic (and prints each new panic location once, so they can still
//! be reported upstream). A panic that escapes the code under test is still fatal: [`check`]
//! catches it, prints it with its backtrace and aborts, which libFuzzer reports as a crash and
//! saves as `fuzz/artifacts/<target>/crash-*`.
//!
//! `FUZZ_STRICT_PANICS=1` keeps libfuzzer-sys's hook: any panic at all, caught later or not,
//! is a crash (use it to reproduce a caught panic with a full backtrace).

use std::collections::HashSet;
use std::panic::{self, AssertUnwindSafe};
use std::sync::Mutex;

/// The last panic seen (message, location, backtrace), from any thread.
static LAST_PANIC: Mutex<Option<String>> = Mutex::new(None);
/// Panic locations already printed.
static SEEN: Mutex<Option<HashSet<String>>> = Mutex::new(None);

fn strict() -> bool {
    std::env::var("FUZZ_STRICT_PANICS").is_ok_and(|v| !v.is_empty() && v != "0")
}

/// Installs the panic policy (call from the target's `init:`).
pub fn init() {
    if strict() {
        return;
    }
    let _aborting = panic::take_hook();
    panic::set_hook(Box::new(|info| {
        let location = info
            .location()
            .map(|l| format!("{}:{}:{}", l.file(), l.line(), l.column()))
            .unwrap_or_else(|| "<unknown>".into());
        let payload = info.payload();
        let message = payload
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "<non-string payload>".into());
        let thread = std::thread::current()
            .name()
            .unwrap_or("<unnamed>")
            .to_string();
        let first = SEEN
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get_or_insert_with(HashSet::new)
            .insert(location.clone());
        if first {
            eprintln!("[fuzz] panic in thread '{thread}' at {location}: {message} (a failure only if it escapes the code under test)");
        }
        let backtrace = std::backtrace::Backtrace::force_capture();
        *LAST_PANIC.lock().unwrap_or_else(|p| p.into_inner()) = Some(format!(
            "thread '{thread}' panicked at {location}:\n{message}\nstack backtrace:\n{backtrace}"
        ));
    }));
}

/// Runs `work` (one input through the code under test); a panic escaping it is a crash.
pub fn check<R>(what: &str, work: impl FnOnce() -> R) -> R {
    LAST_PANIC.lock().unwrap_or_else(|p| p.into_inner()).take();
    match panic::catch_unwind(AssertUnwindSafe(work)) {
        Ok(result) => result,
        Err(_) => fail(&format!("a panic escaped {what}")),
    }
}

/// Reports a failed expectation (with the last panic seen, if any) and aborts: a crash.
pub fn fail(why: &str) -> ! {
    eprintln!("\n==== signbridge fuzz failure: {why}");
    if let Some(last) = LAST_PANIC.lock().unwrap_or_else(|p| p.into_inner()).take() {
        eprintln!("---- last panic while running this input:\n{last}");
    }
    std::process::abort();
}

pub mod app;
