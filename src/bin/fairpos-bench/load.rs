//! `fairpos-bench hq-load`: closing time at headquarters. `--tills` tills, enrolled with the
//! real `fairpos hq serve` and each holding `--sales` sales made offline, sync all at once,
//! while an organizer's client asks the API for its health, a report and its readiness
//! every 100 ms (a probe answered other than 200 is counted as failed).
//! Reports each till's sync time, the ingest rate, the API's latencies during the storm, and
//! checks that headquarters holds every sale. `--server PATH` serves headquarters with
//! another `fairpos` binary (an older build, for a side-by-side run on the same tills).
//!
//! `--backend sqlite,postgres --database URL --processes K` runs the storm once per backend,
//! in one run: on PostgreSQL (an empty database), K `hq serve` processes share it and the
//! tills enrol (and sync) round-robin across them; the API is asked at the first. One JSON
//! line per backend; the last line holds them all.
//!
//! Each till runs `fairpos sync` (the real binary, one process each), or with `--tills-as
//! threads` the same sync pass on a thread of the bench ([`tills`]). The tills run
//! `--tills-nice` steps nicer than the bench, as `nice -n` counts (10 unless told): on this
//! 2-core machine they stand for devices elsewhere, and at the server's own priority the 500
//! of them would take from headquarters the CPU it has to itself in the field.
//! `--tills-nice 0` shares the CPU equally, as earlier rounds measured. Each storm reports the CPU seconds the `hq serve` processes it started (a
//! `--server` wrapper must `exec`) and the tills used.
//!
//! `--metrics off,on` runs each backend's storm without and with `hq serve --metrics-listen`
//! (what counting requests and sync traffic costs, side by side): with it, the prober also
//! scrapes the first process's `/metrics`, and after the storm every process's figures are
//! summed and checked against the storm (every till's connection, every sale projected).

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use fairpos::uplink;
use fairpos_hq::devices;
use fairpos_hq::server::scrape::METRICS;
use fairpos_hq::server::READY;

pub use self::tills::TillsAs;

mod tills;

use crate::measure::{
    demo_hq, fresh_dir, ms, p50, p99, sell_offline, serve_hq, Child, Lcg, Served,
};

type BenchResult<T> = Result<T, Box<dyn std::error::Error>>;

/// One HTTP/1.1 request to `addr` (plain, as the bench's headquarters serves); the status and
/// the body.
fn http(addr: &str, request: &str) -> BenchResult<(u16, String)> {
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

fn get(addr: &str, path: &str, token: &str) -> BenchResult<(u16, String)> {
    http(
        addr,
        &format!(
            "GET {path} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {token}\r\n\
             Connection: close\r\n\r\n"
        ),
    )
}

/// CPU seconds from `/proc/PID/stat` (`self` for this process): the process's own (user and
/// system, all its threads), and its children's that it has waited for. In USER_HZ ticks,
/// 100 a second on Linux.
pub(crate) fn cpu_seconds(pid: &str) -> BenchResult<(f64, f64)> {
    stat_cpu_seconds(&std::fs::read_to_string(format!("/proc/{pid}/stat"))?)
}

/// [`cpu_seconds`] of the text of a `/proc/PID/stat`.
fn stat_cpu_seconds(stat: &str) -> BenchResult<(f64, f64)> {
    let ticks = |field: usize| -> BenchResult<f64> {
        let value: u64 = stat_field(stat, field).ok_or("a short stat")?.parse()?;
        Ok(value as f64 / 100.0)
    };
    Ok((ticks(14)? + ticks(15)?, ticks(16)? + ticks(17)?))
}

/// Field `n` (from 1, as `proc(5)` counts them) of the text of a `/proc/…/stat`, for the
/// fields after the command, which start at the third; the command may hold anything.
fn stat_field(stat: &str, n: usize) -> Option<&str> {
    let (_, fields) = stat.rsplit_once(')')?;
    fields.split_whitespace().nth(n.checked_sub(3)?)
}

/// The name a value of `--backend` or `--tills-as` is given on the command line, for the
/// JSON.
fn value_name(value: impl clap::ValueEnum) -> String {
    value
        .to_possible_value()
        .map(|v| v.get_name().to_string())
        .unwrap_or_default()
}

/// The CPU seconds `servers` have used.
fn servers_cpu(servers: &[Child]) -> BenchResult<f64> {
    servers
        .iter()
        .map(|s| Ok(cpu_seconds(&s.0.id().to_string())?.0))
        .sum()
}

/// Whether the storm's `hq serve` processes serve `/metrics`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Metrics {
    Off,
    On,
}

