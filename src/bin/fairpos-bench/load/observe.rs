//! What `hq-load` watches of headquarters: the API asked every 100 ms during a storm, the big
//! screen's event stream, and after the storm what `/metrics` and the projection say.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use fairpos_hq::server::scrape::METRICS;
use fairpos_hq::server::READY;

use super::{Backend, BenchResult};

/// One HTTP/1.1 request to `addr` (plain, as the bench's headquarters serves); the status and
/// the body.
pub fn http(addr: &str, request: &str) -> BenchResult<(u16, String)> {
    let mut stream = TcpStream::connect(addr)?;
    stream.set_read_timeout(Some(Duration::from_secs(120)))?;
    stream.write_all(request.as_bytes())?;
    let mut reply = Vec::new();
    stream.read_to_end(&mut reply)?;
    let reply = String::from_utf8_lossy(&reply);
    let status = reply
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or("no HTTP status")?;
    let body = reply.split_once("\r\n\r\n").map(|(_, b)| b).unwrap_or("");
    Ok((status, body.to_string()))
}

pub fn get(addr: &str, path: &str, token: &str) -> BenchResult<(u16, String)> {
    http(
        addr,
        &format!(
            "GET {path} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {token}\r\n\
             Connection: close\r\n\r\n"
        ),
    )
}

/// What the API's probes saw during a storm: each probed path's answer times (in the
/// order of [`PROBED`]), the `/metrics` scrapes' and how many probes failed.
#[derive(Default)]
pub struct Probes {
    pub times: [Vec<Duration>; PROBED.len()],
    pub scrapes: Vec<Duration>,
    pub failed: usize,
}

impl Probes {
    /// These probes and `more`'s, as one storm's.
    pub fn extend(&mut self, more: Probes) {
        for (times, more) in self.times.iter_mut().zip(more.times) {
            times.extend(more);
        }
        self.scrapes.extend(more.scrapes);
        self.failed += more.failed;
    }
}

/// What an organizer's client asks during the storm: health, a report and readiness.
pub const PROBED: [&str; 3] = ["/api/v1/health", "/api/v1/report?by=stall", READY];

/// Asks headquarters at `addr` for each of [`PROBED`] every 100 ms while `storming`, and its
/// `/metrics` at `scrape_at` when given; a probe answered other than 200 is counted as
/// failed.
pub fn probe_while(
    addr: &str,
    token: &str,
    scrape_at: Option<&str>,
    storming: &AtomicBool,
) -> Probes {
    let mut probes = Probes::default();
    while storming.load(Ordering::Relaxed) {
        for (path, times) in PROBED.iter().zip(&mut probes.times) {
            let t = Instant::now();
            match get(addr, path, token) {
                Ok((200, _)) => times.push(t.elapsed()),
                // An older build (`--server`) serves no readiness.
                Ok((404, _)) if *path == READY => {}
                _ => probes.failed += 1,
            }
        }
        if let Some(at) = scrape_at {
            let t = Instant::now();
            match get(at, METRICS, "") {
                Ok((200, _)) => probes.scrapes.push(t.elapsed()),
                _ => probes.failed += 1,
            }
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    probes
}

/// The sum over `scrapes` (texts of `/metrics`) of the series `series`.
pub fn summed(scrapes: &[String], series: &str) -> f64 {
    scrapes
        .iter()
        .filter_map(|text| fairpos_hq::metrics::sample(text, series))
        .sum()
}

/// Records headquarters' projection holds: in `hq` (its data directory) on SQLite, in
/// `database` on PostgreSQL.
pub fn records_held(hq: &Path, backend: Backend, database: Option<&str>) -> BenchResult<f64> {
    let count: i64 = match backend {
        Backend::Sqlite => {
            fairpos_hq::connect(hq)?.query_row("SELECT count(*) FROM records", [], |r| r.get(0))?
        }
        Backend::Postgres => tokio::runtime::Runtime::new()?.block_on(async {
            let pool = fairpos_postgres::connect(database.ok_or("no database")?)?;
            let row = pool
                .get()
                .await?
                .query_one("SELECT count(*) FROM records", &[])
                .await?;
            Ok::<i64, Box<dyn std::error::Error>>(row.get(0))
        })?,
    };
    Ok(count as f64)
}

/// The projection's backlog as `/metrics` reads it ([`fairpos_hq::project::backlog`], or
/// PostgreSQL's), once it is 0 or 10 s have passed: after a storm whose records are all
/// projected, what stays is a ledger counted as waiting when nothing of it is.
pub fn backlog_settled(hq: &Path, backend: Backend, database: Option<&str>) -> BenchResult<usize> {
    let since = Instant::now();
    let runtime = tokio::runtime::Runtime::new()?;
    let pool = match backend {
        Backend::Sqlite => None,
        Backend::Postgres => Some(fairpos_postgres::connect(database.ok_or("no database")?)?),
    };
    loop {
        let waiting = match &pool {
            None => fairpos_hq::project::backlog(&fairpos_hq::connect(hq)?)?,
            Some(pool) => runtime.block_on(fairpos_postgres::ledgers::backlog(
                pool,
                Duration::from_secs(10),
            ))?,
        };
        if waiting == 0 || since.elapsed() > Duration::from_secs(10) {
            return Ok(waiting);
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// Every process's `/metrics` once their projected records add up to `held` (10 s at most:
/// a process counts a pass just after its commit, which a till may hear of first).
pub fn scrape_settled(at: &[&str], held: f64) -> BenchResult<Vec<String>> {
    let since = Instant::now();
    loop {
        let scrapes = at
            .iter()
            .map(|addr| match get(addr, METRICS, "")? {
                (200, text) => Ok(text),
                (status, text) => Err(format!("/metrics answered {status}: {text}").into()),
            })
            .collect::<BenchResult<Vec<String>>>()?;
        let records = summed(&scrapes, "fairpos_hq_projection_records_total");
        if records == held || since.elapsed() > Duration::from_secs(10) {
            return Ok(scrapes);
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Follows the big screen's event stream at `addr` until `storming` ends (and its first
/// figures came, 10 s at most after); how many sets of figures it brought.
pub fn watch_screen(addr: &str, token: &str, storming: &AtomicBool) -> BenchResult<usize> {
    let mut stream = TcpStream::connect(addr)?;
    stream.set_read_timeout(Some(Duration::from_millis(100)))?;
    stream.write_all(
        format!(
            "GET /screen/events HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {token}\r\n\r\n"
        )
        .as_bytes(),
    )?;
    let mut seen = Vec::new();
    let mut buffer = [0u8; 64 * 1024];
    let figures = |seen: &[u8]| {
        String::from_utf8_lossy(seen)
            .matches("event: figures")
            .count()
    };
    let mut ended: Option<Instant> = None;
    loop {
        if !storming.load(Ordering::Relaxed) {
            let ended = *ended.get_or_insert_with(Instant::now);
            if figures(&seen) > 0 || ended.elapsed() > Duration::from_secs(10) {
                break;
            }
        }
        match stream.read(&mut buffer) {
            Ok(0) => return Err("the big screen's stream ended during the storm".into()),
            Ok(n) => seen.extend_from_slice(&buffer[..n]),
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) => {}
            Err(e) => return Err(e.into()),
        }
    }
    let seen = String::from_utf8_lossy(&seen);
    if !seen.starts_with("HTTP/1.1 200") {
        return Err(format!(
            "the big screen was refused: {}",
            seen.lines().next().unwrap_or("")
        )
        .into());
    }
    Ok(figures(seen.as_bytes()))
}
