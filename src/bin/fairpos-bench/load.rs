//! `fairpos-bench hq-load`: closing time at headquarters. `--tills` tills, enrolled with the
//! real `fairpos hq serve` and each holding `--sales` sales made offline, run `fairpos sync`
//! (the real binary, one process each) all at once, while an organizer's client asks the
//! API for its health and a report every 100 ms. Reports each till's sync time, the ingest
//! rate, the API's latencies during the storm, and checks that headquarters holds every sale.
//! `--server PATH` serves headquarters with another `fairpos` binary (an older build, for a
//! side-by-side run on the same tills).

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use fairpos::uplink;
use fairpos_hq::devices;

use crate::measure::{demo_hq, fresh_dir, ms, p50, p99, sell_offline, serve_hq, Lcg};

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

pub fn run(
    tills: usize,
    sales: usize,
    server: Option<PathBuf>,
    dir: Option<PathBuf>,
) -> BenchResult<()> {
    if tills == 0 || sales == 0 {
        return Err("--tills and --sales must be at least 1".into());
    }
    let dir = fresh_dir("hq-load", dir)?;
    std::fs::create_dir_all(&dir)?;
    let hq = demo_hq(&dir.join("hq"))?;
    let codes = (1..=tills)
        .map(|n| devices::add_device(&hq, &format!("T{n:04}"), "S01", false))
        .collect::<Result<Vec<_>, _>>()?;
    drop(hq);
    let fairpos = std::env::current_exe()?.with_file_name("fairpos");
    let server = server.unwrap_or_else(|| fairpos.clone());
    let (hq_server, url) = serve_hq(&server, &dir.join("hq"))?;
    let addr = url.trim_start_matches("http://").to_string();

    eprintln!("enrolling {tills} tills and selling {sales} sales on each, offline");
    let t = Instant::now();
    let trust = fairpos_sync::tls::Trust::system()?;
    let mut rng = Lcg(17);
    for (i, code) in codes.iter().enumerate() {
        let mut till = uplink::enroll(&dir.join(format!("till{i}")), &url, code, "2468", &trust)?;
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

    eprintln!("{tills} tills sync at once");
    let storming = AtomicBool::new(true);
    let storm = Instant::now();
    let (syncs, probes) = std::thread::scope(|scope| -> BenchResult<_> {
        let prober = scope.spawn(|| {
            let (mut health, mut report, mut failed) = (Vec::new(), Vec::new(), 0usize);
            while storming.load(Ordering::Relaxed) {
                for (path, times) in [
                    ("/api/v1/health", &mut health),
                    ("/api/v1/report?by=stall", &mut report),
                ] {
                    let t = Instant::now();
                    match get(&addr, path, &token) {
                        Ok((200, _)) => times.push(t.elapsed()),
                        _ => failed += 1,
                    }
                }
                std::thread::sleep(Duration::from_millis(100));
            }
            (health, report, failed)
        });
        let mut children = Vec::new();
        for i in 0..tills {
            let mut cmd = std::process::Command::new(&fairpos);
            cmd.arg("--data")
                .arg(dir.join(format!("till{i}")))
                .args(["sync", "--timeout", "600"])
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::piped());
            children.push((Instant::now(), cmd.spawn()?));
        }
        let mut syncs = Vec::new();
        let mut failures = Vec::new();
        for (began, child) in children {
            let out = child.wait_with_output()?;
            syncs.push(began.elapsed());
            if !out.status.success() {
                failures.push(String::from_utf8_lossy(&out.stderr).trim().to_string());
            }
        }
        storming.store(false, Ordering::Relaxed);
        let probes = prober.join().map_err(|_| "the prober panicked")?;
        if let Some(first) = failures.first() {
            return Err(
                format!("{} of {tills} syncs failed; first: {first}", failures.len()).into(),
            );
        }
        Ok((syncs, probes))
    })?;
    let storm_time = storm.elapsed();

    let (status, body) = get(&addr, "/api/v1/report?by=stall", &token)?;
    let report: serde_json::Value = serde_json::from_str(&body)?;
    let held: i64 = report["rows"]
        .as_array()
        .map(|rows| rows.iter().filter_map(|r| r["count"].as_i64()).sum())
        .unwrap_or(0);
    if status != 200 || held != (tills * sales) as i64 {
        return Err(format!(
            "headquarters holds {held} sales of {} ({status})",
            tills * sales
        )
        .into());
    }
    drop(hq_server);
    std::fs::remove_dir_all(&dir)?;

    let (health, report_times, probe_failures) = probes;
    let in_ms = |us: f64| (us / 100.0).round() / 10.0;
    let result = serde_json::json!({
        "bench": "hq-load",
        "backend": "sqlite",
        "processes": 1,
        "server": server.display().to_string(),
        "tills": tills,
        "sales_per_till": sales,
        "sales": tills * sales,
        "prepare_s": prepare_s.round(),
        "storm_ms": ms(storm_time),
        "ingest_sales_per_s": ((tills * sales) as f64 / storm_time.as_secs_f64()).round(),
        "till_sync_p50_ms": in_ms(p50(&syncs)),
        "till_sync_p99_ms": in_ms(p99(&syncs)),
        "api_probes": health.len(),
        "api_probe_failures": probe_failures,
        "api_health_p99_ms": in_ms(p99(&health)),
        "api_report_p99_ms": in_ms(p99(&report_times)),
        "api_goal_p99_ms": 300,
    });
    println!("{result}");
    Ok(())
}
