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
//! `--tills-nice 0` shares the CPU equally, as earlier rounds measured. Each storm reports the
//! CPU seconds the `hq serve` processes it started (a `--server` wrapper must `exec`) and the
//! tills used.
//!
//! `--metrics off,on` runs each backend's storm without and with `hq serve --metrics-listen`
//! (what counting requests and sync traffic costs, side by side): with it, the prober also
//! scrapes the first process's `/metrics`, and after the storm every process's figures are
//! summed and checked against the storm (every till's connection, every sale projected).
//!
//! `--rounds R` makes the storm a day of syncs rather than one at closing time: each till's
//! sales are sold in R shares, and every till syncs each share at once before the next is
//! sold. samod then stores a ledger's later changes one to a chunk, which headquarters'
//! projection reads without loading the ledger, until it compacts them (once they weigh as
//! much as the ledger's snapshot, or at once while that is under 1 KiB, as automerge-repo
//! does; vendor/FAIRPOS-PATCH.md, 13). The storm's time and headquarters' CPU are the
//! rounds' syncs alone (selling between them is not counted; a till's sync ends once
//! headquarters has projected it); with metrics served, the ledger documents the projection
//! loaded whole are counted.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use fairpos::till::Till;
use fairpos::uplink;
use fairpos_hq::devices;

pub use self::tills::TillsAs;

mod observe;
mod tills;

use self::observe::{
    backlog_settled, get, http, probe_while, records_held, scrape_settled, summed, watch_screen,
    Probes,
};
use crate::measure::{
    demo_hq, fresh_dir, ms, p50, p99, sell_more, sell_offline, serve_hq, Child, Lcg, Served,
};

type BenchResult<T> = Result<T, Box<dyn std::error::Error>>;

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
    /// The syncs of each till in a storm: its sales sold in this many shares, each synced by
    /// every till at once before the next is sold.
    pub rounds: usize,
}

pub fn run(options: Options) -> BenchResult<()> {
    if options.tills == 0 || options.sales == 0 || options.processes == 0 || options.rounds == 0 {
        return Err("--tills, --sales, --processes and --rounds must be at least 1".into());
    }
    if options.rounds > options.sales {
        return Err("--rounds must be at most --sales (each round sells a sale at least)".into());
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

/// The sales each till sells before round `round` of `rounds` (from 0) syncs, of
/// `sales`: an equal share, the first rounds one more while any are left over.
fn share(sales: usize, rounds: usize, round: usize) -> usize {
    sales / rounds + usize::from(round < sales % rounds)
}

/// One storm; `again`: after another of this run on the same backend.
fn storm(
    options: &Options,
    backend: Backend,
    metrics: Metrics,
    again: bool,
) -> BenchResult<serde_json::Value> {
    let (tills, sales, rounds, nice, how) = (
        options.tills,
        options.sales,
        options.rounds,
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

    eprintln!(
        "{backend:?}, {processes} process(es): enrolling {tills} tills and selling {} sales \
         on each, offline",
        share(sales, rounds, 0)
    );
    let t = Instant::now();
    let trust = fairpos_sync::tls::Trust::system()?;
    let mut rng = Lcg(17);
    for (i, code) in codes.iter().enumerate() {
        let url = &urls[i % processes];
        let mut till = uplink::enroll(&dir.join(format!("till{i}")), url, code, "2468", &trust)?;
        sell_offline(&mut till, share(sales, rounds, 0), &mut rng)?;
        if (i + 1) % 50 == 0 {
            eprintln!(
                "  {} tills ready ({:.0} s)",
                i + 1,
                t.elapsed().as_secs_f64()
            );
        }
    }
    let mut prepare_s = t.elapsed().as_secs_f64();

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

    let till_dirs: Vec<PathBuf> = (0..tills).map(|i| dir.join(format!("till{i}"))).collect();
    let storming = Storming {
        addr: &addr,
        token: &token,
        scrape_at: scraped_at.first().map(String::as_str),
        screen: options.screen,
        till_dirs: &till_dirs,
        how,
        fairpos: &fairpos,
        nice,
    };
    // Headquarters' CPU during the rounds' syncs alone, as the storm's time.
    let mut servers_used = 0.0;
    let mut storm = Round::default();
    let mut round_ms = Vec::new();
    let mut sold = share(sales, rounds, 0);
    for round in 0..rounds {
        if round > 0 {
            let t = Instant::now();
            let more = share(sales, rounds, round);
            for dir in &till_dirs {
                sell_more(&mut Till::open(dir)?, sold, more, &mut rng)?;
            }
            sold += more;
            prepare_s += t.elapsed().as_secs_f64();
        }
        eprintln!(
            "{tills} tills sync at once (as {}, nice {nice}), round {} of {rounds}",
            value_name(how),
            round + 1
        );
        let servers_before = servers_cpu(&servers)?;
        let this = storming.round()?;
        servers_used += servers_cpu(&servers)? - servers_before;
        round_ms.push(ms(this.time));
        storm.extend(this);
    }

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
            "documents_loaded": total("fairpos_hq_projection_documents_loaded_total"),
            "records_held": held,
            "backlog_after": backlog_settled(
                &dir.join("hq"),
                backend,
                options.database.as_deref()
            )?,
        });
        // Each record projected once, whichever process took it.
        if counted["sync_connections"].as_f64() < Some((tills * rounds) as f64)
            || counted["projection_records"].as_f64() != Some(held)
            || held < (tills * sales) as f64
        {
            return Err(format!("the metrics missed part of the storm: {counted}").into());
        }
        Some(counted)
    };
    drop(servers);
    std::fs::remove_dir_all(&dir)?;

    let Round {
        time,
        syncs,
        tills_used,
        probes,
        screen_events,
    } = storm;
    let in_ms = |us: f64| (us / 100.0).round() / 10.0;
    Ok(serde_json::json!({
        "bench": "hq-load",
        "backend": value_name(backend),
        "processes": processes,
        "server": server.display().to_string(),
        "tills": tills,
        "sales_per_till": sales,
        "sales": tills * sales,
        "rounds": rounds,
        "round_ms": round_ms,
        "tills_nice": nice,
        "tills_as": value_name(how),
        "prepare_s": prepare_s.round(),
        "storm_ms": ms(time),
        "ingest_sales_per_s": ((tills * sales) as f64 / time.as_secs_f64()).round(),
        "hq_cpu_s": (servers_used * 100.0).round() / 100.0,
        "tills_cpu_s": (tills_used * 100.0).round() / 100.0,
        "till_sync_p50_ms": in_ms(p50(&syncs)),
        "till_sync_p99_ms": in_ms(p99(&syncs)),
        "api_probes": probes.times[0].len(),
        "api_probe_failures": probes.failed,
        "api_health_p99_ms": in_ms(p99(&probes.times[0])),
        "api_report_p99_ms": in_ms(p99(&probes.times[1])),
        // None from a build without the route.
        "api_ready_p99_ms": (!probes.times[2].is_empty()).then(|| in_ms(p99(&probes.times[2]))),
        "api_goal_p99_ms": 300,
        "screen_events": screen_events,
        "metrics": value_name(metrics),
        "metrics_scrape_p99_ms": (!probes.scrapes.is_empty()).then(|| in_ms(p99(&probes.scrapes))),
        "metrics_counted": counted,
    }))
}

