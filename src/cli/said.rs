//! What a command says of what it did once that is saved (a sale, a void, a refund, a
//! shift's cash): written to standard output, and a failure to write it (its reader gone, a
//! pipe closed) told on standard error; its warnings after that (a receipt queued, a slip
//! not printed) written to standard error, a failure there let go of. Never a panic, nor a
//! failed exit, which a script trying again would take for the thing not done, and do
//! twice.

use std::io::Write;

/// Writes `text` and a newline to standard output, once what it tells of is saved.
pub fn done(text: &str) {
    let mut out = std::io::stdout().lock();
    if let Err(e) = writeln!(out, "{text}").and_then(|()| out.flush()) {
        let _ = writeln!(
            std::io::stderr(),
            "warning: done and saved, but standard output took none of it ({e}): {text}"
        );
    }
}

/// [`done`], `value` as JSON on one line.
pub fn done_json<T: serde::Serialize>(value: &T) {
    match serde_json::to_string(value) {
        Ok(text) => done(&text),
        Err(e) => {
            let _ = writeln!(
                std::io::stderr(),
                "warning: done and saved, but not said: {e}"
            );
        }
    }
}

/// Writes `text` and a newline to standard error, once what it warns of is saved: a closed
/// standard error (`2>&1 | head -1`) is let go of, not a panic (exit 101) after the commit.
pub fn warn(text: &str) {
    let _ = writeln!(std::io::stderr(), "{text}");
}
