//! Which of the server's threads run nicer (`--background-nice`): the tills' sync and, on
//! SQLite, the projection, so that in a storm of tills the system gives organizers'
//! requests the cores first. Linux keeps a nice value per thread.

/// The calling thread's nice value (Linux keeps one per thread), if the system says.
fn thread_nice() -> Option<i32> {
    // SAFETY: gettid and getpriority have no preconditions; errno is the thread's own,
    // cleared first since -1 is also a nice value.
    unsafe {
        let thread = libc::gettid() as libc::id_t;
        *libc::__errno_location() = 0;
        let nice = libc::getpriority(libc::PRIO_PROCESS, thread);
        (nice != -1 || *libc::__errno_location() == 0).then_some(nice)
    }
}

/// The nice value of the server's background threads: `steps` nicer than the thread
/// calling (the server's), no nicer than 19; `None` for 0 steps (they keep the server's).
pub fn background_nice(steps: u8) -> Option<i32> {
    (steps > 0).then(|| (thread_nice().unwrap_or(0) + i32::from(steps)).min(19))
}

/// Gives the calling thread the nice value `nice` when given (not relative to the thread
/// that started it, which may be a background thread already); said once if refused.
pub fn set_thread_nice(nice: Option<i32>) {
    static REFUSED: std::sync::Once = std::sync::Once::new();
    let Some(nice) = nice else {
        return;
    };
    // SAFETY: gettid and setpriority have no preconditions.
    let set = unsafe { libc::setpriority(libc::PRIO_PROCESS, libc::gettid() as libc::id_t, nice) };
    if set != 0 {
        let why = std::io::Error::last_os_error();
        REFUSED.call_once(|| eprintln!("background threads at nice {nice}: {why}"));
    }
}
