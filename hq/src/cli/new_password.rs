//! A new password for `hq init` and `hq user add|passwd`: the first line of standard input
//! when asked to read it there (`--password-stdin`, as `docker login` has it, which refuses
//! the option beside it); else the one its option or environment variable gives; else, at a
//! terminal, one typed twice without being shown. So a password need not be written on a
//! command line, where every user of the machine sees it (`ps`) and the shell keeps it. Standard input is read only
//! when asked: a command given a pipe that nobody writes to (`ssh host fairpos …` without a
//! terminal) is refused at once rather than left waiting, and a loop over a file of names
//! cannot take the next name for a password.

use std::io::{BufRead, IsTerminal, Read};

use super::args::NewPassword;
use crate::accounts::check_password_rule;
use crate::{Error, Result};

impl NewPassword {
    /// The password given, else one read for the account `name`.
    pub fn read(&self, name: &str) -> Result<String> {
        let given_by = GivenBy {
            option: "--password",
            variable: "FAIRPOS_USER_PASSWORD",
            stdin_option: "--password-stdin",
        };
        read(self.text.as_deref(), self.stdin, name, &given_by)
    }
}

/// The first organizer's password for `hq init`: `given`, else read as [`read`] does.
pub fn of_first_organizer(given: Option<&str>, from_stdin: bool) -> Result<String> {
    let given_by = GivenBy {
        option: "--organizer-password",
        variable: "FAIRPOS_ORGANIZER_PASSWORD",
        stdin_option: "--organizer-password-stdin",
    };
    read(given, from_stdin, "the organizer", &given_by)
}

/// The longest first line of standard input read as a password (with its line end).
const STDIN_LINE_MOST: u64 = 4096;

/// Where a password may be given, for the messages.
struct GivenBy {
    option: &'static str,
    variable: &'static str,
    stdin_option: &'static str,
}

/// The first line of standard input if `from_stdin` (asked for explicitly, it goes before a
/// password in the environment; at a terminal it is typed, unshown, as without the flag);
/// else the password `given` on the command line, or in the environment; else one typed at
/// the terminal for `whose` account.
fn read(given: Option<&str>, from_stdin: bool, whose: &str, given_by: &GivenBy) -> Result<String> {
    let stdin = std::io::stdin();
    if from_stdin && stdin.is_terminal() {
        return typed_twice(whose, given_by);
    }
    if from_stdin {
        // Read no further than a password can be long: `< /dev/zero` must not fill memory.
        let mut line = String::new();
        stdin
            .lock()
            .take(STDIN_LINE_MOST + 1)
            .read_line(&mut line)
            .map_err(|e| Error::input(format!("the password on standard input: {e}")))?;
        if line.len() as u64 > STDIN_LINE_MOST {
            return Err(Error::input(format!(
                "{}: the first line of standard input is longer than {STDIN_LINE_MOST} bytes, \
                 more than a password",
                given_by.stdin_option
            )));
        }
        let text = first_line(&line);
        if text.is_empty() {
            return Err(Error::input(format!(
                "{}: standard input holds no password for {whose}",
                given_by.stdin_option
            )));
        }
        return Ok(text.to_string());
    }
    if let Some(text) = given {
        return Ok(text.to_string());
    }
    if let Some(text) = in_the_environment(given_by.variable)? {
        return Ok(text);
    }
    if !stdin.is_terminal() {
        return Err(Error::input(format!(
            "no password for {whose}: give {} or {}, or {} with it on standard input, or \
             type it at a terminal",
            given_by.option, given_by.variable, given_by.stdin_option
        )));
    }
    typed_twice(whose, given_by)
}

/// The password the environment's `variable` holds, if it holds one (empty is none, as clap
/// takes a variable). Read here rather than by clap, which would count it as the option
/// given and refuse it beside the stdin flag that goes before it.
fn in_the_environment(variable: &str) -> Result<Option<String>> {
    match std::env::var(variable) {
        Ok(text) if !text.is_empty() => Ok(Some(text)),
        Ok(_) | Err(std::env::VarError::NotPresent) => Ok(None),
        Err(std::env::VarError::NotUnicode(_)) => {
            Err(Error::input(format!("{variable} does not hold UTF-8 text")))
        }
    }
}

/// The password typed at the terminal twice, neither time shown (rpassword reads the
/// process's terminal, `/dev/tty`, with its echo off); one too short is refused at once.
fn typed_twice(whose: &str, given_by: &GivenBy) -> Result<String> {
    let _interrupt_ends_the_read = SigintIgnored::new();
    let prompt = |text: &str| {
        prompt_at_the_terminal(text).map_err(|e| match e.kind() {
            std::io::ErrorKind::Interrupted => Error::Interrupted,
            std::io::ErrorKind::UnexpectedEof => {
                Error::input("no password typed; nothing was changed")
            }
            _ => Error::input(format!(
                "cannot ask for the password at the terminal: {e}; give it with {} instead",
                given_by.stdin_option
            )),
        })
    };
    let first = prompt(&format!("New password for {whose}: "))?;
    check_password_rule(&first)?;
    let again = prompt("The same again: ")?;
    if first != again {
        return Err(Error::input(
            "the two passwords typed differ; nothing was changed",
        ));
    }
    Ok(first)
}

