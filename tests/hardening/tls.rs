//! Tills and hubs speak TLS to headquarters, trusting the fair's certificate authority.

use super::*;

#[test]
fn tills_and_hubs_speak_tls_to_headquarters_trusting_the_fairs_ca() {
    // Step 0: the fair's CA and headquarters' certificate, and a stranger's CA.
    let certs = tempfile::tempdir().unwrap();
    let (ca, cert, key) = certificates(certs.path(), "fair");
    let (stranger_ca, stranger_cert, stranger_key) = certificates(certs.path(), "stranger");
    let hq = Hq::demo();
    let tls_args = |cert: &Path, key: &Path| -> Vec<String> {
        vec![
            "--tls-cert".into(),
            path(cert).into(),
            "--tls-key".into(),
            path(key).into(),
        ]
    };
    let args = tls_args(&cert, &key);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let server = Server::start(hq.data(), &args);
    assert!(
        server.url.starts_with("https://127.0.0.1:"),
        "{}",
        server.url
    );

    // Step 1: without the fair's CA, or with another one, enrolment is refused in one line
    // that says what to do; a CA file that holds no certificate is bad input.
    let code = hq.add_device("T01", "S01");
    let till = Till::empty();
    let enroll = |extra: &[&str]| {
        let mut args = vec!["enroll", "--hq", &server.url, "--code", &code, "--lead-pin"];
        args.push(common::PIN);
        args.extend_from_slice(extra);
        args.iter().map(|a| a.to_string()).collect::<Vec<_>>()
    };
    let refused = |extra: &[&str]| {
        let args = enroll(extra);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        till.fails(&args, 1, "certificate does not verify")
    };
    assert!(refused(&[]).contains("--ca FILE"));
    refused(&["--ca", path(&stranger_ca)]);
    let not_a_ca = certs.path().join("notes.txt");
    std::fs::write(&not_a_ca, "the CA is on the USB stick").unwrap();
    let args = enroll(&["--ca", path(&not_a_ca)]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    till.fails(&args, 2, "no certificate in it");

    // Step 2: with it, the till enrols, sells, and syncs over wss.
    let args = enroll(&["--ca", path(&ca)]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    till.ok(&args);
    till.ok(&["shift", "open", "--seller", "V003", "--float", "100"]);
    for item in ["LS-MH-1", "FH-JT-300*2"] {
        till.sell(&["--seller", "V003", item, "--pay", "wechat"]);
    }
    till.synced();
    let mut held: Vec<(String, i64)> = hq.sales().into_iter().map(|(_, s, t)| (s, t)).collect();
    held.sort();
    assert_eq!(
        held,
        till.sale_totals(),
        "headquarters holds the till's sales"
    );

    // Step 3: cookies are Secure under TLS and browsers are told to stay on HTTPS.
    let http = Http::trusting(&server.url, Some(&std::fs::read_to_string(&ca).unwrap()));
    let (cookie, set_cookie) = http.session();
    assert!(set_cookie.contains("; Secure"), "{set_cookie}");
    // A __Host- cookie, which no other host (a sibling subdomain) can set; the same cookie
    // without the prefix, as such a host could plant it, is not read.
    assert!(
        set_cookie.starts_with("__Host-fairpos_session="),
        "{set_cookie}"
    );
    assert_eq!(http.get_with_cookie("/", &cookie), 200);
    let planted = cookie.trim_start_matches("__Host-");
    assert_eq!(http.get_with_cookie("/", planted), 401);
    let (status, h) = http.get("/");
    assert_eq!(status, 401);
    assert_eq!(header(&h, "strict-transport-security"), "max-age=31536000");

    // Step 4: a hub enrolled with the fair's CA relays to headquarters over TLS.
    let hub_code = hq.add_hub("H1");
    let hub = Hq {
        dir: tempfile::tempdir().unwrap(),
    };
    let enrol_hub = ["hq", "enroll", "--hq", &server.url, "--code", &hub_code];
    let out = hub.run(&enrol_hub);
    assert!(String::from_utf8_lossy(&out.stderr).contains("certificate does not verify"));
    let mut with_ca = enrol_hub.to_vec();
    with_ca.extend(["--ca", path(&ca)]);
    // Into a directory that holds a database already (headquarters' own), it is refused
    // before the one-time code is used: the hub then enrols with it.
    let out = hq.run(&with_ca);
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("already holds"),
        "{out:?}"
    );
    // A till is refused the hub's code, and the hub a till's, each code still unused.
    let refused = |out: std::process::Output, needle: &str| {
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{stderr}");
        assert!(stderr.contains(needle), "{stderr}");
        assert!(stderr.contains("the code is still unused"), "{stderr}");
    };
    let (new_till, ca_text) = (Till::empty(), path(&ca));
    let till_enrol = |code: &str| {
        let args = [
            "enroll",
            "--hq",
            &server.url,
            "--code",
            code,
            "--ca",
            ca_text,
        ];
        let mut args = args.to_vec();
        args.extend(["--lead-pin", common::PIN]);
        new_till.run(&args)
    };
    refused(till_enrol(&hub_code), "this code enrols a hub");
    let till_code = hq.add_device("T02", "S02");
    let mut hub_with_till_code = with_ca.clone();
    hub_with_till_code[5] = &till_code;
    refused(hub.run(&hub_with_till_code), "this code enrols a till");
    assert!(
        !hub.data().join("hq.db").exists(),
        "nothing made of the hub"
    );
    assert!(till_enrol(&till_code).status.success());
    hub.ok(&with_ca);
    let hub_server = Server::start(hub.data(), &[]);
    till.sell(&["--seller", "V003", "HY-MHT-LB*1.5", "--pay", "cash"]);
    till.synced_with(&hub_server.url);
    let start = std::time::Instant::now();
    while hq.sales().len() < 3 {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "the hub never relayed"
        );
        pause(200);
    }

    // Step 5: headquarters comes back on its address with a certificate of another CA: the
    // enrolled till's sync is refused in one line that names the certificate (not a step
    // that ran out of time).
    let address = server.url.trim_start_matches("https://").to_string();
    server.stop();
    let args = tls_args(&stranger_cert, &stranger_key);
    let mut args: Vec<&str> = args.iter().map(String::as_str).collect();
    args.extend(["--listen", &address]);
    let _server = Server::start(hq.data(), &args);
    till.sell(&["--seller", "V003", "LS-MH-1", "--pay", "cash"]);
    till.fails(&["sync"], 1, "certificate does not verify");
}
