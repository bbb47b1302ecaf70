//! The database's password where libpq looks for it, so that it need not be in the address
//! (which `hq init --database` keeps in the data directory, and which a command line shows
//! to anyone who lists processes): an address without a password takes `PGPASSWORD`, else
//! the first matching line of the password file, `PGPASSFILE` or `~/.pgpass`
//! (`hostname:port:database:username:password`, an unescaped `*` matching anything, `\`
//! escaping `:` and `\`, `#` starting a comment line), read by libpq's rules (its
//! `passwordFromFile`): the password ends at the next unescaped `:`; a user not named is
//! the system user, as tokio-postgres logs in as. As libpq does, a password file that its
//! group or others may read is ignored, with a warning. Of several hosts, the first is
//! looked up (tokio-postgres takes one password for all).
//!
//! And addresses as they are shown in errors: with their password masked ([`shown`]).

use std::path::{Path, PathBuf};

use tokio_postgres::config::Host;

/// libpq's default port.
const DEFAULT_PORT: u16 = 5432;

/// Gives `config` the password libpq would, when its address has none.
pub(crate) fn fill(config: &mut tokio_postgres::Config) {
    if config.get_password().is_some() {
        return;
    }
    if let Some(password) = std::env::var_os("PGPASSWORD").filter(|p| !p.is_empty()) {
        config.password(password.as_encoded_bytes());
        return;
    }
    let Some(file) = password_file() else {
        return;
    };
    if let Some(password) = from_file(&file, &Wanted::of(config)) {
        config.password(password);
    }
}

/// `PGPASSFILE`, else `~/.pgpass`.
fn password_file() -> Option<PathBuf> {
    match std::env::var_os("PGPASSFILE").filter(|f| !f.is_empty()) {
        Some(file) => Some(PathBuf::from(file)),
        None => Some(Path::new(&std::env::var_os("HOME")?).join(".pgpass")),
    }
}

/// What a line of the password file must match.
#[derive(Debug)]
struct Wanted {
    host: String,
    port: String,
    database: String,
    user: String,
}

impl Wanted {
    /// The first host of `config` (a Unix socket is `localhost`, as for libpq; with only
    /// `hostaddr`, that address), its port, the user (the system user when none is given, as
    /// tokio-postgres logs in) and the database (the user's name when none is given).
    fn of(config: &tokio_postgres::Config) -> Wanted {
        let host = match (config.get_hosts().first(), config.get_hostaddrs().first()) {
            (Some(Host::Tcp(name)), _) => name.clone(),
            (None, Some(address)) => address.to_string(),
            _ => "localhost".to_string(),
        };
        let port = config.get_ports().first().copied().unwrap_or(DEFAULT_PORT);
        let user = match config.get_user() {
            Some(user) => user.to_string(),
            None => whoami::username().unwrap_or_default(),
        };
        Wanted {
            host,
            port: port.to_string(),
            database: config.get_dbname().unwrap_or(&user).to_string(),
            user,
        }
    }
}

/// The password the file at `path` holds for `wanted`, if it may be read and has a line.
fn from_file(path: &Path, wanted: &Wanted) -> Option<String> {
    let metadata = std::fs::metadata(path).ok()?;
    if !metadata.is_file() {
        return None;
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        if metadata.permissions().mode() & 0o077 != 0 {
            eprintln!(
                "warning: password file {} has group or world access, so it is not read; \
                 permissions should be u=rw (0600) or less",
                path.display()
            );
            return None;
        }
    }
    let text = std::fs::read_to_string(path).ok()?;
    matching(&text, wanted)
}

/// The password of the first line of `text` that matches `wanted`.
fn matching(text: &str, wanted: &Wanted) -> Option<String> {
    let asked = [&wanted.host, &wanted.port, &wanted.database, &wanted.user];
    text.lines()
        .filter(|line| !line.starts_with('#'))
        .find_map(|line| {
            let mut rest = line;
            for asked in asked {
                rest = field_matching(rest, asked)?;
            }
            Some(password_of(rest))
        })
}

/// What follows a line's next field and its `:`, if that field matches `asked`: an
/// unescaped `*`, or `asked` with `:` and `\` escaped (libpq's `pwdfMatchesString`).
fn field_matching<'a>(line: &'a str, asked: &str) -> Option<&'a str> {
    if let Some(rest) = line.strip_prefix("*:") {
        return Some(rest);
    }
    let mut chars = line.char_indices();
    let mut asked = asked.chars();
    while let Some((at, c)) = chars.next() {
        let c = match c {
            ':' => return asked.next().is_none().then(|| &line[at + 1..]),
            '\\' => chars.next()?.1,
            c => c,
        };
        if asked.next() != Some(c) {
            return None;
        }
    }
    None
}

/// The password at the start of `rest`: up to an unescaped `:` or the line's end, escapes
/// taken out (a `\` at the very end is kept, as libpq keeps it).
fn password_of(rest: &str) -> String {
    let mut password = String::new();
    let mut chars = rest.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            ':' => break,
            '\\' if chars.peek().is_some() => password.extend(chars.next()),
            c => password.push(c),
        }
    }
    password
}

