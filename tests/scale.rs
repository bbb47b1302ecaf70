//! A counter scale over real serial ptys (socat), speaking Mettler Toledo 8217 and SMA byte
//! for byte: `fairpos hardware weigh`, `fairpos sell SKU*scale` at the settled weight, and a
//! sale refused (exit 2, nothing written) while the goods move, over capacity or below zero;
//! a scale unplugged and plugged back in at the same path is reopened.

mod common;

use common::devices::PtyPair;
use common::scale::FakeScale;
use common::Till;
use fairpos_hardware::scale::{Protocol, ScaleState};

fn with_scale(till: &Till, pty: &PtyPair, protocol: &str) {
    std::fs::write(
        till.data().join("fairpos.toml"),
        format!(
            "[scale]\nkind = \"serial\"\npath = \"{}\"\nprotocol = \"{protocol}\"\n",
            pty.a.display()
        ),
    )
    .unwrap();
}

/// A demo till reading a simulated scale speaking `protocol` on a pty pair in `dir` (the
/// pair kept open while it is held).
fn till_with_a_scale(dir: &std::path::Path, protocol: Protocol) -> (PtyPair, FakeScale, Till) {
    let pty = PtyPair::new(dir, "scale");
    let scale = FakeScale::on_pty(&pty.b, protocol);
    let till = Till::demo();
    let name = match protocol {
        Protocol::Toledo8217 => "toledo8217",
        Protocol::Sma => "sma",
    };
    with_scale(&till, &pty, name);
    (pty, scale, till)
}

fn open_shift(till: &Till) {
    till.ok(&["shift", "open", "--seller", "V003", "--float", "100"]);
}

/// [`sell_kiwi`], which must succeed ([`Till::sell`]): the sale's JSON.
fn sold_kiwi(till: &Till) -> serde_json::Value {
    till.sell(&["--seller", "V003", "HY-MHT-LB*scale", "--pay", "cash:100"])
}

/// Sells 猕猴桃 (HY-MHT-LB, 7.80 per 斤) at the scale's weight; its JSON, or the refusal.
fn sell_kiwi(till: &Till) -> std::process::Output {
    till.run(&[
        "sell",
        "--seller",
        "V003",
        "HY-MHT-LB*scale",
        "--pay",
        "cash:100",
        "--json",
    ])
}

