//! The database's password where libpq looks for it, so that it need not be in the address
//! (which `hq init --database` keeps in the data directory, and which a command line shows
//! to anyone who lists processes): an address without a password takes `PGPASSWORD`, else
//! the first matching line of the password file, `PGPASSFILE` or `~/.pgpass`
//! (`hostname:port:database:username:password`, `*` matching anything, `\` escaping `:` and
//! `\`, `#` starting a comment line). As libpq does, a password file that its group or
//! others may read is ignored, with a warning.
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
struct Wanted<'a> {
    host: String,
    port: String,
    database: &'a str,
    user: &'a str,
}

impl<'a> Wanted<'a> {
    /// The first host of `config` (a Unix socket is `localhost`, as for libpq), its port,
    /// the database (the user's name when none is given) and the user.
    fn of(config: &'a tokio_postgres::Config) -> Wanted<'a> {
        let host = match config.get_hosts().first() {
            Some(Host::Tcp(name)) => name.clone(),
            _ => "localhost".to_string(),
        };
        let port = config.get_ports().first().copied().unwrap_or(DEFAULT_PORT);
        let user = config.get_user().unwrap_or_default();
        Wanted {
            host,
            port: port.to_string(),
            database: config.get_dbname().unwrap_or(user),
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
    let asked = [
        wanted.host.as_str(),
        wanted.port.as_str(),
        wanted.database,
        wanted.user,
    ];
    text.lines()
        .filter(|line| !line.starts_with('#') && !line.trim().is_empty())
        .find_map(|line| {
            let fields = fields(line);
            let [host, port, database, user, password] = fields.as_slice() else {
                return None;
            };
            let matches = [host, port, database, user]
                .into_iter()
                .zip(asked)
                .all(|(field, asked)| field == "*" || field == asked);
            matches.then(|| password.clone())
        })
}

/// A line's fields: split at `:` not escaped by `\`, escapes taken out. The password, the
/// last, keeps any `:` after it.
fn fields(line: &str) -> Vec<String> {
    let mut fields = vec![String::new()];
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                if let Some(next) = chars.next() {
                    fields.last_mut().unwrap().push(next);
                }
            }
            ':' if fields.len() < 5 => fields.push(String::new()),
            c => fields.last_mut().unwrap().push(c),
        }
    }
    fields
}

/// `address` with any password in it masked, to be shown (`postgres://hq:***@db/fairpos`,
/// `password=*** host=db`).
pub fn shown(address: &str) -> String {
    if let Some((scheme, rest)) = address.split_once("://") {
        // The user information ends at the last `@` before the path.
        let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
        let Some(at) = rest[..authority_end].rfind('@') else {
            return address.to_string();
        };
        let Some((user, _)) = rest[..at].split_once(':') else {
            return address.to_string();
        };
        return format!("{scheme}://{user}:***{}", &rest[at..]);
    }
    // key=value settings: the password's value, quoted or not.
    let Some(start) = address.find("password=") else {
        return address.to_string();
    };
    let value = &address[start + "password=".len()..];
    let end = match value.strip_prefix('\'') {
        Some(quoted) => {
            let mut escaped = false;
            let closing = quoted.char_indices().find(|&(_, c)| {
                let closes = c == '\'' && !escaped;
                escaped = c == '\\' && !escaped;
                closes
            });
            closing.map_or(value.len(), |(i, _)| i + 2)
        }
        None => value.find(char::is_whitespace).unwrap_or(value.len()),
    };
    format!("{}password=***{}", &address[..start], &value[end..])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wanted<'a>(host: &str, port: u16, database: &'a str, user: &'a str) -> Wanted<'a> {
        Wanted {
            host: host.into(),
            port: port.to_string(),
            database,
            user,
        }
    }

    #[test]
    fn the_first_matching_line_gives_the_password() {
        let text = "# hostname:port:database:username:password\n\
                    db.example:5432:other:hq:not-this\n\
                    \n\
                    db.example:*:fairpos:hq:s3cret\\:with\\\\escapes:and-a-colon\n\
                    *:*:*:hq:fallback\n\
                    short:line\n";
        assert_eq!(
            matching(text, &wanted("db.example", 5432, "fairpos", "hq")).as_deref(),
            Some("s3cret:with\\escapes:and-a-colon")
        );
        assert_eq!(
            matching(text, &wanted("elsewhere", 6000, "fairpos", "hq")).as_deref(),
            Some("fallback")
        );
        assert_eq!(
            matching(text, &wanted("db.example", 5432, "fairpos", "x")),
            None
        );
    }

    #[test]
    fn what_an_address_asks_for_as_libpq_reads_it() {
        let config: tokio_postgres::Config = "postgres://hq@db.example/fairpos".parse().unwrap();
        let asked = Wanted::of(&config);
        assert_eq!(
            (
                asked.host.as_str(),
                asked.port.as_str(),
                asked.database,
                asked.user
            ),
            ("db.example", "5432", "fairpos", "hq")
        );
        // No database: the user's name. A Unix socket: localhost.
        let config: tokio_postgres::Config =
            "host=/run/postgresql port=5433 user=hq".parse().unwrap();
        let asked = Wanted::of(&config);
        assert_eq!(
            (
                asked.host.as_str(),
                asked.port.as_str(),
                asked.database,
                asked.user
            ),
            ("localhost", "5433", "hq", "hq")
        );
    }

    #[test]
    fn a_password_is_never_shown() {
        assert_eq!(
            shown("postgres://hq:s3cret@db.example:5432/fairpos?sslmode=require"),
            "postgres://hq:***@db.example:5432/fairpos?sslmode=require"
        );
        // An `@` in the password, percent-encoded or not.
        assert_eq!(
            shown("postgresql://hq:p@ss%40w@db/fairpos"),
            "postgresql://hq:***@db/fairpos"
        );
        assert_eq!(
            shown("postgres://hq@db.example/fairpos"),
            "postgres://hq@db.example/fairpos"
        );
        assert_eq!(
            shown("host=db user=hq password=s3cret dbname=fairpos"),
            "host=db user=hq password=*** dbname=fairpos"
        );
        assert_eq!(
            shown(r"host=db password='two \' words' dbname=fairpos"),
            "host=db password=*** dbname=fairpos"
        );
        assert_eq!(shown("password=last"), "password=***");
    }
}
