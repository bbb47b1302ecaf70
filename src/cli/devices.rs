//! Commands for receipts and devices: `fairpos receipt ...` and `fairpos hardware ...`, and
//! the printing that follows a sale.

use std::path::Path;
use std::time::{Duration, Instant};

use fairpos_hardware::printer;
use fairpos_hardware::receipt::escpos_bytes::build;
use fairpos_hardware::receipt::layout::layout;
use fairpos_hardware::receipt::{Receipt, ReceiptLine};
use fairpos_hardware::scanner::{BarcodeSource, SerialScanner, SourceState};
use serde::Serialize;

use fairpos_domain::codes::{classify, Classified};

use super::args::{HardwareCommand, ReceiptCommand};
use super::print_json;
use super::said;
use crate::clock::now;
use crate::config::Config;
use crate::error::{Error, Result};
use crate::store;
use crate::till::printing::{send_receipt, PrintOutcome};
use crate::till::slip::slip_bytes;
use crate::till::{ShiftClosed, Till};
use fairpos_domain::slip::ShiftSlip;

/// Prints the receipt of a sale just acknowledged, if a printer is configured. Trouble is a
/// warning: the sale stands and the receipt waits in the queue.
pub fn print_after_sale(till: &mut Till, dir: &Path, sale_id: &str) {
    let outcome = (|| -> Result<Option<PrintOutcome>> {
        let config = match Config::load(dir) {
            Ok(config) => config,
            Err(e) => {
                // Queued, printed by `receipt retry` once the file is mended, when it names
                // a printer (a till with none had a receipt queued for good).
                let path = dir.join(crate::config::CONFIG_FILE);
                let names_a_printer = std::fs::read_to_string(path)
                    .is_ok_and(|text| text.lines().any(|l| l.trim() == "[printer]"));
                if names_a_printer {
                    let reason = format!("not printed: {e}");
                    if let Err(queueing) =
                        now(till).and_then(|now| till.queue_receipt(sale_id, &reason, now))
                    {
                        said::warn(&format!(
                            "warning: the receipt is not queued either: {queueing}"
                        ));
                    }
                    return Err(Error::input(format!(
                        "{e}; the receipt waits: `fairpos receipt retry` once it is mended"
                    )));
                }
                return Err(e);
            }
        };
        let Some(mut printer) =
            printer::open(&config.printer).map_err(|e| Error::input(e.to_string()))?
        else {
            return Ok(None);
        };
        let now = now(till)?;
        till.print_receipt(printer.as_mut(), &config.printer, sale_id, false, now)
            .map(Some)
    })();
    match outcome {
        Ok(None) => {}
        Ok(Some(PrintOutcome::Printed {
            substituted,
            number,
        })) => {
            if !substituted.is_empty() {
                let chars: String = substituted.iter().collect();
                said::warn(&format!("note: receipt {number}: the printer's encoding lacks {chars}; printed as substitutes"));
            }
        }
        Ok(Some(PrintOutcome::Queued {
            number,
            reason,
            drawer_shut,
        })) => {
            said::warn(&format!(
                "warning: receipt {number} not printed ({reason}); the sale is saved and the receipt queued: print it with `fairpos receipt retry`"
            ));
            if drawer_shut {
                said::warn("warning: the cash drawer may not have opened: open it with its key");
            }
        }
        Err(e) => said::warn(&format!(
            "warning: receipt not printed: {e}; the sale is saved"
        )),
    }
}

/// Prints a shift's slip, if a printer is configured. Trouble is a warning: the shift is
/// closed and the slip can be printed again with `fairpos shift slip --print`.
pub fn print_slip(till: &Till, dir: &Path, closed: &ShiftClosed) {
    let printed = (|| -> Result<bool> {
        let config = Config::load(dir)?;
        let Some(mut printer) =
            printer::open(&config.printer).map_err(|e| Error::input(e.to_string()))?
        else {
            return Ok(false);
        };
        let identity = till.store().identity();
        let bytes = slip_bytes(&config.printer, identity, &closed.slip, &closed.slip_text)?;
        match send_receipt(printer.as_mut(), &bytes, false) {
            None => Ok(true),
            Some(why) => Err(Error::Other(why.reason)),
        }
    })();
    if let Err(e) = printed {
        said::warn(&format!(
            "warning: shift slip not printed: {e}; the shift is closed: print the slip with `fairpos shift slip --print`"
        ));
    }
}

/// Prints the till's last shift slip on the configured printer.
pub fn reprint_slip(till: &Till, dir: &Path, text: &str) -> Result<()> {
    let (config, mut printer) = configured_printer(dir)?;
    let (slip, _, _) = ShiftSlip::parse(text).map_err(|e| Error::Integrity(e.to_string()))?;
    let bytes = slip_bytes(&config.printer, till.store().identity(), &slip, text)?;
    match send_receipt(printer.as_mut(), &bytes, false) {
        None => Ok(()),
        Some(why) => Err(Error::input(format!(
            "shift slip not printed: {}",
            why.reason
        ))),
    }
}

