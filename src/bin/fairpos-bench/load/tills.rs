//! How a storm's tills sync: each as the real `fairpos sync` process (as a till's script
//! would), or each on a thread of the bench running the same sync pass (`uplink::sync_once`
//! over its own till database, its own runtime and its own connections to headquarters).
//! Either way every till is a real sync session over loopback. On this 2-core machine the
//! tills stand for devices elsewhere, and 500 program starts (loading, relocating and
//! faulting in an executable of 46 MB of code and data each) take CPU from headquarters
//! that a till's touchscreen, which syncs in the process it already runs, never spends.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use fairpos::till::Till;
use fairpos::uplink::{self, SyncOptions};

use super::{cpu_seconds, stat_field, BenchResult};

/// Where the tills run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum TillsAs {
    Processes,
    Threads,
}

/// One till's sync: how long it took from its start, and why it failed if it did.
pub type TillSync = (Duration, Result<(), String>);

/// Every till of `dirs` syncs at once, run as `how` says, `nicer` steps nicer than the bench
/// (as `nice -n` counts, up to 19); each till's sync, in the order of `dirs`, and the CPU
/// seconds the tills used. `fairpos` is the binary the processes run.
pub fn sync_at_once(
    dirs: &[PathBuf],
    how: TillsAs,
    fairpos: &Path,
    nicer: u8,
) -> BenchResult<(Vec<TillSync>, f64)> {
    // Never below the bench's own: raising another's priority takes a privilege.
    let nice = (own_nice()? + i32::from(nicer)).min(19);
    let thread_nanos = AtomicU64::new(0);
    let children_before = cpu_seconds("self")?.1;
    let syncs = std::thread::scope(|scope| -> BenchResult<Vec<TillSync>> {
        let mut tills: Vec<std::thread::ScopedJoinHandle<Result<TillSync, String>>> =
            Vec::with_capacity(dirs.len());
        for dir in dirs {
            let began = Instant::now();
            let till = match how {
                TillsAs::Processes => {
                    let mut child = std::process::Command::new(fairpos)
                        .arg("--data")
                        .arg(dir)
                        .args(["sync", "--timeout", "600"])
                        .stdout(Stdio::null())
                        .stderr(Stdio::piped())
                        .spawn()?;
                    if let Err(e) = renice(child.id(), nice) {
                        let _ = child.kill();
                        let _ = child.wait();
                        return Err(e.into());
                    }
                    // Each process is waited for on a thread of its own, so that its sync
                    // time is its own and not that of every till started before it.
                    std::thread::Builder::new()
                        .stack_size(64 * 1024)
                        .spawn_scoped(scope, move || {
                            let out = child.wait_with_output().map_err(|e| e.to_string())?;
                            let failed = (!out.status.success())
                                .then(|| String::from_utf8_lossy(&out.stderr).trim().to_string());
                            Ok((began.elapsed(), failed.map_or(Ok(()), Err)))
                        })?
                }
                TillsAs::Threads => {
                    let thread_nanos = &thread_nanos;
                    std::thread::Builder::new().spawn_scoped(scope, move || {
                        renice(own_thread_id()?, nice).map_err(|e| e.to_string())?;
                        let synced = sync_in_thread(dir);
                        thread_nanos.fetch_add(thread_cpu_nanos(), Ordering::Relaxed);
                        Ok((began.elapsed(), synced))
                    })?
                }
            };
            tills.push(till);
        }
        tills
            .into_iter()
            .map(|till| {
                till.join()
                    .map_err(|_| "a till's thread panicked")?
                    .map_err(Into::into)
            })
            .collect()
    })?;
    let cpu = match how {
        TillsAs::Processes => cpu_seconds("self")?.1 - children_before,
        TillsAs::Threads => thread_nanos.into_inner() as f64 / 1e9,
    };
    Ok((syncs, cpu))
}

/// What `fairpos --data DIR sync` does, on this thread.
fn sync_in_thread(dir: &Path) -> Result<(), String> {
    let options = SyncOptions {
        hq: None,
        timeout: Duration::from_secs(600),
    };
    let mut till = Till::open(dir).map_err(|e| e.to_string())?;
    uplink::sync_once(&mut till, &options)
        .map(|_| ())
        .map_err(|e| e.to_string())
}

