//! Helpers for tests that drive the real `fairpos` binary on a real data directory.
#![allow(dead_code)]

pub mod api;
pub mod browser;
pub mod devices;
pub mod hq;
pub mod morning;
pub mod postgres;
pub mod proxy;
pub mod raw;
pub mod scale;
pub mod statements;
pub mod tls;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use serde_json::Value;
use tempfile::TempDir;

pub const BIN: &str = env!("CARGO_BIN_EXE_fairpos");

pub const PIN: &str = "2468";

/// What `attempt` answers first, tried every 50 ms for 10 s at most.
pub fn within_10_s<T>(mut attempt: impl FnMut() -> Option<T>) -> Option<T> {
    let until = Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(done) = attempt() {
            return Some(done);
        }
        if Instant::now() > until {
            return None;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Absolute path of a file in the demo fair shipped with the repository.
pub fn demo_file(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures/demo-fair")
        .join(name)
}

/// A till in its own temporary data directory, with a clock the test sets.
pub struct Till {
    pub dir: TempDir,
    pub now: String,
}

impl Till {
    /// An empty data directory (no till yet).
    pub fn empty() -> Till {
        Till {
            dir: tempfile::tempdir().expect("temp dir"),
            now: "2026-11-22T10:00:00+08:00".into(),
        }
    }

    /// The demo till T01 at stall S01.
    pub fn demo() -> Till {
        let till = Till::empty();
        till.ok(&["init", "--demo", "--lead-pin", PIN]);
        till
    }

    pub fn data(&self) -> &Path {
        self.dir.path()
    }

    pub fn at(&mut self, time: &str) -> &mut Till {
        self.now = format!("2026-11-22T{time}:00+08:00");
        self
    }

    pub fn command(&self) -> Command {
        let mut cmd = Command::new(BIN);
        cmd.arg("--data")
            .arg(self.data())
            .env("FAIRPOS_NOW", &self.now)
            .env_remove("FAIRPOS_DATA");
        cmd
    }

    pub fn run(&self, args: &[&str]) -> Output {
        self.command().args(args).output().expect("run fairpos")
    }

    /// Runs and expects success; returns stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "fairpos {args:?} failed ({:?}):\n{}",
            out.status.code(),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).expect("utf-8 stdout")
    }

    /// Runs and expects exit code `code` with `needle` in the one stderr line; returns it.
    pub fn fails(&self, args: &[&str], code: i32, needle: &str) -> String {
        let out = self.run(args);
        let stderr = String::from_utf8_lossy(&out.stderr).to_string();
        assert_eq!(
            out.status.code(),
            Some(code),
            "fairpos {args:?}: expected exit {code}, stderr:\n{stderr}"
        );
        assert!(
            stderr.contains(needle),
            "fairpos {args:?}: stderr lacks {needle:?}:\n{stderr}"
        );
        assert_eq!(
            stderr.trim_end().lines().count(),
            1,
            "one clear line expected:\n{stderr}"
        );
        assert!(out.stdout.is_empty(), "nothing on stdout when failing");
        stderr
    }

    pub fn json(&self, args: &[&str]) -> Value {
        let text = self.ok(args);
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{args:?} gave bad JSON {e}: {text}"))
    }

    /// Sells and returns the `--json` result.
    pub fn sell(&self, args: &[&str]) -> Value {
        let mut all = vec!["sell"];
        all.extend_from_slice(args);
        all.push("--json");
        self.json(&all)
    }

    /// The price, in fen, the till lists `sku` at, if it lists it.
    pub fn listed_price(&self, sku: &str) -> Option<i64> {
        let list = self.json(&["catalog", "list", "--json"]);
        list.as_array()
            .unwrap()
            .iter()
            .find(|p| p["sku"] == sku)
            .map(|p| p["price_fen"].as_i64().unwrap())
    }

    pub fn sales(&self) -> Vec<Value> {
        self.json(&["sales", "--json"])
            .as_array()
            .expect("array")
            .clone()
    }

    pub fn report(&self, by: &str) -> Value {
        self.json(&["report", "--by", by, "--format", "json"])
    }

    /// `key -> net_fen` of a JSON report.
    pub fn report_nets(&self, by: &str) -> Vec<(String, i64)> {
        self.report(by)["rows"]
            .as_array()
            .expect("rows")
            .iter()
            .map(|r| {
                (
                    r["key"].as_str().unwrap().to_string(),
                    r["net_fen"].as_i64().unwrap(),
                )
            })
            .collect()
    }

    pub fn db(&self) -> rusqlite::Connection {
        rusqlite::Connection::open(self.data().join("till.db")).expect("open till.db")
    }
}

