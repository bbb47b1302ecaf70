//! `fairpos-bench backup`: `hq backup` of a province's database (a `reports --keep` run's),
//! side by side, in one run, with the two baselines: copying the stopped file and flushing
//! it (`cp` and `sync`), and the way `hq backup` copied before, `VACUUM INTO` and then
//! `PRAGMA quick_check` of the copy. `--cold` empties the page cache before each (root
//! only), as a nightly backup finds it.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use fairpos_hq::HQ_DB;
use rusqlite::Connection;

type BenchResult<T> = Result<T, Box<dyn std::error::Error>>;

pub fn run(dir: &Path, cold: bool) -> BenchResult<()> {
    let source = dir.join(HQ_DB);
    if !source.exists() {
        return Err(format!(
            "no {HQ_DB} in {}: write one with `fairpos-bench reports --keep --dir DIR`",
            dir.display()
        )
        .into());
    }
    if dir.join(format!("{HQ_DB}-wal")).exists() {
        return Err(format!(
            "{HQ_DB} in {} has a write-ahead log beside it: stop what has it open",
            dir.display()
        )
        .into());
    }
    let bytes = std::fs::metadata(&source)?.len();
    eprintln!(
        "backing up {} ({:.1} GiB){}",
        source.display(),
        bytes as f64 / f64::from(1 << 30),
        if cold {
            ", page cache emptied before each"
        } else {
            ""
        }
    );
    let out = |name: &str| dir.join(format!(".bench-backup-{name}.db"));

    let cp = timed("cp and sync", cold, &out("cp"), |to| {
        std::fs::copy(&source, to)?;
        std::fs::File::open(to)?.sync_all()?;
        Ok(())
    })?;
    let vacuum = timed(
        "VACUUM INTO, then quick_check",
        cold,
        &out("vacuum"),
        |to| {
            let conn = Connection::open(&source)?;
            let to_text = to.to_str().ok_or("the bench directory is not UTF-8")?;
            conn.execute("VACUUM INTO ?1", [to_text])?;
            let check: String =
                Connection::open(to)?.query_row("PRAGMA quick_check", [], |r| r.get(0))?;
            if check != "ok" {
                return Err(format!("the VACUUM INTO copy: {check}").into());
            }
            std::fs::File::open(to)?.sync_all()?;
            Ok(())
        },
    )?;
    let mut sales = 0;
    let backup = timed("hq backup", cold, &out("hq"), |to| {
        sales = fairpos_hq::backup::backup(dir, to, |_| {})?.sales;
        Ok(())
    })?;

    let json = serde_json::json!({
        "bench": "backup",
        "db_bytes": bytes,
        "sales": sales,
        "cold": cold,
        "hq_backup_s": secs(backup.0),
        "hq_backup_bytes": backup.1,
        "vacuum_into_s": secs(vacuum.0),
        "vacuum_into_bytes": vacuum.1,
        "cp_sync_s": secs(cp.0),
    });
    println!("{json}");
    Ok(())
}

/// Times `copy(to)`, then removes `to`; the time and the copy's size.
fn timed(
    what: &str,
    cold: bool,
    to: &PathBuf,
    copy: impl FnOnce(&Path) -> BenchResult<()>,
) -> BenchResult<(Duration, u64)> {
    if to.exists() {
        std::fs::remove_file(to)?;
    }
    if cold {
        empty_page_cache()?;
    }
    let t = Instant::now();
    let copied = copy(to);
    let took = t.elapsed();
    let size = std::fs::metadata(to).map(|m| m.len()).unwrap_or(0);
    let _ = std::fs::remove_file(to);
    copied?;
    eprintln!(
        "  {what}: {:.1} s, {:.2} GiB",
        secs(took),
        size as f64 / f64::from(1 << 30)
    );
    Ok((took, size))
}

fn empty_page_cache() -> BenchResult<()> {
    flush_dirty_pages();
    std::fs::write("/proc/sys/vm/drop_caches", "3\n")
        .map_err(|e| format!("--cold empties the page cache, which needs root: {e}"))?;
    Ok(())
}

/// Writes every dirty page out first, so that emptying the cache does not leave the next
/// copy to wait for the last one's writes.
fn flush_dirty_pages() {
    let _ = std::process::Command::new("sync").status();
}

fn secs(d: Duration) -> f64 {
    (d.as_secs_f64() * 10.0).round() / 10.0
}
