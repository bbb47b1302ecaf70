//! A new password for `hq init` and `hq user add|passwd`: the one its option or environment
//! variable gives, else one from standard input, typed twice at a terminal without being
//! shown, or the first line of what is piped in. So a password need not be written on a
//! command line, where every user of the machine sees it (`ps`) and the shell keeps it.

use std::io::{BufRead, IsTerminal};

use super::args::NewPassword;
use crate::{Error, Result};

impl NewPassword {
    /// The password given, else one read from standard input for the account `name`.
    pub fn read(&self, name: &str) -> Result<String> {
        let given_by = GivenBy {
            option: "--password",
            variable: "FAIRPOS_USER_PASSWORD",
        };
        read(self.text.as_deref(), name, given_by)
    }
}

/// Where a password may be given instead of standard input, for the message when none is.
pub struct GivenBy {
    pub option: &'static str,
    pub variable: &'static str,
}

/// The password `given`, else one read from standard input for `whose` account.
pub fn read(given: Option<&str>, whose: &str, given_by: GivenBy) -> Result<String> {
    if let Some(text) = given {
        return Ok(text.to_string());
    }
    let stdin = std::io::stdin();
    let text = if stdin.is_terminal() {
        typed_twice(whose)?
    } else {
        let mut line = String::new();
        stdin
            .lock()
            .read_line(&mut line)
            .map_err(|e| Error::input(format!("the password on standard input: {e}")))?;
        first_line(&line).to_string()
    };
    if text.is_empty() {
        return Err(Error::input(format!(
            "no password for {whose}: give {} or {}, type it at a terminal, or write it on \
             standard input",
            given_by.option, given_by.variable
        )));
    }
    Ok(text)
}

/// The password typed at the terminal twice, neither time shown (rpassword reads the
/// process's terminal, `/dev/tty`, with its echo off).
fn typed_twice(whose: &str) -> Result<String> {
    let prompt = |text: &str| {
        rpassword::prompt_password(text)
            .map_err(|e| Error::input(format!("the password typed at the terminal: {e}")))
    };
    let first = prompt(&format!("New password for {whose}: "))?;
    if first.is_empty() {
        return Ok(first);
    }
    let again = prompt("The same again: ")?;
    if first != again {
        return Err(Error::input(
            "the two passwords typed differ; nothing was changed",
        ));
    }
    Ok(first)
}

/// A line without its ending (`\n` or `\r\n`); nothing else is trimmed, as a password may
/// begin or end with spaces.
fn first_line(text: &str) -> &str {
    let line = text.strip_suffix('\n').unwrap_or(text);
    line.strip_suffix('\r').unwrap_or(line)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_line_loses_only_its_ending() {
        assert_eq!(first_line("pw-1234\n"), "pw-1234");
        assert_eq!(first_line("pw-1234\r\n"), "pw-1234");
        assert_eq!(first_line(" pw 1234 \n"), " pw 1234 ");
        assert_eq!(first_line("pw-1234"), "pw-1234");
        assert_eq!(first_line("\n"), "");
        assert_eq!(first_line(""), "");
    }
}