#[test]
fn a_toledo_8217_scale_weighs_for_a_sale_and_refuses_an_unsettled_weight() {
    let dir = tempfile::tempdir().unwrap();
    let (_pty, scale, till) = till_with_a_scale(dir.path(), Protocol::Toledo8217);

    // Step 1: the diagnostic reads the plate.
    scale.set(1250, ScaleState::Stable);
    let reading = till.json(&["hardware", "weigh", "--json"]);
    assert_eq!(reading["grams"], 1250);
    assert_eq!(reading["stable"], true);
    assert_eq!(reading["unit"], "kg");
    // The scale was asked with the protocol's one byte, `W`.
    assert_eq!(scale.asked(), vec![b"W".to_vec()]);

    // Step 2: a sale at the scale's weight: 1 250 g at 7.80 per 斤 (500 g) is 19.50.
    open_shift(&till);
    let sale = sold_kiwi(&till);
    assert_eq!(sale["lines"][0]["qty"], 1250);
    assert_eq!(sale["total_fen"], 1950);

    // Step 3: moving, over capacity, below zero, or nothing on it: refused, nothing written.
    for (state, grams, needle) in [
        (ScaleState::Motion, 0, "still moving"),
        (ScaleState::OverCapacity, 0, "capacity"),
        (ScaleState::UnderZero, 0, "below zero"),
        (ScaleState::Stable, 0, "nothing is on the scale"),
    ] {
        scale.set(grams, state);
        let out = sell_kiwi(&till);
        assert_eq!(out.status.code(), Some(2), "{needle}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(err.lines().count(), 1, "{err}");
        assert!(err.contains(needle), "{err}");
    }
    assert_eq!(till.sales().len(), 1, "no sale was written while refused");

    // Step 4: a counted product cannot be sold by the scale.
    scale.set(800, ScaleState::Stable);
    till.fails(
        &[
            "sell",
            "--seller",
            "V003",
            "BJ-HJC-250*scale",
            "--pay",
            "cash:200",
        ],
        2,
        "takes pieces, not a weight",
    );

    // Step 5: the scale switched to 市斤, and the till told so: 1 250 g shows as 2.500 on
    // it and in its answer, and is sold as 1 250 g (taken as kg, it was sold at twice that).
    let toml = till.data().join("fairpos.toml");
    let with_unit = |unit: &str| {
        let config = std::fs::read_to_string(&toml).unwrap();
        let config: String = config
            .lines()
            .filter(|l| !l.starts_with("unit"))
            .collect::<Vec<_>>()
            .join("\n");
        std::fs::write(&toml, format!("{config}\nunit = \"{unit}\"\n")).unwrap();
    };
    with_unit("jin");
    scale.set(2500, ScaleState::Stable);
    let sale = sold_kiwi(&till);
    assert_eq!(sale["lines"][0]["qty"], 1250);
    assert_eq!(sale["total_fen"], 1950);
    // A unit the till does not know is refused before anything is weighed or sold.
    with_unit("lbs");
    let err = till.fails(&["hardware", "weigh"], 2, "scale unit \"lbs\"");
    assert!(err.contains("kg, jin"), "{err}");
    assert_eq!(till.sales().len(), 2);
}

/// A Toledo answer torn in two behind a CR of line noise (`\r\x02  1.`, then `250\r` 300 ms
/// later) is read whole: 1 250 g, not the 1 kg its first half was read as (a whole answer
/// was looked for as any CR).
#[test]
fn a_torn_toledo_answer_is_read_whole() {
    let dir = tempfile::tempdir().unwrap();
    let (_pty, scale, till) = till_with_a_scale(dir.path(), Protocol::Toledo8217);
    scale.set(1250, ScaleState::Stable);
    scale.tear(
        b"\r",
        "\x02  1.".len(),
        std::time::Duration::from_millis(300),
    );
    let reading = till.json(&["hardware", "weigh", "--json"]);
    assert_eq!(
        (&reading["grams"], &reading["stable"]),
        (&1250.into(), &true.into())
    );
    open_shift(&till);
    assert_eq!(sold_kiwi(&till)["lines"][0]["qty"], 1250);
}

#[test]
fn an_sma_scale_answers_its_standard_reply_and_is_reopened_after_an_unplug() {
    let dir = tempfile::tempdir().unwrap();
    let (pty, scale, till) = till_with_a_scale(dir.path(), Protocol::Sma);
    open_shift(&till);

    scale.set(750, ScaleState::Stable);
    let reading = till.json(&["hardware", "weigh", "--json"]);
    assert_eq!(
        (reading["grams"].as_i64(), reading["stable"].as_bool()),
        (Some(750), Some(true))
    );
    assert_eq!(scale.asked(), vec![b"\nW\r".to_vec()]);
    scale.set(1370, ScaleState::Motion);
    let reading = till.json(&["hardware", "weigh", "--json"]);
    assert_eq!(reading["stable"], false);
    assert_eq!(reading["state"], "motion");

    // The scale is unplugged: the till says so and writes nothing.
    scale.stop();
    let path = pty.a.clone();
    pty.unplug();
    let out = sell_kiwi(&till);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("scale"));
    // Plugged back in at the same path: the next sale weighs on it.
    let pty = PtyPair::new(dir.path(), "scale");
    assert_eq!(pty.a, path);
    let scale = FakeScale::on_pty(&pty.b, Protocol::Sma);
    scale.set(750, ScaleState::Stable);
    let sale = sold_kiwi(&till);
    assert_eq!(sale["total_fen"], 1170);
    assert_eq!(till.sales().len(), 1);
}

#[test]
fn one_serial_scale_is_reopened_when_it_comes_back_at_the_same_path() {
    use fairpos_hardware::scale::serial::Framing;
    use fairpos_hardware::scale::{Scale, SerialScale};
    use std::time::Duration;

    let dir = tempfile::tempdir().unwrap();
    let pty = PtyPair::new(dir.path(), "scale");
    let fake = FakeScale::on_pty(&pty.b, Protocol::Toledo8217);
    fake.set(500, ScaleState::Stable);
    let framing = Framing::default_for(Protocol::Toledo8217);
    let mut scale = SerialScale::new(pty.a.clone(), 9600, framing, Protocol::Toledo8217);
    let wait = Duration::from_secs(2);
    assert_eq!(scale.weigh(wait).unwrap().grams, 500);

    // Unplugged: every question fails, saying so, and nothing panics.
    fake.stop();
    pty.unplug();
    for _ in 0..3 {
        assert!(scale.weigh(Duration::from_millis(300)).is_err());
    }
    // Back at the same path: the same scale object reopens it.
    let pty = PtyPair::new(dir.path(), "scale");
    let fake = FakeScale::on_pty(&pty.b, Protocol::Toledo8217);
    fake.set(2000, ScaleState::Stable);
    assert_eq!(scale.weigh(wait).unwrap().grams, 2000);
    // Zero and tare are the protocol's single bytes.
    assert!(scale.zero(wait).unwrap().stable());
    assert!(scale.tare(wait).is_ok());
    assert_eq!(
        fake.asked(),
        vec![b"W".to_vec(), b"Z".to_vec(), b"T".to_vec()]
    );
}