#[derive(Serialize)]
struct PendingView {
    sale: String,
    sale_id: String,
    reprint: bool,
    reason: String,
    queued_at: String,
    attempts: i64,
}

fn configured_printer(dir: &Path) -> Result<(Config, Box<dyn printer::ReceiptPrinter>)> {
    let config = Config::load(dir)?;
    let printer = printer::open(&config.printer)
        .map_err(|e| Error::input(e.to_string()))?
        .ok_or_else(|| {
            Error::input(
                "no printer configured: set [printer] in fairpos.toml in the data directory",
            )
        })?;
    Ok((config, printer))
}

pub fn receipt(dir: &Path, command: ReceiptCommand) -> Result<()> {
    match command {
        ReceiptCommand::Show { sale, width } => {
            let columns = match width {
                Some(58) => 32,
                Some(80) => 48,
                Some(w) => return Err(Error::input(format!("--width {w}: use 58 or 80"))),
                None => Config::load(dir)?.printer.columns(),
            };
            let mut till = Till::open(dir)?;
            print!("{}", till.receipt_text(&sale, columns)?);
            Ok(())
        }
        ReceiptCommand::Pending(f) => {
            let mut till = Till::open(dir)?;
            let pending = till.pending_receipts()?;
            if f.json {
                let views: Vec<PendingView> = pending
                    .into_iter()
                    .map(|p| PendingView {
                        sale: p.number,
                        sale_id: p.sale_id,
                        reprint: p.reprint,
                        reason: p.reason,
                        queued_at: p.queued_at,
                        attempts: p.attempts,
                    })
                    .collect();
                print_json(&views)
            } else {
                for p in &pending {
                    println!(
                        "{}  {}  {} ({} attempts)",
                        p.number, p.queued_at, p.reason, p.attempts
                    );
                }
                Ok(())
            }
        }
        ReceiptCommand::Retry => {
            let (config, mut printer) = configured_printer(dir)?;
            let mut till = Till::open(dir)?;
            let now = now(&till)?;
            let mut trouble = None;
            for outcome in till.retry_receipts(printer.as_mut(), &config.printer, now)? {
                match outcome {
                    PrintOutcome::Printed { number, .. } => println!("printed {number}"),
                    PrintOutcome::Queued { reason, .. } => trouble = Some(reason),
                }
            }
            let left = till.pending_receipts()?.len();
            if left == 0 {
                Ok(())
            } else {
                Err(Error::Other(format!(
                    "{left} receipt(s) still wait for the printer: {}",
                    trouble.unwrap_or_else(|| "not tried".into())
                )))
            }
        }
        ReceiptCommand::Reprint { sale } => {
            let (config, mut printer) = configured_printer(dir)?;
            let mut till = Till::open(dir)?;
            let now = now(&till)?;
            match till.print_receipt(printer.as_mut(), &config.printer, &sale, true, now)? {
                PrintOutcome::Printed { number, .. } => {
                    println!("reprinted {number}");
                    Ok(())
                }
                PrintOutcome::Queued { number, reason, .. } => Err(Error::Other(format!(
                    "receipt {number} not printed ({reason}); queued for `fairpos receipt retry`"
                ))),
            }
        }
    }
}

/// What `hardware weigh --json` prints.
#[derive(Serialize)]
struct WeightView {
    grams: i64,
    stable: bool,
    unit: String,
    /// `stable`, `motion`, `over_capacity`, `under_zero` or `fault`.
    state: String,
}

#[derive(Serialize)]
struct PortView {
    path: String,
    kind: &'static str,
    description: String,
}

#[derive(Serialize)]
struct CodeView {
    code: String,
    kind: &'static str,
    valid: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    reason: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    plu: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    grams: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    amount_fen: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    sale: Option<String>,
    /// For a receipt: whether this till's key made its check.
    #[serde(skip_serializing_if = "Option::is_none")]
    verified: Option<bool>,
}

impl CodeView {
    fn new(c: Classified, receipt_key: Option<&[u8]>) -> CodeView {
        let verified = match (&c.sale, receipt_key) {
            (Some(qr), Some(key)) => Some(qr.verifies(key)),
            _ => None,
        };
        CodeView {
            code: c.code,
            kind: c.kind.as_str(),
            valid: c.valid,
            reason: c.reason,
            plu: c.plu,
            grams: c.grams,
            amount_fen: c.amount_fen,
            sale: c.sale.map(|s| s.number),
            verified,
        }
    }
}

