//! An enrolment whose answer never came: headquarters spent the code, the device kept
//! nothing. The retry with the same code, at the same address, must enrol it (headquarters
//! takes a spent code again from the actor it was spent by), for a till and for a hub,
//! through a proxy on 127.0.0.1 that passes the request on and drops the answer while told
//! to, and passes everything on after.

use std::io::Read;
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use super::*;

/// A proxy to `upstream`. While `dropping`, it forwards what a client sends and closes the
/// connection, the answer unsent, as soon as the upstream starts answering: a venue's link
/// that drops after the request was taken; otherwise it passes both ways. Its URL; it
/// serves until the test ends.
fn lossy_link(upstream: &str, dropping: Arc<AtomicBool>) -> String {
    let upstream = upstream.trim_start_matches("http://").to_string();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        for client in listener.incoming() {
            let Ok(client) = client else { return };
            let Ok(mut server) = TcpStream::connect(&upstream) else {
                return;
            };
            let (mut from, mut to) = (client.try_clone().unwrap(), server.try_clone().unwrap());
            std::thread::spawn(move || std::io::copy(&mut from, &mut to));
            if dropping.load(Ordering::SeqCst) {
                let mut first = [0u8; 1];
                let _ = server.read(&mut first);
                let _ = client.shutdown(Shutdown::Both);
                let _ = server.shutdown(Shutdown::Both);
            } else {
                let mut client = client;
                std::thread::spawn(move || std::io::copy(&mut server, &mut client));
            }
        }
    });
    url
}

/// A lead PIN the till refuses is refused before headquarters is asked: the code is not
/// spent (it was, and the till then refused the PIN: a used code and nothing here), and
/// enrols a till in another directory, as a first enrolment.
#[test]
fn a_refused_lead_pin_spends_no_code() {
    let hq = Hq::demo();
    let server = hq.serve();
    let code = hq.add_device("T01", "S01");
    let enrol = ["enroll", "--hq", &server.url, "--code", &code, "--lead-pin"];
    let till = Till::empty();
    till.fails(&[&enrol[..], &["12"]].concat(), 2, "PIN");
    let devices = hq.json(&["hq", "devices", "--json"]);
    assert!(devices[0]["actor"].is_null(), "{devices}");
    Till::empty().ok(&[&enrol[..], &[common::PIN]].concat());
}

#[test]
fn an_enrolment_whose_answer_was_lost_is_retried_with_the_same_code() {
    let hq = Hq::demo();
    let server = hq.serve();
    let dropping = Arc::new(AtomicBool::new(true));
    let proxy = lossy_link(&server.url, dropping.clone());

    // A till: the first attempt is taken by headquarters and its answer lost.
    let code = hq.add_device("T01", "S01");
    let till = Till::empty();
    let enrol = |url: &str| {
        let args = [
            "enroll",
            "--hq",
            url,
            "--code",
            &code,
            "--lead-pin",
            common::PIN,
        ];
        till.run(&args)
    };
    let lost = enrol(&proxy);
    assert!(!lost.status.success(), "the answer never came");
    let devices = hq.json(&["hq", "devices", "--json"]);
    let t01 = devices
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["device"] == "T01");
    assert!(
        t01.is_some_and(|d| d["actor"].is_string()),
        "headquarters spent the code: {devices}"
    );
    // The retry, with the same code at the same address, the link back, enrols the till;
    // it sells and syncs (through the link, the address it enrolled with).
    dropping.store(false, Ordering::SeqCst);
    let retried = enrol(&proxy);
    assert!(
        retried.status.success(),
        "{}",
        String::from_utf8_lossy(&retried.stderr)
    );
    assert!(
        !till.data().join("enrolling").exists(),
        "the offer is forgotten"
    );
    sell_some(&till, "V003", 2);
    till.synced();
    assert_eq!(hq.sales().len(), 2);

    // A hub: the same.
    let hub_code = hq.add_hub("H1");
    let hub = Hq {
        dir: tempfile::tempdir().unwrap(),
    };
    let enrol_hub = |url: &str| hub.run(&["hq", "enroll", "--hq", url, "--code", &hub_code]);
    dropping.store(true, Ordering::SeqCst);
    assert!(!enrol_hub(&proxy).status.success(), "the answer never came");
    dropping.store(false, Ordering::SeqCst);
    let retried = enrol_hub(&proxy);
    assert!(
        retried.status.success(),
        "{}",
        String::from_utf8_lossy(&retried.stderr)
    );
    assert!(
        !hub.data().join("enrolling").exists(),
        "the offer is forgotten"
    );
}
