//! `/metrics` over TLS and its token, a renewed certificate served after SIGHUP, and what
//! SIGHUP and `--metrics-listen` refuse.

use super::*;

/// The issuer of the certificate served at `addr`, as `openssl s_client` receives it.
fn served_issuer(addr: SocketAddr) -> String {
    let openssl = |args: &[&str], input: &[u8]| {
        use std::io::Write;
        let mut child = std::process::Command::new("openssl")
            .args(args)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        child.stdin.take().unwrap().write_all(input).unwrap();
        child.wait_with_output().unwrap().stdout
    };
    let connect = addr.to_string();
    let shown = openssl(&["s_client", "-connect", &connect], b"");
    String::from_utf8(openssl(&["x509", "-noout", "-issuer"], &shown)).unwrap()
}

/// Where `server` serves `/metrics` (host and port).
fn metrics_address(server: &Server) -> SocketAddr {
    let url = server
        .metrics
        .as_deref()
        .expect("a line saying where metrics are");
    let (_, at) = url.split_once("://").unwrap();
    at.strip_suffix("/metrics").unwrap().parse().unwrap()
}

/// `GET path` from `at` over TLS, trusting only the certificate authority `ca` (and checking
/// the certificate is for 127.0.0.1), with `authorization` if given, by `openssl s_client`:
/// the whole HTTP answer, empty if the certificate does not verify.
fn https_get(at: SocketAddr, ca: &std::path::Path, path: &str, authorization: &str) -> String {
    use std::io::Write;
    let mut request = format!("GET {path} HTTP/1.1\r\nHost: {at}\r\nConnection: close\r\n");
    if !authorization.is_empty() {
        request.push_str(&format!("Authorization: {authorization}\r\n"));
    }
    request.push_str("\r\n");
    let connect = at.to_string();
    let mut child = std::process::Command::new("openssl")
        .args(["s_client", "-quiet", "-connect", &connect])
        .args(["-CAfile", common::tls::path(ca), "-verify_return_error"])
        .args(["-verify_ip", "127.0.0.1"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(request.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// `/metrics` over TLS asks for `--metrics-token-file`'s token: a scraper without it, or with
/// another, is answered 401 and sees no figure; plain HTTP gets no answer there. SIGHUP reads
/// the file again: a new token is asked for (the old one too while the file holds both), a
/// file without one is logged and changes nothing.
/// A token file that does not hold a token stops `hq serve` in one line, and a token without
/// `--metrics-listen` is refused.
#[test]
fn metrics_over_tls_are_served_only_with_the_token() {
    use common::tls::{certificates, path};
    let hq = Hq::demo();
    let certs = tempfile::tempdir().unwrap();
    let (ca, cert, key) = certificates(certs.path(), "monitoring");
    let token = "9f86d081884c7d659a2feaa0c55ad015";
    let token_file = certs.path().join("metrics.token");
    std::fs::write(&token_file, format!("{token}\n")).unwrap();
    let tls = ["--tls-cert", path(&cert), "--tls-key", path(&key)];
    let metrics = ["--metrics-listen", "127.0.0.1:0"];
    let mut args = [&tls[..], &metrics[..]].concat();
    args.extend(["--metrics-token-file", path(&token_file)]);
    let log = hq.data().join("serve.log");
    let server = Server::start_logging(hq.data(), &args, &[], File::create(&log).unwrap());
    let url = server.metrics.clone().unwrap();
    assert!(url.starts_with("https://127.0.0.1:"), "{url}");
    let at = metrics_address(&server);

    let answer = https_get(at, &ca, "/metrics", &format!("Bearer {token}"));
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    let build = r#"fairpos_hq_build_info{version="#;
    assert!(answer.contains(build), "{answer}");
    let wrong = format!("Bearer {}0", &token[..token.len() - 1]);
    for authorization in ["", wrong.as_str(), token] {
        let answer = https_get(at, &ca, "/metrics", authorization);
        assert!(
            answer.starts_with("HTTP/1.1 401"),
            "{authorization}: {answer}"
        );
        let asks = "www-authenticate: Bearer realm=\"fairpos metrics\"";
        assert!(
            answer.to_lowercase().contains(&asks.to_lowercase()),
            "{answer}"
        );
        assert!(!answer.contains("fairpos_hq_"), "{answer}");
    }
    // Plain HTTP is not answered there.
    let answered = common::hq::answer_to_raw(
        at,
        b"GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    );
    assert!(!answered.starts_with(b"HTTP/"), "{answered:?}");

    // A new token, read on SIGHUP: asked for from the next scrape on. While it is changed
    // the file holds both, and either is taken (no scrape refused while the scrapers move
    // to the new one); then the new one alone, and the old one is refused.
    let renewed = "60303ae22b998861bce3b28f33eec1be";
    std::fs::write(&token_file, format!("{token}\n{renewed}\n")).unwrap();
    server.hang_up();
    let reloaded = "/metrics asks for any of the 2 tokens in";
    let logged = text_with(&log, reloaded);
    assert!(logged.contains(reloaded), "{logged}");
    assert!(logged.contains(path(&token_file)), "{logged}");
    let status = |token: &str| {
        let answer = https_get(at, &ca, "/metrics", &format!("Bearer {token}"));
        answer.lines().next().unwrap_or_default().to_string()
    };
    assert_eq!(status(token), "HTTP/1.1 200 OK");
    assert_eq!(status(renewed), "HTTP/1.1 200 OK");
    std::fs::write(&token_file, renewed).unwrap();
    server.hang_up();
    let reloaded = "/metrics asks for the token in";
    let logged = text_with(&log, reloaded);
    assert!(logged.contains(reloaded), "{logged}");
    assert_eq!(status(renewed), "HTTP/1.1 200 OK");
    assert_eq!(status(token), "HTTP/1.1 401 Unauthorized");
    // Every refusal counted: the three before SIGHUP, and the old token's after it.
    let answer = https_get(at, &ca, "/metrics", &format!("Bearer {renewed}"));
    let refused = fairpos_hq::metrics::sample(&answer, "fairpos_hq_metrics_scrapes_refused_total");
    assert_eq!(refused, Some(4.0), "{answer}");
    // A file that holds no token then: logged, and the renewed token still asked for.
    std::fs::write(&token_file, "short").unwrap();
    server.hang_up();
    let logged = text_with(&log, "/metrics still asks for the token before");
    assert!(logged.contains("5 characters"), "{logged}");
    assert_eq!(status(renewed), "HTTP/1.1 200 OK");
    // Guessing: the right token forgot this address's wrong ones; 20 more wrong ones in
    // the window, and every scrape from here is refused (429, Retry-After), the right
    // token's too, and counted.
    for guess in 0..20 {
        assert_eq!(status(&format!("{guess:032}")), "HTTP/1.1 401 Unauthorized");
    }
    let answer = https_get(at, &ca, "/metrics", &format!("Bearer {renewed}"));
    assert!(answer.starts_with("HTTP/1.1 429"), "{answer}");
    assert!(
        answer.to_ascii_lowercase().contains("retry-after: "),
        "{answer}"
    );
    let refused = "scrapes from 127.0.0.1 refused: too many wrong tokens";
    let logged = text_with(&log, refused);
    assert!(logged.contains(refused), "{logged}");
    server.stop();

    let serve_refused = |token_file: &str| {
        let mut args = metrics.to_vec();
        args.extend(["--metrics-token-file", token_file]);
        hq.serve_refused(&args).1
    };
    std::fs::write(&token_file, "secret\n").unwrap();
    let missing = certs.path().join("no-such-file");
    for (file, why) in [
        (
            path(&token_file),
            "line 1: 6 characters; a token needs at least 16",
        ),
        (path(&missing), "cannot read it"),
    ] {
        let stderr = serve_refused(file);
        assert_eq!(stderr.trim_end().lines().count(), 1, "{stderr}");
        assert!(
            stderr.contains(&format!("--metrics-token-file {file}: {why}")),
            "{stderr}"
        );
    }
    let out = hq.run(&["hq", "serve", "--metrics-token-file", path(&token_file)]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("--metrics-listen"), "{stderr}");
}

/// The certificate and key files in `dir` that a server is started with, and what puts
/// another certificate and key in their place, as a renewal does.
fn served_files(
    dir: &std::path::Path,
) -> (
    std::path::PathBuf,
    std::path::PathBuf,
    impl Fn(&std::path::Path, &std::path::Path),
) {
    let (cert, key) = (dir.join("hq.pem"), dir.join("hq.key"));
    let (to_cert, to_key) = (cert.clone(), key.clone());
    let install = move |from_cert: &std::path::Path, from_key: &std::path::Path| {
        std::fs::copy(from_cert, &to_cert).unwrap();
        std::fs::copy(from_key, &to_key).unwrap();
    };
    (cert, key, install)
}

/// `hq serve`'s arguments to serve `cert` and `key`, and `/metrics` on a port of its own.
fn serving_tls_and_metrics<'a>(
    cert: &'a std::path::Path,
    key: &'a std::path::Path,
) -> [&'a str; 6] {
    let path = common::tls::path;
    let (cert, key) = (path(cert), path(key));
    [
        "--tls-cert",
        cert,
        "--tls-key",
        key,
        "--metrics-listen",
        "127.0.0.1:0",
    ]
}

/// `path`'s text once a whole line of it holds `needle`, for up to 10 s.
fn text_with(path: &std::path::Path, needle: &str) -> String {
    common::text_with_line(path, needle, Duration::from_secs(10))
}

#[test]
fn a_renewed_certificate_is_served_after_sighup_and_files_that_do_not_match_are_not() {
    use common::tls::{certificates, path};
    let certs = tempfile::tempdir().unwrap();
    let (_, first_cert, first_key) = certificates(certs.path(), "first");
    let (second_ca, second_cert, second_key) = certificates(certs.path(), "second");
    let (cert, key, install) = served_files(certs.path());
    install(&first_cert, &first_key);
    let hq = Hq::demo();
    let log = hq.data().join("serve.log");
    let args = serving_tls_and_metrics(&cert, &key);
    let server = Server::start_logging(hq.data(), &args, &[], File::create(&log).unwrap());
    // `/metrics` is served over TLS too, with the same certificate.
    let scraped_at = metrics_address(&server);
    for at in [server.address(), scraped_at] {
        let issuer = served_issuer(at);
        assert!(issuer.contains("first certificate authority"), "{issuer:?}");
    }
    // A till given the second certificate's authority cannot enrol yet.
    let till = common::Till::empty();
    let code = hq.add_device("T01", "S01");
    let enroll = [
        "enroll",
        "--hq",
        server.url.as_str(),
        "--code",
        code.as_str(),
        "--lead-pin",
        common::PIN,
        "--ca",
        path(&second_ca),
    ];
    till.fails(&enroll, 1, "certificate does not verify");

    // Renewed: the new files are served from the next handshake on, without a restart.
    install(&second_cert, &second_key);
    server.hang_up();
    let logged = text_with(&log, "serving the TLS certificate in");
    assert!(
        logged.contains(&format!(
            "serving the TLS certificate in {} now",
            path(&cert)
        )),
        "{logged}"
    );
    for at in [server.address(), scraped_at] {
        let issuer = served_issuer(at);
        assert!(
            issuer.contains("second certificate authority"),
            "{issuer:?}"
        );
    }
    till.ok(&enroll);

    // A key that is not the certificate's: logged, and the renewed identity still served.
    std::fs::copy(&first_key, &key).unwrap();
    server.hang_up();
    let logged = text_with(&log, "still serving the certificate before");
    assert!(logged.contains("do not make a TLS identity"), "{logged}");
    let issuer = served_issuer(server.address());
    assert!(
        issuer.contains("second certificate authority"),
        "{issuer:?}"
    );
    till.ok(&["shift", "open", "--seller", "V003", "--float", "100"]);
    till.sell(&["--seller", "V003", "LS-MH-1", "--pay", "wechat"]);
    till.synced();
    assert_eq!(hq.sales().len(), 1);
    server.stop();
}

#[test]
fn sighup_without_tls_is_logged_and_a_metrics_address_in_use_is_refused_at_start() {
    let hq = Hq::demo();
    let log = hq.data().join("serve.log");
    let server = Server::start_logging(hq.data(), &[], &[], File::create(&log).unwrap());
    server.hang_up();
    let logged = text_with(&log, "SIGHUP");
    assert!(
        logged.contains(
            "SIGHUP: serving without --tls-cert or --metrics-token-file, there is no file to read"
        ),
        "{logged}"
    );
    assert_eq!(Api::new(&server.url).get("/api/v1/health", None).0, 200);
    server.stop();

    let taken = TcpListener::bind("127.0.0.1:0").unwrap();
    let at = taken.local_addr().unwrap().to_string();
    let (_, stderr) = hq.serve_refused(&["--metrics-listen", &at]);
    assert_eq!(stderr.trim_end().lines().count(), 1, "{stderr}");
    assert!(
        stderr.contains(&format!("--metrics-listen {at}: ")),
        "{stderr}"
    );
}

/// A certificate's `notAfter`, as `openssl x509 -enddate` reads it: seconds since 1970.
fn not_after(cert: &std::path::Path) -> f64 {
    let out = std::process::Command::new("openssl")
        .args(["x509", "-noout", "-enddate", "-in", common::tls::path(cert)])
        .output()
        .unwrap();
    let said = String::from_utf8(out.stdout).unwrap();
    let date = said.trim().strip_prefix("notAfter=").unwrap();
    let at = chrono::NaiveDateTime::parse_from_str(date, "%b %e %H:%M:%S %Y GMT").unwrap();
    at.and_utc().timestamp() as f64
}

/// When the certificate `at` serves expires, as its `/metrics` (over TLS, trusting `ca`)
/// says.
fn scraped_expiry(at: SocketAddr, ca: &std::path::Path) -> Option<f64> {
    let answer = https_get(at, ca, "/metrics", "");
    let series = "fairpos_hq_tls_certificate_expiry_timestamp_seconds ";
    let line = answer.lines().find(|l| l.starts_with(series))?;
    line[series.len()..].trim().parse().ok()
}

/// A certificate that expires within a month is told of when `hq serve` starts with it
/// and when SIGHUP reads it, with its date and what to do; one further off is not. Either
/// way `/metrics` gives its expiry, for monitoring to alert on.
#[test]
fn a_certificate_expiring_within_a_month_is_told_of_and_every_expiry_is_scraped() {
    use common::tls::{certificates, certificates_for_days, path};
    let certs = tempfile::tempdir().unwrap();
    let (long_ca, long_cert, long_key) = certificates(certs.path(), "long");
    let (soon_ca, soon_cert, soon_key) = certificates_for_days(certs.path(), "soon", 10);
    let (cert, key, install) = served_files(certs.path());
    install(&long_cert, &long_key);
    let hq = Hq::demo();
    let args = serving_tls_and_metrics(&cert, &key);
    let log = hq.data().join("serve.log");
    let server = Server::start_logging(hq.data(), &args, &[], File::create(&log).unwrap());
    let at = metrics_address(&server);
    assert_eq!(scraped_expiry(at, &long_ca), Some(not_after(&long_cert)));
    let logged = std::fs::read_to_string(&log).unwrap();
    assert!(!logged.contains("TLS certificate"), "{logged}");

    // Renewed with one that expires in ten days (less a moment): said, and scraped.
    install(&soon_cert, &soon_key);
    server.hang_up();
    let told = format!(
        "the TLS certificate served (from {}) expires on {}, in 9 days: renew it, then send \
         `hq serve` SIGHUP",
        path(&cert),
        chrono::DateTime::from_timestamp(not_after(&soon_cert) as i64, 0)
            .unwrap()
            .format("%Y-%m-%d %H:%M UTC")
    );
    let logged = text_with(&log, "expires on");
    assert!(logged.contains(&told), "{logged}");
    assert_eq!(scraped_expiry(at, &soon_ca), Some(not_after(&soon_cert)));
    server.stop();

    // Started with it: said before it serves.
    let log = hq.data().join("again.log");
    let server = Server::start_logging(hq.data(), &args, &[], File::create(&log).unwrap());
    let logged = std::fs::read_to_string(&log).unwrap();
    assert!(logged.contains(&told), "{logged}");
    server.stop();
}