/// The calling thread's id, which `setpriority` takes for a thread's nice value on Linux.
fn own_thread_id() -> Result<u32, String> {
    // SAFETY: gettid has no preconditions.
    let tid = unsafe { libc::gettid() };
    u32::try_from(tid).map_err(|_| format!("a thread id of {tid}"))
}

/// The CPU time the calling thread has used, in nanoseconds.
fn thread_cpu_nanos() -> u64 {
    let mut now = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `now` is a valid timespec for the call to fill.
    if unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut now) } != 0 {
        return 0;
    }
    u64::try_from(now.tv_sec).unwrap_or(0) * 1_000_000_000 + u64::try_from(now.tv_nsec).unwrap_or(0)
}

/// The calling thread's nice value, from its `/proc/thread-self/stat`.
fn own_nice() -> Result<i32, String> {
    let stat = std::fs::read_to_string("/proc/thread-self/stat").map_err(|e| e.to_string())?;
    nice_in(&stat)
}

/// The nice value in the text of a `/proc/…/stat`: its 19th field.
fn nice_in(stat: &str) -> Result<i32, String> {
    stat_field(stat, 19)
        .and_then(|nice| nice.parse().ok())
        .ok_or_else(|| format!("no nice value in {stat:?}"))
}

/// Sets process (or, on Linux, thread) `pid`'s nice value. The bench starts each till at
/// its own priority and sets the till's right after: through `nice(1)` every till would pay
/// another program's start, through a `pre_exec` hook every start would be a full `fork` of
/// the bench, and from a thread of the bench's running at the tills' nice value the tills
/// would start no faster than that thread gets the CPU among them. A till that has already
/// ended is no error.
fn renice(pid: u32, nice: i32) -> std::io::Result<()> {
    // SAFETY: a plain system call on a process id.
    let done = unsafe { libc::setpriority(libc::PRIO_PROCESS, libc::id_t::from(pid), nice) };
    let error = std::io::Error::last_os_error();
    if done == 0 || error.raw_os_error() == Some(libc::ESRCH) {
        Ok(())
    } else {
        Err(error)
    }
}

#[cfg(test)]
mod tests {
    use super::{nice_in, own_nice, own_thread_id, renice, thread_cpu_nanos};
    use std::io::Write;

    /// A nice value above the caller's, which it may set without a privilege.
    fn nicer_than_own() -> i32 {
        (own_nice().unwrap() + 3).min(19)
    }

    #[test]
    fn a_reniced_process_runs_at_its_nice_value() {
        let nice = nicer_than_own();
        // A shell that waits for a line, then prints its own stat.
        let mut child = std::process::Command::new("sh")
            .args(["-c", "read line; cat /proc/$$/stat"])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        renice(child.id(), nice).unwrap();
        child.stdin.take().unwrap().write_all(b"go\n").unwrap();
        let out = child.wait_with_output().unwrap();
        assert!(out.status.success());
        let stat = String::from_utf8(out.stdout).unwrap();
        assert_eq!(nice_in(&stat), Ok(nice), "{stat}");
        // A process that has ended and been waited for is no error.
        renice(child_that_ended(), nice).unwrap();
    }

    #[test]
    fn a_reniced_thread_runs_at_its_nice_value_and_counts_its_own_cpu() {
        let own_before = own_nice().unwrap();
        let nice = nicer_than_own();
        let (after, busy) = std::thread::spawn(move || {
            renice(own_thread_id().unwrap(), nice).unwrap();
            let before = thread_cpu_nanos();
            let mut x = 0u64;
            while thread_cpu_nanos() - before < 5_000_000 {
                x = std::hint::black_box(x.wrapping_add(1));
            }
            (own_nice().unwrap(), thread_cpu_nanos() - before)
        })
        .join()
        .unwrap();
        assert_eq!(after, nice);
        assert!(busy >= 5_000_000, "{busy}");
        // The thread that asked is not reniced with it.
        assert_eq!(own_nice().unwrap(), own_before);
    }

    #[test]
    fn the_nice_value_is_read_after_the_command_whatever_it_holds() {
        let stat = "7 (a) (b c) S 1 2 3 4 5 6 7 8 9 10 11 12 13 14 20 -5 1 0";
        assert_eq!(nice_in(stat), Ok(-5));
        assert!(nice_in("7 (short) S 1 2").is_err());
    }

    /// The id of a process that has ended and been waited for.
    fn child_that_ended() -> u32 {
        let mut child = std::process::Command::new("true").spawn().unwrap();
        child.wait().unwrap();
        child.id()
    }
}