/// The `hq` command `deploy/TIMER` runs, as `deploy/SERVICE`'s `ExecStart` gives it (after
/// `fairpos-hq --data DIR`), `from` (a path of the machine it is deployed on) replaced by
/// `to`: the timer checked for `lines`, the service for `Type=oneshot`.
pub fn timer_command(timer: &str, lines: &[&str], from: &str, to: &Path) -> Vec<String> {
    let (_, text) = deployed_unit(timer);
    for line in lines {
        assert!(text.lines().any(|l| l == *line), "{timer} lacks {line}");
    }
    let service = text.lines().find_map(|l| l.strip_prefix("Unit="));
    let (words, service) = deployed_unit(service.expect("the timer's Unit="));
    assert!(service.lines().any(|l| l == "Type=oneshot"));
    assert!(service.lines().any(|l| l == "User=fairpos"));
    let [program, data, _, flags @ ..] = words.as_slice() else {
        panic!("ExecStart: {words:?}");
    };
    assert!(
        program.ends_with("/fairpos-hq") && data == "--data",
        "{words:?}"
    );
    // The deployed path, never written by a test: it must be there to be replaced.
    assert_eq!(flags.iter().filter(|f| *f == from).count(), 1, "{words:?}");
    let mut args = vec!["hq".to_string()];
    args.extend(flags.iter().map(|flag| match flag.as_str() {
        flag if flag == from => to.to_str().unwrap().to_string(),
        other => other.to_string(),
    }));
    args
}

/// The words of `ExecStart` in `deploy/NAME`, and the unit's text.
fn deployed_unit(name: &str) -> (Vec<String>, String) {
    let path = format!("{}/deploy/{name}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(path).unwrap();
    let exec = text.lines().find_map(|l| l.strip_prefix("ExecStart="));
    let words = exec.map_or_else(Vec::new, |e| {
        e.split_whitespace().map(str::to_string).collect()
    });
    (words, text)
}

/// Opens a shift for `seller` and sells `n` sales of the demo catalog, paid by WeChat.
pub fn sell_some(till: &Till, seller: &str, n: usize) {
    till.ok(&["shift", "open", "--seller", seller, "--float", "100"]);
    sell_more(till, seller, n);
}

/// `n` more sales by `seller`, whose shift is open.
pub fn sell_more(till: &Till, seller: &str, n: usize) {
    let items = [
        "LS-MH-1",
        "FH-JT-300*2",
        "HY-MHT-LB*1.5",
        "6935780100128",
        "2110021007501",
    ];
    for i in 0..n {
        till.sell(&[
            "--seller",
            seller,
            items[i % items.len()],
            "--pay",
            "wechat",
        ]);
    }
}

pub fn sorted(mut v: Vec<(String, String, i64)>) -> Vec<(String, String, i64)> {
    v.sort();
    v
}

/// What headquarters should hold: every till's sales, once.
pub fn expected(tills: &[(&str, &Till)]) -> Vec<(String, String, i64)> {
    let mut out = Vec::new();
    for (device, till) in tills {
        for (sale, total) in till.sale_totals() {
            out.push((device.to_string(), sale, total));
        }
    }
    sorted(out)
}

/// `path`'s text once a whole line of it holds `needle` (its newline written: a line on
/// standard error may be written in pieces), waiting up to `wait`; else what it holds then.
pub fn text_with_line(path: &Path, needle: &str, wait: Duration) -> String {
    let since = Instant::now();
    loop {
        let text = std::fs::read_to_string(path).unwrap_or_default();
        let whole_line = text
            .find(needle)
            .is_some_and(|at| text[at..].contains('\n'));
        if whole_line || since.elapsed() > wait {
            return text;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}