/// A receipt that shows what a printer makes of Chinese text, ￥ and a QR code.
fn test_receipt() -> Receipt {
    Receipt {
        title: "fairpos 打印测试 print test".into(),
        subtitle: "中文 GB18030: 保靖黄金茶 十八洞猕猴桃".into(),
        header: vec![("宽度 width".into(), "32/48".into())],
        lines: vec![ReceiptLine {
            name: "测试商品 test item".into(),
            quantity: "1个".into(),
            unit_price: "￥0.01".into(),
            amount_fen: 1,
        }],
        total_fen: 1,
        payments: vec![],
        change_fen: 0,
        buyer: vec![],
        qr: Some("fairpos print test".into()),
        qr_caption: "QR".into(),
        footer: vec!["谢谢 thank you".into()],
        reprint: false,
        open_drawer: false,
    }
}

pub fn hardware(dir: &Path, command: HardwareCommand) -> Result<()> {
    match command {
        HardwareCommand::Ports(f) => {
            let ports: Vec<PortView> = fairpos_hardware::ports::list()
                .into_iter()
                .map(|p| PortView {
                    path: p.path,
                    kind: p.kind,
                    description: p.description,
                })
                .collect();
            if f.json {
                return print_json(&ports);
            }
            if ports.is_empty() {
                println!("no serial ports or USB printers found (pseudo-terminals are not listed)");
            }
            for p in &ports {
                println!("{:<20} {:<12} {}", p.path, p.kind, p.description);
            }
            Ok(())
        }
        HardwareCommand::Weigh { json, timeout } => {
            let config = Config::load(dir)?;
            let mut scale = config
                .scale
                .open()
                .map_err(|e| Error::input(e.to_string()))?
                .ok_or_else(|| {
                    Error::input(
                        "no scale configured: set [scale] in fairpos.toml in the data directory",
                    )
                })?;
            let reading = scale
                .weigh(Duration::from_secs(timeout))
                .map_err(|e| Error::Other(e.to_string()))?;
            let view = WeightView {
                grams: reading.grams,
                stable: reading.stable(),
                unit: reading.unit.clone(),
                state: reading.state.as_str().to_string(),
            };
            if json {
                return print_json(&view);
            }
            println!(
                "{} g ({}, the scale reads in {}) on {}",
                view.grams,
                view.state,
                view.unit,
                scale.describe()
            );
            Ok(())
        }
        HardwareCommand::PrintTest => {
            let (config, mut printer) = configured_printer(dir)?;
            println!("printer: {}", printer.describe());
            match printer.status() {
                Ok(Some(s)) => match s.problem() {
                    Some(p) => return Err(Error::Other(format!("the printer reports {p}"))),
                    None => println!("status: ready"),
                },
                Ok(None) => println!("status: the printer does not answer status queries"),
                Err(e) => return Err(Error::Other(format!("cannot reach the printer: {e}"))),
            }
            let columns = config.printer.columns();
            let built = build(
                &layout(&test_receipt(), columns),
                columns,
                config.printer.encoding,
                config.printer.drawer,
            )
            .map_err(|e| Error::Other(e.to_string()))?;
            printer
                .send(&built.bytes)
                .map_err(|e| Error::Other(format!("printing failed: {e}")))?;
            println!("sent {} bytes", built.bytes.len());
            Ok(())
        }
        HardwareCommand::Scan {
            port,
            baud,
            count,
            timeout,
            json,
        } => {
            // The fair's scale-label rules, read without taking the till (it may be selling).
            let (fair, key) = store::peek_fair(dir)?;
            let rules = fair.barcode_rules;
            let mut scanner = SerialScanner::new(port, baud);
            let deadline = timeout.map(|s| Instant::now() + Duration::from_secs(s));
            let mut seen = 0;
            let mut last_state = None;
            while count.is_none_or(|n| seen < n) {
                if deadline.is_some_and(|d| Instant::now() >= d) {
                    return Err(Error::Other(format!(
                        "timed out after {seen} code(s) from {}",
                        scanner.describe()
                    )));
                }
                let code = scanner
                    .next_code(Duration::from_millis(250))
                    .map_err(|e| Error::Other(e.to_string()))?;
                let state = scanner.state();
                if last_state.as_ref() != Some(&state) {
                    match &state {
                        SourceState::Connected => {
                            eprintln!("scanner connected: {}", scanner.describe())
                        }
                        SourceState::Disconnected(why) => eprintln!("scanner not connected: {why}"),
                    }
                    last_state = Some(state);
                }
                let Some(code) = code else { continue };
                seen += 1;
                let view = CodeView::new(classify(&code, &rules), key.as_deref());
                if json {
                    print_json(&view)?;
                } else {
                    let ok = if view.valid { "valid" } else { "invalid" };
                    let why = view.reason.as_deref().unwrap_or("");
                    let (code, why) = (
                        fairpos_domain::text::shown(&view.code),
                        fairpos_domain::text::shown(why),
                    );
                    println!("{:<10} {:<8} {code}  {why}", view.kind, ok);
                }
            }
            Ok(())
        }
    }
}