/// `address` with any password in it masked, to be shown (`postgres://hq:***@db/fairpos`,
/// `…?password=***`, `password=*** host=db`).
pub fn shown(address: &str) -> String {
    let masked = match address.split_once("://") {
        Some((scheme, rest)) => format!("{scheme}://{}", shown_url(rest)),
        None => shown_settings(address),
    };
    // Checked as tokio-postgres reads both: a password it would take that the masking
    // missed shows the address as parsed instead, without the password. `sslrootcert` is
    // taken out first, as connecting takes it (tokio-postgres refuses it).
    let (readable, _) = crate::root_cert::take_root_cert(address);
    let Ok(config) = readable.parse::<tokio_postgres::Config>() else {
        // Not an address tokio-postgres reads: masked as libpq reads it (a key's escapes
        // decoded, a value's escaped spaces kept in it).
        return masked;
    };
    let masked_reads = crate::root_cert::take_root_cert(&masked)
        .0
        .parse::<tokio_postgres::Config>();
    let still_shown = match (config.get_password(), &masked_reads) {
        (None, _) => false,
        (Some(_), Ok(read)) => read.get_password().is_some_and(|p| p != b"***"),
        (Some(_), Err(_)) => true,
    };
    if still_shown {
        parsed_without_password(&config)
    } else {
        masked
    }
}