/// The password typed after `prompt`, unshown, at the process's terminal (`/dev/tty`); or,
/// for a process that has none (`su user -c …` starts a session without one) though its
/// standard input is a terminal, at that one.
fn prompt_at_the_terminal(prompt: &str) -> std::io::Result<String> {
    match rpassword::prompt_password(prompt) {
        Err(e) if e.raw_os_error() == Some(libc::ENXIO) => prompt_on_standard_input(prompt),
        typed => typed,
    }
}

/// The prompt written to the terminal on standard input and the password read from it,
/// through the descriptor the process was given (opening its path again may not be this
/// user's right, as after `su`), the terminal's echo off meanwhile.
fn prompt_on_standard_input(prompt: &str) -> std::io::Result<String> {
    use std::io::Write;
    use std::os::fd::AsFd;
    let mut terminal = std::fs::File::from(std::io::stdin().as_fd().try_clone_to_owned()?);
    let _unechoed = Unechoed::new(&terminal)?;
    let read_from = rpassword::ConfigBuilder::new()
        .input_reader(terminal.try_clone()?)
        .output_writer(terminal.try_clone()?)
        .build();
    let typed = rpassword::prompt_password_with_config(prompt, read_from);
    // The line Enter ended, which the terminal does not show with its echo off.
    terminal.write_all(b"\n")?;
    typed
}

/// A terminal shows nothing typed and hands over each key as it comes, while this lives
/// (as rpassword sets the terminal it opens itself); then it is as it was.
struct Unechoed {
    terminal: std::os::fd::RawFd,
    before: libc::termios,
}

impl Unechoed {
    fn new(terminal: &std::fs::File) -> std::io::Result<Unechoed> {
        use std::os::fd::AsRawFd;
        let terminal = terminal.as_raw_fd();
        let mut before: libc::termios = unsafe { std::mem::zeroed() };
        if unsafe { libc::tcgetattr(terminal, &mut before) } != 0 {
            return Err(std::io::Error::last_os_error());
        }
        let mut raw = before;
        raw.c_lflag &= !(libc::ECHO | libc::ICANON | libc::ECHONL | libc::ISIG);
        raw.c_cc[libc::VMIN] = 1;
        raw.c_cc[libc::VTIME] = 0;
        if unsafe { libc::tcsetattr(terminal, libc::TCSANOW, &raw) } != 0 {
            return Err(std::io::Error::last_os_error());
        }
        Ok(Unechoed { terminal, before })
    }
}

impl Drop for Unechoed {
    fn drop(&mut self) {
        unsafe { libc::tcsetattr(self.terminal, libc::TCSANOW, &self.before) };
    }
}

/// SIGINT ignored while it lives. rpassword answers Ctrl-C by raising SIGINT while the
/// terminal's echo is still off: by SIGINT's default action the process would end there,
/// leaving the terminal showing nothing typed. Ignored, the read ends as interrupted, and
/// rpassword gives the terminal back as it was.
struct SigintIgnored(libc::sighandler_t);

impl SigintIgnored {
    fn new() -> SigintIgnored {
        SigintIgnored(unsafe { libc::signal(libc::SIGINT, libc::SIG_IGN) })
    }
}

impl Drop for SigintIgnored {
    fn drop(&mut self) {
        unsafe { libc::signal(libc::SIGINT, self.0) };
    }
}

/// Ends the process as Ctrl-C ends a program, by SIGINT's default action once what was
/// asked is let go of (the terminal echoes again): the shell or script that ran it then
/// sees an interrupted command, not a failed one, and stops too (a loop over accounts does
/// not go on to the next). A process that was started with SIGINT ignored exits 130, as a
/// shell reports an interrupted command.
pub fn end_interrupted() -> ! {
    // SAFETY: setting a signal's disposition and raising it; nothing else runs after.
    unsafe {
        if libc::signal(libc::SIGINT, libc::SIG_DFL) != libc::SIG_IGN {
            libc::raise(libc::SIGINT);
        }
    }
    std::process::exit(130)
}

/// A line without its ending (`\n` or `\r\n`) and without the byte order mark a Windows
/// editor may put first; nothing else is trimmed, as a password may begin or end with
/// spaces.
fn first_line(text: &str) -> &str {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let line = text.strip_suffix('\n').unwrap_or(text);
    line.strip_suffix('\r').unwrap_or(line)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_line_loses_only_its_ending_and_a_byte_order_mark() {
        assert_eq!(first_line("pw-1234\n"), "pw-1234");
        assert_eq!(first_line("pw-1234\r\n"), "pw-1234");
        assert_eq!(first_line("\u{feff}pw-1234\r\n"), "pw-1234");
        assert_eq!(first_line(" pw 1234 \n"), " pw 1234 ");
        assert_eq!(first_line("pw-1234"), "pw-1234");
        assert_eq!(first_line("pw\u{feff}\n"), "pw\u{feff}");
        assert_eq!(first_line("\n"), "");
        assert_eq!(first_line(""), "");
    }
}