/// The sum over `scrapes` (texts of `/metrics`) of the series `series`.
fn summed(scrapes: &[String], series: &str) -> f64 {
    scrapes
        .iter()
        .filter_map(|text| fairpos_hq::metrics::sample(text, series))
        .sum()
}

/// Records headquarters' projection holds: in `hq` (its data directory) on SQLite, in
/// `database` on PostgreSQL.
fn records_held(hq: &Path, backend: Backend, database: Option<&str>) -> BenchResult<f64> {
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
fn backlog_settled(hq: &Path, backend: Backend, database: Option<&str>) -> BenchResult<usize> {
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
fn scrape_settled(at: &[&str], held: f64) -> BenchResult<Vec<String>> {
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

/// Where headquarters keeps its data in a run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// What `hq-load` is asked for.
pub struct Options {
    pub tills: usize,
    pub sales: usize,
    pub server: Option<PathBuf>,
    pub dir: Option<PathBuf>,
    pub backends: Vec<Backend>,
    /// An empty PostgreSQL database, for `Backend::Postgres`.
    pub database: Option<String>,
    /// `hq serve` processes on PostgreSQL.
    pub processes: usize,
    /// How much nicer than the bench the tills' syncs run, as `nice -n` counts.
    pub tills_nice: u8,
    /// Whether each till syncs in a `fairpos sync` process or on a thread of the bench.
    pub tills_as: TillsAs,
    /// Whether the big screen follows the storm.
    pub screen: bool,
    /// A storm per backend without and/or with metrics served, in this order.
    pub metrics: Vec<Metrics>,
}

/// Follows the big screen's event stream at `addr` until `storming` ends (and its first
/// figures came, 10 s at most after); how many sets of figures it brought.
fn watch_screen(addr: &str, token: &str, storming: &AtomicBool) -> BenchResult<usize> {
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

pub fn run(options: Options) -> BenchResult<()> {
    if options.tills == 0 || options.sales == 0 || options.processes == 0 {
        return Err("--tills, --sales and --processes must be at least 1".into());
    }
    if options.backends.contains(&Backend::Postgres) && options.database.is_none() {
        return Err("--backend postgres needs --database URL (an empty database)".into());
    }
    let mut runs = Vec::new();
    for &backend in &options.backends {
        for (i, &metrics) in options.metrics.iter().enumerate() {
            let result = storm(&options, backend, metrics, i > 0)?;
            println!("{result}");
            runs.push(result);
        }
    }
    println!(
        "{}",
        serde_json::json!({ "bench": "hq-load", "runs": runs })
    );
    Ok(())
}

/// Sets up headquarters in `dir` on `backend` with `tills` tills (`T0001`…); their codes.
/// `filled_here`: an earlier storm of this run filled the database, which is emptied first
/// (any other must be empty).
fn set_up(
    dir: &Path,
    backend: Backend,
    database: Option<&str>,
    tills: usize,
    filled_here: bool,
) -> BenchResult<Vec<String>> {
    let hq = demo_hq(dir)?;
    let devices: Vec<String> = (1..=tills).map(|n| format!("T{n:04}")).collect();
    if backend == Backend::Sqlite {
        return Ok(devices
            .iter()
            .map(|d| devices::add_device(&hq, d, "S01", false))
            .collect::<Result<_, _>>()?);
    }
    let url = database.ok_or("no database")?;
    fairpos_hq::set_meta(&hq.conn, "database", url)?;
    let accounts = fairpos_hq::server::postgres::founding_accounts(&hq)?;
    let runtime = tokio::runtime::Runtime::new()?;
    runtime.block_on(async {
        let pool = fairpos_postgres::connect(url)?;
        if filled_here {
            pool.get()
                .await?
                .batch_execute("DROP SCHEMA public CASCADE; CREATE SCHEMA public")
                .await?;
        }
        if fairpos_postgres::schema_version(&pool).await? != 0 {
            let shown = fairpos_postgres::shown_address(url);
            return Err(format!("{shown} is not an empty database").into());
        }
        fairpos_postgres::migrate(&pool).await?;
        fairpos_hq::server::postgres::give_accounts(&pool, &accounts).await?;
        let mut codes = Vec::new();
        for device in &devices {
            let (code, hash) = devices::new_code();
            fairpos_postgres::registry::add_device(&pool, device, "S01", "till", &hash).await?;
            codes.push(code);
        }
        Ok::<_, Box<dyn std::error::Error>>(codes)
    })
}

/// One storm; `again`: after another of this run on the same backend.
fn storm(
    options: &Options,
    backend: Backend,
    metrics: Metrics,
    again: bool,
) -> BenchResult<serde_json::Value> {
    let (tills, sales, nice, how) = (
        options.tills,
        options.sales,
        options.tills_nice,
        options.tills_as,
    );
    let processes = match backend {
        Backend::Sqlite => 1,
        Backend::Postgres => options.processes,
    };
    let dir = fresh_dir("hq-load", options.dir.clone())?;
    std::fs::create_dir_all(&dir)?;
    let codes = set_up(
        &dir.join("hq"),
        backend,
        options.database.as_deref(),
        tills,
        again,
    )?;
    let fairpos = std::env::current_exe()?.with_file_name("fairpos");
    let server = options.server.clone().unwrap_or_else(|| fairpos.clone());
    let mut servers = Vec::new();
    let mut urls = Vec::new();
    let mut scraped_at = Vec::new();
    let extra: &[&str] = match metrics {
        Metrics::Off => &[],
        Metrics::On => &["--metrics-listen", "127.0.0.1:0"],
    };
    for _ in 0..processes {
        let Served {
            process,
            url,
            metrics: at,
        } = serve_hq(&server, &dir.join("hq"), extra)?;
        servers.push(process);
        urls.push(url);
        if metrics == Metrics::On {
            scraped_at.push(at.ok_or("hq serve --metrics-listen said no address")?);
        }
    }
    let addr = urls[0].trim_start_matches("http://").to_string();
    // Scraped during the storm (at the first process) as the API is probed.
    let scrape_first = scraped_at.first().cloned();

    eprintln!("{backend:?}, {processes} process(es): enrolling {tills} tills and selling {sales} sales on each, offline");
    let t = Instant::now();
    let trust = fairpos_sync::tls::Trust::system()?;
    let mut rng = Lcg(17);
    for (i, code) in codes.iter().enumerate() {
        let url = &urls[i % processes];
        let mut till = uplink::enroll(&dir.join(format!("till{i}")), url, code, "2468", &trust)?;
        sell_offline(&mut till, sales, &mut rng)?;
        if (i + 1) % 50 == 0 {
            eprintln!(
                "  {} tills ready ({:.0} s)",
                i + 1,
                t.elapsed().as_secs_f64()
            );
        }
    }
    let prepare_s = t.elapsed().as_secs_f64();

    let (status, body) = http(&addr, &{
        let login = r#"{"name":"organizer","password":"bench-password"}"#;
        format!(
            "POST /api/v1/login HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\n\
                 Content-Length: {}\r\nConnection: close\r\n\r\n{login}",
            login.len()
        )
    })?;
    let token = serde_json::from_str::<serde_json::Value>(&body)?["token"]
        .as_str()
        .map(str::to_string)
        .ok_or(format!("login refused ({status}): {body}"))?;
    let probed = ["/api/v1/health", "/api/v1/report?by=stall", READY];

    eprintln!(
        "{tills} tills sync at once (as {}, nice {nice})",
        value_name(how)
    );
    let till_dirs: Vec<PathBuf> = (0..tills).map(|i| dir.join(format!("till{i}"))).collect();
    let storming = AtomicBool::new(true);
    let servers_before = servers_cpu(&servers)?;
    let storm = Instant::now();
    let (syncs, tills_used, probes, screen_events) =
        std::thread::scope(|scope| -> BenchResult<_> {
            let screen = options.screen.then(|| {
                scope.spawn(|| watch_screen(&addr, &token, &storming).map_err(|e| e.to_string()))
            });
            let prober = scope.spawn(|| {
                let mut times = vec![Vec::new(); probed.len()];
                let mut scrapes = Vec::new();
                let mut failed = 0usize;
                while storming.load(Ordering::Relaxed) {
                    for (path, times) in probed.iter().zip(&mut times) {
                        let t = Instant::now();
                        match get(&addr, path, &token) {
                            Ok((200, _)) => times.push(t.elapsed()),
                            // An older build (`--server`) serves no readiness.
                            Ok((404, _)) if *path == READY => {}
                            _ => failed += 1,
                        }
                    }
                    if let Some(at) = &scrape_first {
                        let t = Instant::now();
                        match get(at, METRICS, "") {
                            Ok((200, _)) => scrapes.push(t.elapsed()),
                            _ => failed += 1,
                        }
                    }
                    std::thread::sleep(Duration::from_millis(100));
                }
                (times, scrapes, failed)
            });
            let synced = tills::sync_at_once(&till_dirs, how, &fairpos, nice);
            // The prober stops whatever came of the storm: the scope waits for it.
            storming.store(false, Ordering::Relaxed);
            let (syncs, tills_used) = synced?;
            let failures: Vec<&String> = syncs.iter().filter_map(|s| s.1.as_ref().err()).collect();
            let probes = prober.join().map_err(|_| "the prober panicked")?;
            let screen_events = match screen {
                Some(screen) => Some(screen.join().map_err(|_| "the screen panicked")??),
                None => None,
            };
            if let Some(first) = failures.first() {
                return Err(
                    format!("{} of {tills} syncs failed; first: {first}", failures.len()).into(),
                );
            }
            let syncs: Vec<Duration> = syncs.iter().map(|s| s.0).collect();
            Ok((syncs, tills_used, probes, screen_events))
        })?;
    let storm_time = storm.elapsed();
    let servers_used = servers_cpu(&servers)? - servers_before;

    let (status, body) = get(&addr, "/api/v1/report?by=stall", &token)?;
    if status != 200 {
        return Err(format!("the report after the storm: {status} {body}").into());
    }
    let report: serde_json::Value = serde_json::from_str(&body)?;
    let held: i64 = report["rows"]
        .as_array()
        .map(|rows| rows.iter().filter_map(|r| r["count"].as_i64()).sum())
        .unwrap_or(0);
    if held != (tills * sales) as i64 {
        return Err(format!("headquarters holds {held} sales of {}", tills * sales).into());
    }
    let at: Vec<&str> = scraped_at.iter().map(String::as_str).collect();
    let counted = if at.is_empty() {
        None
    } else {
        let held = records_held(&dir.join("hq"), backend, options.database.as_deref())?;
        let scrapes = scrape_settled(&at, held)?;
        let total = |series| summed(&scrapes, series);
        let counted = serde_json::json!({
            "sync_connections": total("fairpos_hq_sync_connections_total"),
            "sync_received_bytes": total("fairpos_hq_sync_received_bytes_total"),
            "projection_ledgers": total("fairpos_hq_projection_ledgers_total"),
            "projection_records": total("fairpos_hq_projection_records_total"),
            "projection_failures": total("fairpos_hq_projection_failures_total"),
            "records_held": held,
            "backlog_after": backlog_settled(
                &dir.join("hq"),
                backend,
                options.database.as_deref()
            )?,
        });
        // Each record projected once, whichever process took it.
        if counted["sync_connections"].as_f64() < Some(tills as f64)
            || counted["projection_records"].as_f64() != Some(held)
            || held < (tills * sales) as f64
        {
            return Err(format!("the metrics missed part of the storm: {counted}").into());
        }
        Some(counted)
    };
    drop(servers);
    std::fs::remove_dir_all(&dir)?;

    let (times, scrapes, probe_failures) = probes;
    let in_ms = |us: f64| (us / 100.0).round() / 10.0;
    Ok(serde_json::json!({
        "bench": "hq-load",
        "backend": value_name(backend),
        "processes": processes,
        "server": server.display().to_string(),
        "tills": tills,
        "sales_per_till": sales,
        "sales": tills * sales,
        "tills_nice": nice,
        "tills_as": value_name(how),
        "prepare_s": prepare_s.round(),
        "storm_ms": ms(storm_time),
        "ingest_sales_per_s": ((tills * sales) as f64 / storm_time.as_secs_f64()).round(),
        "hq_cpu_s": (servers_used * 100.0).round() / 100.0,
        "tills_cpu_s": (tills_used * 100.0).round() / 100.0,
        "till_sync_p50_ms": in_ms(p50(&syncs)),
        "till_sync_p99_ms": in_ms(p99(&syncs)),
        "api_probes": times[0].len(),
        "api_probe_failures": probe_failures,
        "api_health_p99_ms": in_ms(p99(&times[0])),
        "api_report_p99_ms": in_ms(p99(&times[1])),
        // None from a build without the route.
        "api_ready_p99_ms": (!times[2].is_empty()).then(|| in_ms(p99(&times[2]))),
        "api_goal_p99_ms": 300,
        "screen_events": screen_events,
        "metrics": value_name(metrics),
        "metrics_scrape_p99_ms": (!scrapes.is_empty()).then(|| in_ms(p99(&scrapes))),
        "metrics_counted": counted,
    }))
}

#[cfg(test)]
mod tests {
    use super::stat_cpu_seconds;

    #[test]
    fn cpu_seconds_are_read_after_the_command_whatever_it_holds() {
        // pid (comm) state ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt
        // utime stime cutime cstime ...
        let stat = "4242 (a) (b c) S 1 2 3 4 5 6 7 8 9 10 150 25 700 50 20 10 1 0";
        let (own, children) = stat_cpu_seconds(stat).unwrap();
        assert!((own - 1.75).abs() < 1e-9, "{own}");
        assert!((children - 7.5).abs() < 1e-9, "{children}");
        assert!(stat_cpu_seconds("4242 (short) S 1 2").is_err());
        assert!(stat_cpu_seconds("no command").is_err());
    }
}