/// `text` with its `%XX` escapes decoded (bytes that are not UTF-8 replaced).
fn percent_decoded(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok());
        match (bytes[i], hex.and_then(|h| u8::from_str_radix(h, 16).ok())) {
            (b'%', Some(byte)) => {
                out.push(byte);
                i += 3;
            }
            (byte, _) => {
                out.push(byte);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The address `config` was read from, as a URL of its user, hosts, ports and database, the
/// password masked (other settings left out).
fn parsed_without_password(config: &tokio_postgres::Config) -> String {
    use tokio_postgres::config::Host;
    let ports = config.get_ports();
    let hosts: Vec<String> = config
        .get_hosts()
        .iter()
        .enumerate()
        .map(|(i, host)| {
            let host = match host {
                Host::Tcp(name) => name.clone(),
                Host::Unix(path) => path.display().to_string(),
            };
            match ports.get(i).or(ports.first()) {
                Some(port) => format!("{host}:{port}"),
                None => host,
            }
        })
        .collect();
    let user = config.get_user().unwrap_or_default();
    let database = config.get_dbname().unwrap_or_default();
    format!("postgres://{user}:***@{}/{database}", hosts.join(","))
}

/// After `scheme://`: the user information (up to the first `@`, as tokio-postgres reads
/// it) without its password, and any `password` parameter masked.
fn shown_url(rest: &str) -> String {
    let rest = match rest.split_once('@') {
        Some((credentials, after)) => match credentials.split_once(':') {
            Some((user, _)) => format!("{user}:***@{after}"),
            None => rest.to_string(),
        },
        None => rest.to_string(),
    };
    let Some((base, query)) = rest.split_once('?') else {
        return rest;
    };
    let query: Vec<String> = query
        .split('&')
        .map(|parameter| match parameter.split_once('=') {
            Some((key, _)) if percent_decoded(key) == "password" => "password=***".to_string(),
            _ => parameter.to_string(),
        })
        .collect();
    format!("{base}?{}", query.join("&"))
}

/// `key = value` settings with the password's value (quoted or not) masked.
fn shown_settings(address: &str) -> String {
    let mut shown = String::new();
    let mut rest = address;
    loop {
        // The next `password` key: at the start or after a space, `=` after spaces.
        let found = rest.match_indices("password").find(|&(at, _)| {
            let starts = rest[..at]
                .chars()
                .next_back()
                .is_none_or(char::is_whitespace);
            starts && rest[at + "password".len()..].trim_start().starts_with('=')
        });
        let Some((at, _)) = found else {
            shown.push_str(rest);
            return shown;
        };
        let after_key = &rest[at + "password".len()..];
        let value = after_key.trim_start()[1..].trim_start();
        let value_end = match value.strip_prefix('\'') {
            Some(quoted) => {
                let mut escaped = false;
                let closing = quoted.char_indices().find(|&(_, c)| {
                    let closes = c == '\'' && !escaped;
                    escaped = c == '\\' && !escaped;
                    closes
                });
                closing.map_or(value.len(), |(i, _)| i + 2)
            }
            // Up to the first space not escaped by a backslash (`open\ sesame` is one value).
            None => {
                let mut escaped = false;
                let end = value.char_indices().find(|&(_, c)| {
                    let ends = c.is_whitespace() && !escaped;
                    escaped = c == '\\' && !escaped;
                    ends
                });
                end.map_or(value.len(), |(i, _)| i)
            }
        };
        shown.push_str(&rest[..at]);
        shown.push_str("password=***");
        rest = &value[value_end..];
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wanted(host: &str, port: u16, database: &str, user: &str) -> Wanted {
        Wanted {
            host: host.into(),
            port: port.to_string(),
            database: database.into(),
            user: user.into(),
        }
    }

    #[test]
    fn the_first_matching_line_gives_the_password_by_libpqs_rules() {
        let text = "# hostname:port:database:username:password\n\
                    db.example:5432:other:hq:not-this\n\
                    \n\
                    db.example:*:fair\\:pos:hq:s3cret\\:with\\\\escapes:ignored\n\
                    \\*:*:*:hq:only-for-a-host-named-star\n\
                    *:*:*:hq:fallback\\\n\
                    short:line\n";
        let password =
            |host, port, database, user| matching(text, &wanted(host, port, database, user));
        // Escapes taken out; the password ends at the next unescaped `:`.
        assert_eq!(
            password("db.example", 5432, "fair:pos", "hq").as_deref(),
            Some("s3cret:with\\escapes")
        );
        // An escaped `*` is a host named `*`, not a wildcard; a final `\` is kept.
        assert_eq!(
            password("*", 1, "x", "hq").as_deref(),
            Some("only-for-a-host-named-star")
        );
        assert_eq!(
            password("elsewhere", 6000, "fairpos", "hq").as_deref(),
            Some("fallback\\")
        );
        assert_eq!(password("db.example", 5432, "fairpos", "x"), None);
        // A prefix of a field is not the field.
        assert_eq!(matching("db:1:d:hq:pw\n", &wanted("db", 1, "d", "h")), None);
        assert_eq!(matching("db:1:d:h\n", &wanted("db", 1, "d", "h")), None);
    }

    #[test]
    fn what_an_address_asks_for_as_libpq_reads_it() {
        let config: tokio_postgres::Config = "postgres://hq@db.example/fairpos".parse().unwrap();
        let asked = Wanted::of(&config);
        assert_eq!(
            (&*asked.host, &*asked.port, &*asked.database, &*asked.user),
            ("db.example", "5432", "fairpos", "hq")
        );
        // No database: the user's name. A Unix socket: localhost.
        let config: tokio_postgres::Config =
            "host=/run/postgresql port=5433 user=hq".parse().unwrap();
        let asked = Wanted::of(&config);
        assert_eq!(
            (&*asked.host, &*asked.port, &*asked.database, &*asked.user),
            ("localhost", "5433", "hq", "hq")
        );
        // No user: the system's, as tokio-postgres logs in as; only hostaddr: that.
        let config: tokio_postgres::Config = "hostaddr=10.0.0.9".parse().unwrap();
        let asked = Wanted::of(&config);
        let me = whoami::username().unwrap();
        assert_eq!(
            (&*asked.host, &*asked.database, &*asked.user),
            ("10.0.0.9", me.as_str(), me.as_str())
        );
    }

    #[test]
    fn a_password_is_never_shown() {
        for (address, masked) in [
            (
                "postgres://hq:s3cret@db.example:5432/fairpos?sslmode=require",
                "postgres://hq:***@db.example:5432/fairpos?sslmode=require",
            ),
            // Up to the first `@`, as tokio-postgres reads it, whatever comes before.
            (
                "postgresql://hq:ab/cd?e@db/fairpos",
                "postgresql://hq:***@db/fairpos",
            ),
            (
                "postgres://hq@db/fairpos?sslmode=require&password=s3cret",
                "postgres://hq@db/fairpos?sslmode=require&password=***",
            ),
            (
                "postgres://hq@db.example/fairpos",
                "postgres://hq@db.example/fairpos",
            ),
            (
                "host=db user=hq password=s3cret dbname=fairpos",
                "host=db user=hq password=*** dbname=fairpos",
            ),
            (
                "host=db password = s3cret sslpassword=other",
                "host=db password=*** sslpassword=other",
            ),
            (
                r"host=db password='two \' words' dbname=fairpos",
                "host=db password=*** dbname=fairpos",
            ),
            ("password=last", "password=***"),
            // An escaped space in the value, an escape in the key, as libpq reads them.
            (
                r"host=db user=hq password=open\ sesame dbname=fairpos",
                "host=db user=hq password=*** dbname=fairpos",
            ),
            (
                "postgres://hq@db/fairpos?pass%77ord=s3cret",
                "postgres://hq@db/fairpos?password=***",
            ),
            // With a root certificate (which tokio-postgres does not read, and connecting
            // takes out first), and an address that does not parse at all.
            (
                "postgres://hq@db/fairpos?sslrootcert=/etc/ca.pem&pass%77ord=s3cret",
                "postgres://hq@db/fairpos?sslrootcert=/etc/ca.pem&password=***",
            ),
            (
                r"host=db password=open\ sesame sslmode=requir",
                "host=db password=*** sslmode=requir",
            ),
            (
                "postgres://hq@db/fairpos?pass%77ord=s3cret&sslmode=requir",
                "postgres://hq@db/fairpos?password=***&sslmode=requir",
            ),
            ("host=db sslmode=requir", "host=db sslmode=requir"),
        ] {
            assert_eq!(shown(address), masked, "{address}");
        }
    }
}
