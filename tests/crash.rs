//! Crash safety: `fairpos sell` is killed with SIGKILL at random instants, again and again.
//! Afterwards every sale it acknowledged (printed) is present and whole, the numbering has no
//! gaps, and `ledger verify` passes.

mod common;

use std::process::Stdio;
use std::time::Instant;

use common::Till;
use rand::{Rng, SeedableRng};
use serde_json::Value;

const KILLS: usize = 60;
const BATCH_KILLS: usize = 25;

const ITEMS: [&str; 8] = [
    "6935780100128",
    "6935780200156*2",
    "6935780700106",
    "HY-MHT-LB*1.5",
    "2110021007501",
    "XT-DM-5KG*3",
    "STU-CARD-1*4",
    "LS-MH-1",
];

#[test]
fn sales_killed_at_random_instants_are_whole_or_absent() {
    let till = Till::demo();
    till.ok(&["shift", "open", "--seller", "V003", "--float", "500"]);
    let seed: u64 = std::env::var("FAIRPOS_CRASH_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(rand::random);
    eprintln!("crash test seed {seed} (FAIRPOS_CRASH_SEED to replay)");
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);

    // How long one sale takes end to end, so that kills land all over it.
    let start = Instant::now();
    let first = till.sell(&["--seller", "V003", ITEMS[0], "--pay", "wechat"]);
    let typical = start.elapsed();
    let mut acknowledged: Vec<(String, i64)> = vec![(
        first["sale"].as_str().unwrap().to_string(),
        first["total_fen"].as_i64().unwrap(),
    )];

    let mut kills = 0;
    let mut completed = 0;
    while kills < KILLS {
        let n = rng.random_range(1..=3);
        let mut args = vec!["sell", "--seller", "V003"];
        for _ in 0..n {
            args.push(ITEMS[rng.random_range(0..ITEMS.len())]);
        }
        args.extend(["--pay", "wechat", "--json"]);
        let mut child = till
            .command()
            .args(&args)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn fairpos");
        let delay = typical.mul_f64(rng.random_range(0.0..1.3));
        std::thread::sleep(delay);
        let killed = match child.try_wait().expect("try_wait") {
            None => {
                child.kill().expect("SIGKILL");
                true
            }
            Some(_) => false,
        };
        let out = child.wait_with_output().expect("wait");
        let printed: Option<Value> = serde_json::from_slice(&out.stdout).ok();
        match (killed, printed) {
            (_, Some(sale)) => acknowledged.push((
                sale["sale"].as_str().unwrap().to_string(),
                sale["total_fen"].as_i64().unwrap(),
            )),
            (true, None) => {}
            (false, None) => panic!(
                "fairpos sell ended by itself without a sale: {:?}",
                out.status
            ),
        }
        if killed {
            kills += 1;
        } else {
            completed += 1;
        }
    }
    eprintln!(
        "{kills} kills, {completed} sales completed untouched, {} acknowledged, one sale took {typical:?}",
        acknowledged.len()
    );

    // A long-running process selling one sale after another, so that kills land inside
    // transactions, between them, and in the work that follows each sale.
    let batch: String = (0..300)
        .map(|i| {
            let items: Vec<String> = (0..1 + i % 3)
                .map(|j| format!("\"{}\"", ITEMS[(i * 7 + j) % ITEMS.len()]))
                .collect();
            format!(
                "{{\"seller\":\"V003\",\"items\":[{}],\"pay\":[\"wechat\"]}}\n",
                items.join(",")
            )
        })
        .collect();
    let mut batch_kills = 0;
    while batch_kills < BATCH_KILLS {
        let mut child = till
            .command()
            .args(["sell-batch", "-"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn fairpos sell-batch");
        let mut stdin = child.stdin.take().unwrap();
        let text = batch.clone();
        let feeder = std::thread::spawn(move || {
            let _ = std::io::Write::write_all(&mut stdin, text.as_bytes());
        });
        std::thread::sleep(typical.mul_f64(rng.random_range(1.0..40.0)));
        let killed = child.try_wait().expect("try_wait").is_none();
        if killed {
            child.kill().expect("SIGKILL");
            batch_kills += 1;
        }
        let out = child.wait_with_output().expect("wait");
        let _ = feeder.join();
        for line in String::from_utf8_lossy(&out.stdout).lines() {
            // A line cut by the kill was never acknowledged.
            if let Ok(sale) = serde_json::from_str::<Value>(line) {
                acknowledged.push((
                    sale["sale"].as_str().unwrap().to_string(),
                    sale["total_fen"].as_i64().unwrap(),
                ));
            }
        }
    }
    eprintln!(
        "{batch_kills} kills of a selling batch, {} sales acknowledged in all",
        acknowledged.len()
    );

    // Every acknowledged sale is there with its total; the rest that reached the disk too.
    let sales = till.sales();
    for (number, total) in &acknowledged {
        let found = sales
            .iter()
            .find(|s| s["sale"] == number.as_str())
            .unwrap_or_else(|| panic!("acknowledged sale {number} is missing"));
        assert_eq!(found["total_fen"].as_i64(), Some(*total), "{number}");
    }
    for (i, s) in sales.iter().enumerate() {
        assert_eq!(
            s["sale"],
            format!("T01-{:06}", i + 1),
            "numbering has no gaps"
        );
    }
    // Whole: the lines of every sale add up to its total, in the reports too.
    let total: i64 = sales.iter().map(|s| s["total_fen"].as_i64().unwrap()).sum();
    assert_eq!(till.report("product")["net_fen"].as_i64(), Some(total));
    assert_eq!(till.report("payment")["net_fen"].as_i64(), Some(total));
    let out = till.ok(&["ledger", "verify"]);
    assert!(out.contains("without gaps"), "{out}");
    assert!(kills >= 50);
}

#[test]
fn a_second_process_waits_for_the_first_and_neither_loses_a_sale() {
    let till = Till::demo();
    till.ok(&["shift", "open", "--seller", "V003", "--float", "0"]);
    let children: Vec<_> = (0..6)
        .map(|_| {
            till.command()
                .args([
                    "sell", "--seller", "V003", "LS-MH-1", "--pay", "wechat", "--json",
                ])
                .stdout(Stdio::piped())
                .spawn()
                .expect("spawn")
        })
        .collect();
    for child in children {
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let sales = till.sales();
    assert_eq!(sales.len(), 6);
    till.ok(&["ledger", "verify"]);
}
