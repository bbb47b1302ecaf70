//! `fairpos-bench hub-registry`: what a province's fair hubs cost headquarters by asking for
//! the device registry every second, as each hub's relay does. A demo headquarters is given
//! `devices` tills and `hubs` hubs, written straight into its database; `hq serve` by this
//! build's `fairpos`, and by `--baseline BINARY`'s in the same run on a copy of the same
//! directory, is then asked by `hubs` threads, each once a second for `seconds`, sending back
//! the `ETag` it was last given (`--tags false`: sending none, as a hub older than the tags
//! does). The last line is one JSON object: for each server, its CPU seconds over the storm,
//! the answers 200 and 304, and the bytes of registry taken.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::measure::{demo_hq, fresh_dir, serve_hq};

type BenchResult<T> = Result<T, Box<dyn std::error::Error>>;

/// What one storm came to.
#[derive(Default)]
struct Answers {
    whole: AtomicU64,
    not_modified: AtomicU64,
    other: AtomicU64,
    bytes: AtomicU64,
}

pub fn run(
    devices: usize,
    hubs: usize,
    seconds: u64,
    tags: bool,
    baseline: Option<PathBuf>,
    dir: Option<PathBuf>,
) -> BenchResult<()> {
    let dir = fresh_dir("hub-registry", dir)?;
    let source = dir.join("hq");
    demo_hq(&source)?;
    let tokens = write_devices(&source, devices, hubs)?;
    let this = std::env::current_exe()?.with_file_name("fairpos");
    let mut servers = vec![("this_build", this)];
    if let Some(binary) = baseline {
        servers.push(("baseline", binary));
    }
    let mut result = serde_json::json!({
        "bench": "hub-registry",
        "devices": devices,
        "hubs": hubs,
        "seconds": seconds,
        "tags_sent": tags,
    });
    for (name, binary) in servers {
        // Each server on a copy of the same directory, as it was before any served.
        let copy = dir.join(name);
        copy_dir(&source, &copy)?;
        eprintln!("{hubs} hubs asking {} for {seconds} s", binary.display());
        let figures = storm(&binary, &copy, &tokens, seconds, tags)?;
        result[name] = figures;
    }
    println!("{result}");
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}

/// Writes `devices` enrolled tills and `hubs` hubs into the headquarters at `dir`, each with
/// a secret of its own; the hubs' tokens.
fn write_devices(dir: &Path, devices: usize, hubs: usize) -> BenchResult<Vec<String>> {
    let mut conn = rusqlite::Connection::open(dir.join("hq.db"))?;
    let tx = conn.transaction()?;
    use fairpos_sync::keys::{hex, new_secret, public_key, secret_hash};
    let mut tokens = Vec::new();
    {
        let mut insert = tx.prepare(
            "INSERT INTO devices(device, stall, role, secret_hash, public_key, actor, enrolled_at)
             VALUES (?1, 'S01', ?2, ?3, ?4, ?5, '2026-12-05T00:00:00Z')",
        )?;
        for i in 0..devices {
            let device = format!("T{i:05}");
            let (secret, actor) = (new_secret(), hex(&rand::random::<[u8; 16]>()));
            let row = (secret_hash(&secret), public_key(&secret));
            insert.execute(rusqlite::params![device, "till", row.0, row.1, actor])?;
        }
        for i in 0..hubs {
            let device = format!("H{i:04}");
            let secret = new_secret();
            let hash = secret_hash(&secret);
            insert.execute(rusqlite::params![
                device,
                "hub",
                hash,
                None::<String>,
                None::<String>
            ])?;
            tokens.push(fairpos_sync::protocol::device_token(&device, &secret));
        }
    }
    tx.commit()?;
    Ok(tokens)
}

/// Copies the files of the directory `from` into a new directory `to`.
fn copy_dir(from: &Path, to: &Path) -> BenchResult<()> {
    std::fs::create_dir_all(to)?;
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        if entry.file_type()?.is_file() {
            std::fs::copy(entry.path(), to.join(entry.file_name()))?;
        }
    }
    Ok(())
}

/// `hq serve` by `binary` on `dir`, asked by a thread for each of `tokens` once a second for
/// `seconds`: its CPU seconds over the storm and the answers.
fn storm(
    binary: &Path,
    dir: &Path,
    tokens: &[String],
    seconds: u64,
    tags: bool,
) -> BenchResult<serde_json::Value> {
    let mut served = serve_hq(binary, dir, &[])?;
    let addr = served
        .url
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .to_string();
    let pid = served.process.0.id().to_string();
    let answers = Arc::new(Answers::default());
    let until = Instant::now() + Duration::from_secs(seconds);
    let before = crate::load::cpu_seconds(&pid)?.0;
    std::thread::scope(|scope| {
        for token in tokens {
            let (answers, addr) = (answers.clone(), addr.as_str());
            scope.spawn(move || hub(addr, token, until, tags, &answers));
        }
    });
    let spent = crate::load::cpu_seconds(&pid)?.0 - before;
    let _ = served.process.0.kill();
    let _ = served.process.0.wait();
    let count = |n: &AtomicU64| n.load(Ordering::Relaxed);
    Ok(serde_json::json!({
        "server_cpu_s": (spent * 100.0).round() / 100.0,
        "answered_200": count(&answers.whole),
        "answered_304": count(&answers.not_modified),
        "answered_other": count(&answers.other),
        "registry_bytes": count(&answers.bytes),
    }))
}

/// A hub's relay asking for the registry at `addr` with `token` once a second until `until`,
/// sending back the tag it was last given when `tags`.
fn hub(addr: &str, token: &str, until: Instant, tags: bool, answers: &Answers) {
    let mut tag: Option<String> = None;
    while Instant::now() < until {
        let asked = Instant::now();
        let held = match (&tag, tags) {
            (Some(tag), true) => format!("If-None-Match: {tag}\r\n"),
            _ => String::new(),
        };
        let request = format!(
            "GET /api/v1/hub/registry HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer \
             {token}\r\n{held}Connection: close\r\n\r\n"
        );
        match ask(addr, &request) {
            Ok((200, given, body)) => {
                answers.whole.fetch_add(1, Ordering::Relaxed);
                answers.bytes.fetch_add(body as u64, Ordering::Relaxed);
                tag = given.or(tag);
            }
            Ok((304, _, _)) => {
                answers.not_modified.fetch_add(1, Ordering::Relaxed);
            }
            _ => {
                answers.other.fetch_add(1, Ordering::Relaxed);
            }
        }
        std::thread::sleep(Duration::from_secs(1).saturating_sub(asked.elapsed()));
    }
}

/// One request on a connection of its own: the status, the `ETag` and the body's length.
fn ask(addr: &str, request: &str) -> BenchResult<(u16, Option<String>, usize)> {
    let mut stream = TcpStream::connect(addr)?;
    stream.set_read_timeout(Some(Duration::from_secs(30)))?;
    stream.write_all(request.as_bytes())?;
    let mut reply = Vec::new();
    stream.read_to_end(&mut reply)?;
    let end = reply
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or("no end to the answer's head")?;
    let head = String::from_utf8_lossy(&reply[..end]);
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or("no HTTP status")?;
    let tag = head.lines().find_map(|line| {
        let (name, value) = line.split_once(':')?;
        name.eq_ignore_ascii_case("etag")
            .then(|| value.trim().to_string())
    });
    Ok((status, tag, reply.len() - end - 4))
}
