//! Passwords kept off the command line: `hq init` without `--organizer-password` and `hq
//! user add|passwd` without `--password` read the password from standard input. Piped in,
//! its first line is the password; at a terminal (a real pseudo-terminal here, the process
//! leading a session with it as its controlling terminal, as a login shell's commands do),
//! it is typed twice, and the terminal's echo is off while it is typed.

mod common;

use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::{FromRawFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::hq::{Api, Hq, Server, PASSWORD};
use common::BIN;

/// `fairpos --data dir ARGS` with `input` on its standard input.
fn with_input(dir: &Path, args: &[&str], input: &str) -> Output {
    let mut child = Command::new(BIN)
        .arg("--data")
        .arg(dir)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn a_password_not_given_is_the_first_line_of_standard_input() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path();
    let out = with_input(data, &["hq", "init", "--demo"], "first-organizer-pw\n");
    assert!(out.status.success(), "{}", stderr(&out));
    let add = |name: &str, input: &str| {
        let args = ["hq", "user", "add", name, "--role", "stall-lead"];
        with_input(data, &[&args[..], &["--stall", "S01"]].concat(), input)
    };
    // A line ending in CR LF, as a file written on Windows has; spaces are the password's.
    let out = add("lead1", " lead one pw\r\nnot read\n");
    assert!(out.status.success(), "{}", stderr(&out));
    // Nothing piped in: refused in one line, and no account made.
    let out = add("lead2", "");
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let said = "no password for lead2: give --password or FAIRPOS_USER_PASSWORD, type it at a \
                terminal, or write it on standard input";
    assert_eq!(stderr(&out).trim_end(), format!("error: {said}"));
    let out = add("lead2", "short\n");
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("at least 8 characters"),
        "{}",
        stderr(&out)
    );
    let out = with_input(data, &["hq", "user", "list"], "");
    assert!(!String::from_utf8_lossy(&out.stdout).contains("lead2"));
    // init too says where its password may be given.
    let other = tempfile::tempdir().unwrap();
    let out = with_input(other.path(), &["hq", "init", "--demo"], "\n");
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains(
            "no password for the organizer: give --organizer-password or \
             FAIRPOS_ORGANIZER_PASSWORD"
        ),
        "{}",
        stderr(&out)
    );

    let server = Server::start(data, &[]);
    let api = Api::new(&server.url);
    assert!(api.token_of("organizer", "first-organizer-pw").is_some());
    assert!(api.token_of("lead1", " lead one pw").is_some());
    assert!(api.token_of("lead1", "lead one pw").is_none());
    server.stop();
}

#[test]
fn a_password_typed_at_a_terminal_is_asked_twice_and_never_shown() {
    let hq = Hq::demo();
    let passwd = ["hq", "user", "passwd", "organizer"];
    let mut typed = OnTerminal::start(hq.data(), &passwd);
    typed.answer("New password for organizer: ", "typed-new-pw");
    typed.answer("The same again: ", "typed-new-pw");
    let (code, shown) = typed.finish();
    assert_eq!(code, Some(0), "{shown}");
    assert!(shown.contains("password of organizer changed"), "{shown}");
    assert!(
        !shown.contains("typed-new-pw"),
        "the password was shown: {shown}"
    );

    // Two that differ: refused, and the password stays.
    let mut typed = OnTerminal::start(hq.data(), &passwd);
    typed.answer("New password for organizer: ", "other-pw-one");
    typed.answer("The same again: ", "other-pw-two");
    let (code, shown) = typed.finish();
    assert_eq!(code, Some(2), "{shown}");
    assert!(
        shown.contains("the two passwords typed differ; nothing was changed"),
        "{shown}"
    );

    let server = hq.serve();
    let api = Api::new(&server.url);
    assert!(api.token_of("organizer", "typed-new-pw").is_some());
    assert!(api.token_of("organizer", PASSWORD).is_none());
    assert!(api.token_of("organizer", "other-pw-one").is_none());
    server.stop();
}

/// `fairpos` on a pseudo-terminal of its own, as its controlling terminal; the test holds
/// the other side, typing and reading what the terminal shows.
struct OnTerminal {
    child: Child,
    terminal: File,
    shown: Arc<Mutex<Vec<u8>>>,
    reader: std::thread::JoinHandle<()>,
}

impl OnTerminal {
    fn start(dir: &Path, args: &[&str]) -> OnTerminal {
        let (mut ours, mut theirs) = (0, 0);
        let (name, settings, size) = (std::ptr::null_mut(), std::ptr::null(), std::ptr::null());
        let opened = unsafe { libc::openpty(&mut ours, &mut theirs, name, settings, size) };
        assert_eq!(opened, 0, "openpty: {}", std::io::Error::last_os_error());
        let (terminal, theirs) = unsafe { (File::from_raw_fd(ours), OwnedFd::from_raw_fd(theirs)) };
        let mut command = Command::new(BIN);
        command
            .arg("--data")
            .arg(dir)
            .args(args)
            .stdin(theirs.try_clone().unwrap())
            .stdout(theirs.try_clone().unwrap())
            .stderr(theirs);
        // A session of its own, with this terminal as its controlling terminal.
        unsafe {
            command.pre_exec(|| {
                if libc::setsid() < 0 || libc::ioctl(0, libc::TIOCSCTTY, 0) < 0 {
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
        let reader = std::thread::spawn(move || {
            let mut buffer = [0u8; 1024];
            // Until the process's side closes (EIO).
            while let Ok(n @ 1..) = from.read(&mut buffer) {
                into.lock().unwrap().extend_from_slice(&buffer[..n]);
            }
        });
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
    fn finish(mut self) -> (Option<i32>, String) {
        let since = Instant::now();
        let status = loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                break status;
            }
            if since.elapsed() > Duration::from_secs(30) {
                let _ = self.child.kill();
                panic!("still running: {}", self.shown());
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        // Everything it wrote, read once its side of the terminal is closed.
        let shown = Arc::clone(&self.shown);
        self.reader.join().unwrap();
        let shown = String::from_utf8_lossy(&shown.lock().unwrap()).into_owned();
        (status.code(), shown)
    }
}
