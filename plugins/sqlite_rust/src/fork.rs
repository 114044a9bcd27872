//! `pthread_atfork`: code that must run around a `fork` of this process.

#[cfg(unix)]
extern "C" {
    fn pthread_atfork(
        prepare: Option<extern "C" fn()>,
        parent: Option<extern "C" fn()>,
        child: Option<extern "C" fn()>,
    ) -> std::os::raw::c_int;
}

type Handler = Option<extern "C" fn()>;

/// Run `prepare` in the forking thread before every fork, `parent` and `child` after it in
/// each process. `child` must be async-signal-safe (atomics only). No-op off Unix.
pub fn at_fork(prepare: Handler, parent: Handler, child: Handler) {
    // SAFETY: registers plain `extern "C"` functions, valid for the life of the process.
    #[cfg(unix)]
    unsafe {
        pthread_atfork(prepare, parent, child);
    }
    #[cfg(not(unix))]
    let _ = (prepare, parent, child);
}