/// What a storm's rounds share: where headquarters is asked, and how the tills sync.
struct Storming<'a> {
    addr: &'a str,
    token: &'a str,
    /// The first process's `/metrics`, scraped as the API is probed.
    scrape_at: Option<&'a str>,
    screen: bool,
    till_dirs: &'a [PathBuf],
    how: TillsAs,
    fairpos: &'a Path,
    nice: u8,
}

/// One round of a storm (every till syncing at once), or the rounds of a storm together.
#[derive(Default)]
struct Round {
    /// From the first till's start to the last till's end.
    time: Duration,
    /// Each till's sync.
    syncs: Vec<Duration>,
    /// The CPU seconds the tills used.
    tills_used: f64,
    probes: Probes,
    /// The sets of figures the big screen brought, when it was watched.
    screen_events: Option<usize>,
}

impl Round {
    fn extend(&mut self, more: Round) {
        self.time += more.time;
        self.syncs.extend(more.syncs);
        self.tills_used += more.tills_used;
        self.probes.extend(more.probes);
        if let Some(n) = more.screen_events {
            *self.screen_events.get_or_insert(0) += n;
        }
    }
}

impl Storming<'_> {
    /// Every till syncs at once, the API probed (and the big screen watched) meanwhile; an
    /// error when a till's sync failed.
    fn round(&self) -> BenchResult<Round> {
        let storming = AtomicBool::new(true);
        let began = Instant::now();
        std::thread::scope(|scope| -> BenchResult<Round> {
            let screen = self.screen.then(|| {
                scope.spawn(|| {
                    watch_screen(self.addr, self.token, &storming).map_err(|e| e.to_string())
                })
            });
            let prober =
                scope.spawn(|| probe_while(self.addr, self.token, self.scrape_at, &storming));
            let synced = tills::sync_at_once(self.till_dirs, self.how, self.fairpos, self.nice);
            let time = began.elapsed();
            // The prober stops whatever came of the round: the scope waits for it.
            storming.store(false, Ordering::Relaxed);
            let (syncs, tills_used) = synced?;
            let failures: Vec<&String> = syncs.iter().filter_map(|s| s.1.as_ref().err()).collect();
            let probes = prober.join().map_err(|_| "the prober panicked")?;
            let screen_events = match screen {
                Some(screen) => Some(screen.join().map_err(|_| "the screen panicked")??),
                None => None,
            };
            if let Some(first) = failures.first() {
                return Err(format!(
                    "{} of {} syncs failed; first: {first}",
                    failures.len(),
                    syncs.len()
                )
                .into());
            }
            Ok(Round {
                time,
                syncs: syncs.iter().map(|s| s.0).collect(),
                tills_used,
                probes,
                screen_events,
            })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::{share, stat_cpu_seconds};

    #[test]
    fn a_tills_sales_are_shared_out_over_the_rounds_to_the_last_sale() {
        let shares: Vec<usize> = (0..3).map(|round| share(20, 3, round)).collect();
        assert_eq!(shares, [7, 7, 6]);
        assert_eq!((0..4).map(|round| share(100, 4, round)).sum::<usize>(), 100);
        assert_eq!(share(5, 1, 0), 5);
    }

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
