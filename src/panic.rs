//! Catching panics from the engines pvc embeds (tract) without printing them.

use std::cell::Cell;

std::thread_local! {
    /// Set while this thread runs inside [`catch_quietly`]: the panic hook then stays silent.
    static QUIET: Cell<bool> = const { Cell::new(false) };
}

/// Runs `f`; a panic inside it comes back as `Err(message)` (on one line) and prints nothing.
///
/// The first call installs, once per process, a panic hook that defers to the one it replaced
/// except on threads currently inside `catch_quietly`, so panics elsewhere (other threads, the
/// test harness) still print as before.
pub fn catch_quietly<T>(f: impl FnOnce() -> T) -> Result<T, String> {
    static HOOK: std::sync::Once = std::sync::Once::new();
    HOOK.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if !QUIET.with(Cell::get) {
                previous(info)
            }
        }));
    });
    let was = QUIET.with(|q| q.replace(true));
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f));
    QUIET.with(|q| q.set(was));
    result.map_err(|payload| {
        let what = payload
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "unknown panic".into());
        what.split_whitespace().collect::<Vec<_>>().join(" ")
    })
}
