//! Passwords kept off the command line: `hq init` without `--organizer-password` and `hq
//! user add|passwd` without `--password`. With `--organizer-password-stdin` or
//! `--password-stdin`, the first line of standard input is the password; at a terminal (a
//! real pseudo-terminal here, the process leading a session with it as its controlling
//! terminal, as a login shell's commands do) it is typed twice, and the terminal's echo is
//! off while it is typed; with neither, the command is refused at once.

mod common;

use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::FromRawFd;
use std::os::unix::fs::OpenOptionsExt;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::api::Api;
use common::hq::{Hq, Server, PASSWORD};
use common::BIN;

/// `fairpos --data dir ARGS` with `input` on its standard input, which is then closed.
fn with_input(dir: &Path, args: &[&str], input: &str) -> Output {
    with_input_in(dir, args, input, &[])
}

/// [`with_input`], with the variables `environment` set.
fn with_input_in(dir: &Path, args: &[&str], input: &str, environment: &[(&str, &str)]) -> Output {
    let mut child = spawn_piped(dir, args, environment);
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

fn spawn_piped(dir: &Path, args: &[&str], environment: &[(&str, &str)]) -> Child {
    Command::new(BIN)
        .arg("--data")
        .arg(dir)
        .args(args)
        .env_remove("FAIRPOS_USER_PASSWORD")
        .env_remove("FAIRPOS_ORGANIZER_PASSWORD")
        .envs(environment.iter().copied())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

/// `fairpos --data dir ARGS` with a pipe on its standard input that nobody writes to or
/// closes (as `ssh host fairpos …` without a terminal gives): its exit code and standard
/// error, once it ends by itself (within 20 s).
fn with_input_left_open(dir: &Path, args: &[&str]) -> (Option<i32>, String) {
    let mut child = spawn_piped(dir, args, &[]);
    let open = child.stdin.take();
    let since = Instant::now();
    while child.try_wait().unwrap().is_none() {
        if since.elapsed() > Duration::from_secs(20) {
            let _ = child.kill();
            panic!("{args:?} waits on its standard input");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    drop(open);
    let out = child.wait_with_output().unwrap();
    (out.status.code(), stderr(&out))
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn a_password_is_read_from_standard_input_only_when_asked() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path();
    let init = ["hq", "init", "--demo", "--organizer-password-stdin"];
    let out = with_input(data, &init, "first-organizer-pw\n");
    assert!(out.status.success(), "{}", stderr(&out));
    let add = [
        "hq",
        "user",
        "add",
        "lead1",
        "--role",
        "stall-lead",
        "--stall",
        "S01",
    ];
    let with_stdin = [&add[..], &["--password-stdin"]].concat();
    // A file from a Windows editor: a byte order mark, CR LF; its spaces are the password's.
    // Asked for, standard input goes before the variable.
    let input = "\u{feff} lead one pw\r\nnot read\n";
    let environment = [("FAIRPOS_USER_PASSWORD", "from-the-environment")];
    let out = with_input_in(data, &with_stdin, input, &environment);
    assert!(out.status.success(), "{}", stderr(&out));
    let add2 = [&["hq", "user", "add", "lead2"][..], &add[4..]].concat();
    let add2_stdin = [&add2[..], &["--password-stdin"]].concat();
    // Nothing on standard input, or too short: refused in one line, no account made.
    let out = with_input(data, &add2_stdin, "");
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let said = "error: --password-stdin: standard input holds no password for lead2";
    assert_eq!(stderr(&out).trim_end(), said);
    let out = with_input(data, &add2_stdin, "short\n");
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("at least 8 characters"),
        "{}",
        stderr(&out)
    );
    // A first line longer than any password (`< /dev/zero`, say) is refused, not read on.
    let out = with_input(data, &add2_stdin, &"x".repeat(10_000));
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let said = stderr(&out);
    assert!(said.contains("longer than 4096 bytes"), "{said}");
    // Not asked to read standard input, and no terminal: refused at once, though the pipe
    // stays open, and nothing read from it.
    let (code, said) = with_input_left_open(data, &add2);
    assert_eq!(code, Some(2), "{said}");
    let expected = "error: no password for lead2: give --password or FAIRPOS_USER_PASSWORD, or \
                    --password-stdin with it on standard input, or type it at a terminal";
    assert_eq!(said.trim_end(), expected);
    // An account that exists is refused before any password is asked for.
    let (code, said) = with_input_left_open(data, &add);
    assert_eq!(code, Some(2), "{said}");
    assert!(said.contains("there is an account lead1 already"), "{said}");
    let out = with_input(data, &["hq", "user", "list"], "");
    assert!(!String::from_utf8_lossy(&out.stdout).contains("lead2"));
    // A database that cannot be reached is refused before any password is asked for, in a
    // line naming its address, the database's password masked.
    let other = tempfile::tempdir().unwrap();
    let nowhere = [
        "--database",
        "postgres://fairpos:hunter2@127.0.0.1:1/fairpos",
    ];
    let init_on = [&["hq", "init", "--demo"][..], &nowhere].concat();
    let (code, said) = with_input_left_open(other.path(), &init_on);
    assert_ne!(code, Some(0), "{said}");
    assert!(
        !said.contains("password") && !said.contains("hunter2"),
        "{said}"
    );
    let expected =
        "error: cannot reach the database at postgres://fairpos:***@127.0.0.1:1/fairpos: \
                    error connecting to server: ";
    assert!(said.starts_with(expected), "{said}");
    assert_eq!(said.trim_end().lines().count(), 1, "{said}");
    // init says where its password may be given.
    let (code, said) = with_input_left_open(other.path(), &["hq", "init", "--demo"]);
    assert_eq!(code, Some(2), "{said}");
    let expected = "no password for the organizer: give --organizer-password or \
                    FAIRPOS_ORGANIZER_PASSWORD, or --organizer-password-stdin with it";
    assert!(said.contains(expected), "{said}");

    // The option and the stdin flag together are refused (as docker login refuses them),
    // nothing read and no account made; the variable alone is taken.
    let add3 = [&["hq", "user", "add", "lead3"][..], &add[4..]].concat();
    let both = [
        &add3[..],
        &["--password", "lead3-on-the-line", "--password-stdin"],
    ]
    .concat();
    let out = with_input(data, &both, "lead3-from-stdin\n");
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let said = "error: the argument '--password <PW>' cannot be used with '--password-stdin'";
    assert!(stderr(&out).starts_with(said), "{}", stderr(&out));
    let other = tempfile::tempdir().unwrap();
    let init_both = [
        "hq",
        "init",
        "--demo",
        "--organizer-password",
        "organizer-pw-1",
    ];
    let init_both = [&init_both[..], &["--organizer-password-stdin"]].concat();
    let out = with_input(other.path(), &init_both, "organizer-pw-2\n");
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("cannot be used with"),
        "{}",
        stderr(&out)
    );
    assert!(!other.path().join("hq.db").exists());
    let environment = [("FAIRPOS_USER_PASSWORD", "lead3-from-the-environment")];
    let out = with_input_in(data, &add3, "lead3-not-read\n", &environment);
    assert!(out.status.success(), "{}", stderr(&out));

    let server = Server::start(data, &[]);
    let api = Api::new(&server.url);
    assert!(api.token_of("organizer", "first-organizer-pw").is_some());
    assert!(api
        .token_of("lead3", "lead3-from-the-environment")
        .is_some());
    assert!(api.token_of("lead1", " lead one pw").is_some());
    assert!(api.token_of("lead1", "lead one pw").is_none());
    assert!(api.token_of("lead1", "from-the-environment").is_none());
    server.stop();
}

#[test]
fn a_password_typed_at_a_terminal_is_asked_twice_and_never_shown() {
    let hq = Hq::demo();
    let passwd = ["hq", "user", "passwd", "organizer"];
    let first = "New password for organizer: ";
    let shown = changed_at_a_terminal(hq.data(), &passwd, true, "typed-new-pw");
    assert!(shown.contains("password of organizer changed"), "{shown}");
    // Asked to read standard input, which is the terminal: typed the same way, unshown.
    let with_stdin = [&passwd[..], &["--password-stdin"]].concat();
    changed_at_a_terminal(hq.data(), &with_stdin, true, "typed-new-pw");
    // Two that differ: refused, and the password stays.
    let mut typed = OnTerminal::start(hq.data(), &passwd);
    typed.answer(first, "other-pw-one");
    typed.answer("The same again: ", "other-pw-two");
    let (code, shown) = typed.finish();
    assert_eq!(code, Some(2), "{shown}");
    assert!(
        shown.contains("the two passwords typed differ; nothing was changed"),
        "{shown}"
    );
    // Ctrl-C at the prompt: nothing changed, the terminal echoes again (rpassword raises
    // SIGINT with the echo still off), and then the process ends by SIGINT, so that the
    // shell that ran it sees it interrupted.
    let mut typed = OnTerminal::start(hq.data(), &passwd);
    typed.answer(first, "\u{3}");
    let (status, shown, echoes) = typed.finish_echoing();
    assert_eq!(status.signal(), Some(libc::SIGINT), "{status:?}: {shown}");
    assert!(
        shown.contains("interrupted; nothing was changed"),
        "{shown}"
    );
    assert!(echoes, "the terminal was left without its echo");
    // Started with SIGINT ignored (in the background of a script): it exits 130, as a
    // shell reports an interrupted command, rather than setting SIGINT's action itself.
    let mut typed = OnTerminal::start_with(hq.data(), &passwd, true, true);
    typed.answer(first, "\u{3}");
    let (status, shown, echoes) = typed.finish_echoing();
    assert_eq!(status.code(), Some(130), "{status:?}: {shown}");
    assert!(echoes, "the terminal was left without its echo");
    // Ctrl-D at an empty prompt: no password typed, nothing changed, the echo back on.
    let mut typed = OnTerminal::start(hq.data(), &passwd);
    typed.answer(first, "\u{4}");
    let (status, shown, echoes) = typed.finish_echoing();
    assert_eq!(status.code(), Some(2), "{shown}");
    assert!(
        shown.contains("no password typed; nothing was changed"),
        "{shown}"
    );
    assert!(echoes, "the terminal was left without its echo");
    // One too short: refused before it is asked for again.
    let mut typed = OnTerminal::start(hq.data(), &passwd);
    typed.answer(first, "short");
    let (code, shown) = typed.finish();
    assert_eq!(code, Some(2), "{shown}");
    assert!(shown.contains("at least 8 characters"), "{shown}");
    assert!(!shown.contains("The same again"), "{shown}");
    // A process without a controlling terminal, the terminal only its standard streams
    // (`su user -c …`): asked there, unshown, all the same.
    changed_at_a_terminal(hq.data(), &passwd, false, "typed-new-pw");
    // An account that exists: refused before any prompt.
    let add = ["hq", "user", "add", "organizer", "--role", "organizer"];
    let (code, shown) = OnTerminal::start(hq.data(), &add).finish();
    assert_eq!(code, Some(2), "{shown}");
    assert!(
        shown.contains("there is an account organizer already"),
        "{shown}"
    );
    assert!(!shown.contains("New password"), "{shown}");

    let server = hq.serve();
    let api = Api::new(&server.url);
    assert!(api.token_of("organizer", "typed-new-pw").is_some());
    assert!(api.token_of("organizer", PASSWORD).is_none());
    assert!(api.token_of("organizer", "other-pw-one").is_none());
    server.stop();
}

/// `ARGS` changing the organizer's password on a terminal of its own (as
/// [`OnTerminal::start_controlling`] starts it), `password` typed at both prompts: it ends
/// well and the password is never shown. All the terminal showed.
fn changed_at_a_terminal(dir: &Path, args: &[&str], controlling: bool, password: &str) -> String {
    let mut typed = OnTerminal::start_controlling(dir, args, controlling);
    typed.answer("New password for organizer: ", password);
    typed.answer("The same again: ", password);
    let (code, shown) = typed.finish();
    assert_eq!(code, Some(0), "{shown}");
    assert!(!shown.contains(password), "the password was shown: {shown}");
    shown
}

/// `fairpos` on a pseudo-terminal of its own, as its controlling terminal; the test holds
/// the other side, typing and reading what the terminal shows.
struct OnTerminal {
    child: Child,
    terminal: File,
    shown: Arc<Mutex<Vec<u8>>>,
    reader: Option<std::thread::JoinHandle<()>>,
}

impl Drop for OnTerminal {
    /// A test that failed midway leaves no process waiting on the terminal.
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl OnTerminal {
    /// On the terminal as its controlling terminal.
    fn start(dir: &Path, args: &[&str]) -> OnTerminal {
        OnTerminal::start_controlling(dir, args, true)
    }

    /// With `controlling`, the process leads a session with the terminal as its controlling
    /// terminal (`/dev/tty` is it); without, it leads a session that has none, the terminal
    /// only its standard streams (as under `su user -c`).
    fn start_controlling(dir: &Path, args: &[&str], controlling: bool) -> OnTerminal {
        OnTerminal::start_with(dir, args, controlling, false)
    }

    /// As [`OnTerminal::start_controlling`]; SIGINT as a shell leaves it to a command it
    /// runs in the foreground (its default action), or ignored, as for one run in the
    /// background of a script (as this test may be run).
    fn start_with(
        dir: &Path,
        args: &[&str],
        controlling: bool,
        sigint_ignored: bool,
    ) -> OnTerminal {
        // Both sides close-on-exec, so that no process another test starts meanwhile holds
        // them (its copies of this side are made for it alone, as its standard streams).
        let flags = libc::O_RDWR | libc::O_NOCTTY | libc::O_CLOEXEC;
        let ours = unsafe { libc::posix_openpt(flags) };
        assert!(
            ours >= 0,
            "posix_openpt: {}",
            std::io::Error::last_os_error()
        );
        let terminal = unsafe { File::from_raw_fd(ours) };
        let mut name = [0 as libc::c_char; 128];
        unsafe {
            assert_eq!(libc::grantpt(ours), 0, "grantpt");
            assert_eq!(libc::unlockpt(ours), 0, "unlockpt");
            assert_eq!(libc::ptsname_r(ours, name.as_mut_ptr(), name.len()), 0);
        }
        let name = unsafe { std::ffi::CStr::from_ptr(name.as_ptr()) };
        let theirs = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .custom_flags(libc::O_NOCTTY)
            .open(name.to_str().unwrap())
            .unwrap();
        let mut command = Command::new(BIN);
        command
            .arg("--data")
            .arg(dir)
            .args(args)
            .env_remove("FAIRPOS_USER_PASSWORD")
            .env_remove("FAIRPOS_ORGANIZER_PASSWORD")
            .stdin(theirs.try_clone().unwrap())
            .stdout(theirs.try_clone().unwrap())
            .stderr(theirs);
        // A session of its own, with this terminal as its controlling terminal or none.
        unsafe {
            command.pre_exec(move || {
                if libc::setsid() < 0 || (controlling && libc::ioctl(0, libc::TIOCSCTTY, 0) < 0) {
                    return Err(std::io::Error::last_os_error());
                }
                let sigint = if sigint_ignored {
                    libc::SIG_IGN
                } else {
                    libc::SIG_DFL
                };
                if libc::signal(libc::SIGINT, sigint) == libc::SIG_ERR {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let child = command.spawn().unwrap();
        // The command holds our copies of the terminal's other side: closed, the terminal
        // ends when the process does.
        drop(command);
        let shown = Arc::new(Mutex::new(Vec::new()));
        let (mut from, into) = (terminal.try_clone().unwrap(), Arc::clone(&shown));
        let reader = Some(std::thread::spawn(move || {
            let mut buffer = [0u8; 1024];
            // Until the process's side closes (EIO).
            while let Ok(n @ 1..) = from.read(&mut buffer) {
                into.lock().unwrap().extend_from_slice(&buffer[..n]);
            }
        }));
        OnTerminal {
            child,
            terminal,
            shown,
            reader,
        }
    }

    fn shown(&self) -> String {
        String::from_utf8_lossy(&self.shown.lock().unwrap()).into_owned()
    }

    /// Once `prompt` is shown and the terminal's echo is off, types `text` and Enter.
    fn answer(&mut self, prompt: &str, text: &str) {
        let since = Instant::now();
        while !self.shown().contains(prompt) || self.echoes() {
            assert!(
                since.elapsed() < Duration::from_secs(20),
                "no {prompt:?} with the echo off: {}",
                self.shown()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        self.terminal
            .write_all(format!("{text}\r").as_bytes())
            .unwrap();
    }

    /// Whether the terminal shows what is typed (its settings are the same on either side).
    fn echoes(&self) -> bool {
        use std::os::fd::AsRawFd;
        let mut settings: libc::termios = unsafe { std::mem::zeroed() };
        let got = unsafe { libc::tcgetattr(self.terminal.as_raw_fd(), &mut settings) };
        assert_eq!(got, 0, "tcgetattr: {}", std::io::Error::last_os_error());
        settings.c_lflag & libc::ECHO != 0
    }

    /// The process's exit code, and all the terminal showed.
    fn finish(self) -> (Option<i32>, String) {
        let (status, shown, _) = self.finish_echoing();
        (status.code(), shown)
    }

    /// How the process ended, all the terminal showed, and whether the terminal echoes what
    /// is typed once the process has ended.
    fn finish_echoing(mut self) -> (std::process::ExitStatus, String, bool) {
        let since = Instant::now();
        let status = loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                break status;
            }
            assert!(
                since.elapsed() < Duration::from_secs(30),
                "still running: {}",
                self.shown()
            );
            std::thread::sleep(Duration::from_millis(20));
        };
        let echoes = self.echoes();
        // Everything it wrote, read once its side of the terminal is closed.
        let since = Instant::now();
        let reader = self.reader.take().unwrap();
        while !reader.is_finished() {
            let shown = self.shown();
            assert!(since.elapsed() < Duration::from_secs(20), "{shown}");
            std::thread::sleep(Duration::from_millis(20));
        }
        reader.join().unwrap();
        (status, self.shown(), echoes)
    }
}
