//! Browser walks: the Node scripts in `interop/` that drive headless Chromium through
//! playwright-core and print what they saw as JSON.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

/// The `interop/` directory, with what the walks need installed.
pub fn interop_dir() -> &'static Path {
    let dir = Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/interop"));
    assert!(
        dir.join("node_modules/playwright-core").exists(),
        "playwright-core is missing: run `scripts/setup.sh --test`"
    );
    assert!(
        Path::new("/usr/bin/chromium").exists() || std::env::var_os("CHROMIUM").is_some(),
        "Debian's chromium is missing: run `scripts/setup.sh --test`"
    );
    dir
}

/// Where to keep screenshots, when `FAIRPOS_SCREENSHOTS=DIR` asks for them.
pub fn screenshots_dir() -> Option<PathBuf> {
    let shots = std::env::var_os("FAIRPOS_SCREENSHOTS")?;
    std::fs::create_dir_all(&shots).unwrap();
    Some(std::fs::canonicalize(shots).unwrap())
}

/// Runs `node SCRIPT ARGS… [SCREENSHOT_DIR]` to its end and returns the JSON it printed.
pub fn walk(script: &str, args: &[&str], screenshots: bool) -> Value {
    let mut all: Vec<String> = args.iter().map(|a| a.to_string()).collect();
    if let Some(shots) = screenshots.then(screenshots_dir).flatten() {
        all.push(shots.to_string_lossy().into_owned());
    }
    let out = Command::new("node")
        .current_dir(interop_dir())
        .arg(script)
        .args(&all)
        .output()
        .expect("node");
    assert!(
        out.status.success(),
        "the browser walk {script} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}
