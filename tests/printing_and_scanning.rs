//! Receipts and scanners over real devices: a serial pty pair (`socat`) and a TCP listener on
//! 127.0.0.1, with the real `fairpos` binary. The printer end decodes the ESC/POS stream.

mod common;

use std::io::{BufRead, BufReader, Write};
use std::process::Stdio;
use std::sync::mpsc;
use std::time::Duration;

use common::devices::{FakePrinter, PtyPair};
use common::Till;
use fairpos_hardware::config::TextEncoding;
use fairpos_hardware::printer::PrinterStatus;
use fairpos_hardware::receipt::decode::{decode, text_lines, Event};
use serde_json::Value;

const CUT: &[u8] = &[0x1D, b'V', b'A', 0];

fn configure(till: &Till, printer: &str) {
    std::fs::write(till.data().join("fairpos.toml"), printer).unwrap();
}

/// A demo till whose network printer is a bare TCP listener on 127.0.0.1, for a test to
/// play the printer by hand.
fn till_printing_to_a_listener() -> (Till, std::net::TcpListener) {
    let till = Till::demo();
    let printer = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = printer.local_addr().unwrap();
    configure(
        &till,
        &format!("[printer]\nkind = \"network\"\naddress = \"{address}\"\n"),
    );
    (till, printer)
}

fn lines_of(bytes: &[u8]) -> Vec<String> {
    text_lines(&decode(bytes, TextEncoding::Gb18030))
}

#[test]
fn paper_out_queues_the_receipt_and_retry_prints_it() {
    let till = Till::demo();
    let pty = PtyPair::new(till.data(), "printer");
    let printer = FakePrinter::on_pty(&pty.b);
    printer.set(PrinterStatus {
        paper_out: true,
        ..Default::default()
    });
    configure(
        &till,
        &format!(
            "[printer]\nkind = \"serial\"\npath = \"{}\"\nbaud = 9600\nwidth_mm = 58\ndrawer = true\n",
            pty.a.display()
        ),
    );
    till.ok(&["shift", "open", "--seller", "V003", "--float", "100"]);

    // The sale survives paper out: exit 0, a warning, the receipt queued.
    let out = till.run(&[
        "sell",
        "--seller",
        "V003",
        "6935780100128*2",
        "HY-MHT-LB*1.5",
        "--pay",
        "cash:300",
        "--json",
    ]);
    assert!(out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("not printed (paper out)") && stderr.contains("queued"),
        "{stderr}"
    );
    let sale: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(sale["sale"], "T01-000001");
    assert_eq!(till.sales().len(), 1);
    let pending = till.json(&["receipt", "pending", "--json"]);
    assert_eq!(pending[0]["sale"], "T01-000001");
    assert_eq!(pending[0]["reason"], "paper out");
    assert!(
        !printer.received().windows(4).any(|w| w == CUT),
        "nothing printed while out of paper"
    );
    // The cash sale's drawer opened all the same, at once (`DLE DC4 1 0 1`), and nothing
    // else was sent.
    let pulse = fairpos_hardware::receipt::escpos_bytes::DRAWER_PULSE_NOW;
    assert_eq!(printer.wait_for(&pulse), pulse);
    let before = printer.received().len();
    // A retry while the paper is still out sends nothing: no second pulse, no receipt.
    till.fails(&["receipt", "retry"], 1, "still wait for the printer");
    std::thread::sleep(std::time::Duration::from_millis(200));
    assert_eq!(
        printer.received().len(),
        before,
        "a retry pulsed the drawer"
    );

    // Paper back: retry prints it, whole.
    printer.set(PrinterStatus::default());
    assert!(till
        .ok(&["receipt", "retry"])
        .contains("printed T01-000001"));
    let bytes = printer.wait_for_after(before, CUT)[before..].to_vec();
    let events = decode(&bytes, TextEncoding::Gb18030);
    assert!(events.contains(&Event::ChineseOn));
    // The queued receipt opens no drawer: the sale opened it (above), and a second opening
    // long after would be a drawer open with no sale (nor does the touchscreen's printing of
    // the queue: tests/touchscreen_stall.rs).
    assert!(
        !events.iter().any(|e| matches!(e, Event::Drawer { .. })),
        "a queued receipt opened the drawer again"
    );
    let qr = events
        .iter()
        .find_map(|e| match e {
            Event::Qr(q) => Some(q.clone()),
            _ => None,
        })
        .expect("a QR code");
    assert!(
        qr.starts_with(&format!("FPR:T01-000001:{}:", sale["id"].as_str().unwrap())),
        "{qr}"
    );
    let lines = lines_of(&bytes);
    for want in [
        "单号 No.",
        "T01-000001",
        "保靖黄金茶 250g",
        "1.5斤 x ￥7.80/斤",
        "￥267.70",
        "找零 CHANGE",
    ] {
        assert!(
            lines.iter().any(|l| l.contains(want)),
            "{want} missing from {lines:#?}"
        );
    }
    assert!(lines
        .iter()
        .all(|l| fairpos_hardware::receipt::charset::columns(l) <= 32));
    assert_eq!(
        till.json(&["receipt", "pending", "--json"]),
        serde_json::json!([])
    );

    // A reprint says so and opens no drawer.
    let before = printer.received().len();
    assert!(till
        .ok(&["receipt", "reprint", "T01-000001"])
        .contains("reprinted"));
    let reprint_mark = fairpos_hardware::receipt::charset::codec(TextEncoding::Gb18030)
        .encode("重印")
        .0
        .into_owned();
    let all = printer.wait_for(&reprint_mark);
    let again = &all[before..];
    let events = decode(again, TextEncoding::Gb18030);
    assert!(!events.iter().any(|e| matches!(e, Event::Drawer { .. })));

    // A cash sale printed as it completes opens the drawer.
    let before = printer.received().len();
    till.sell(&["--seller", "V003", "6935780100128", "--pay", "cash:200"]);
    let all = printer.wait_for_after(before, CUT);
    let events = decode(&all[before..], TextEncoding::Gb18030);
    assert!(
        events.iter().any(|e| matches!(e, Event::Drawer { .. })),
        "a cash sale's receipt opened no drawer"
    );
    drop(pty);
}

#[test]
fn a_network_printer_by_host_name_prints_every_sale() {
    let till = Till::demo();
    let (printer, port) = FakePrinter::on_tcp();
    configure(
        &till,
        &format!("[printer]\nkind = \"network\"\naddress = \"localhost:{port}\"\nwidth_mm = 80\n"),
    );
    till.ok(&["shift", "open", "--seller", "V004", "--float", "0"]);
    till.sell(&[
        "--seller",
        "V004",
        "XP-CZY-5L",
        "--unit",
        "12430000444883027E",
        "--pay",
        "on_account",
    ]);
    let bytes = printer.wait_for(CUT);
    let events = decode(&bytes, TextEncoding::Gb18030);
    assert!(
        !events.iter().any(|e| matches!(e, Event::Drawer { .. })),
        "no cash, no drawer"
    );
    let lines = lines_of(&bytes);
    for want in [
        "溆浦山茶油 5L",
        "单位挂账 on_account",
        "购买单位: 中南大学",
        "信用代码: 12430000444883027E",
    ] {
        assert!(
            lines.iter().any(|l| l.contains(want)),
            "{want} missing from {lines:#?}"
        );
    }
    assert!(
        lines.iter().any(|l| l.len() > 40),
        "80 mm paper: 48 columns"
    );
    assert!(events
        .iter()
        .any(|e| matches!(e, Event::Qr(q) if q.starts_with("FPR:T01-000001:"))));
}

#[test]
fn an_unreachable_printer_never_stops_a_sale() {
    let till = Till::demo();
    // A port nobody listens on.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    configure(
        &till,
        &format!("[printer]\nkind = \"network\"\naddress = \"127.0.0.1:{port}\"\ndrawer = true\n"),
    );
    till.ok(&["shift", "open", "--seller", "V004", "--float", "0"]);
    let out = till.run(&["sell", "--seller", "V004", "LS-MH-1", "--pay", "wechat"]);
    assert!(out.status.success());
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(said.contains("printer unreachable"), "{said}");
    assert!(!said.contains("drawer"), "no cash, no drawer: {said}");
    // A cash sale: the printer opens the drawer, so the volunteer is told to use the key.
    let out = till.run(&["sell", "--seller", "V004", "LS-MH-1", "--pay", "cash"]);
    assert!(out.status.success());
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(
        said.contains("the cash drawer may not have opened: open it with its key"),
        "{said}"
    );
    let pending = till.json(&["receipt", "pending", "--json"]);
    assert_eq!(pending.as_array().unwrap().len(), 2);
    till.fails(&["receipt", "retry"], 1, "still wait for the printer");
    // A bad fairpos.toml is named, and does not stop selling either; the sale's receipt
    // waits in the queue (it was neither printed nor queued).
    configure(&till, "[printer]\nkind = \"serial\"\nwidht_mm = 58\n");
    let out = till.run(&[
        "sell", "--seller", "V004", "LS-MH-1", "--pay", "wechat", "--json",
    ]);
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown field"));
    let sold: Value = serde_json::from_slice(&out.stdout).unwrap();
    let pending = till.json(&["receipt", "pending", "--json"]);
    let queued = pending
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["sale"] == sold["sale"]);
    assert!(
        queued.is_some_and(|p| p["reason"].as_str().unwrap().contains("unknown field")),
        "{pending}"
    );
    till.fails(&["receipt", "show", "T01-000001"], 2, "fairpos.toml");
}

/// A till stopped while its receipt was on the way to the printer (killed here as the
/// printer's connection came) finds the receipt queued after it starts again, not lost with
/// no trace: the sale was saved, the receipt never printed.
#[test]
fn a_till_stopped_while_printing_finds_the_receipt_queued() {
    let (till, printer) = till_printing_to_a_listener();
    till.ok(&["shift", "open", "--seller", "V004", "--float", "0"]);
    let mut selling = till
        .command()
        .args(["sell", "--seller", "V004", "LS-MH-1", "--pay", "wechat"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // The printer's first connection: the till asks it for its status, the sale saved.
    let (_asked, _) = printer.accept().unwrap();
    selling.kill().unwrap();
    selling.wait().unwrap();
    assert_eq!(till.sales().len(), 1);
    let pending = till.json(&["receipt", "pending", "--json"]);
    assert_eq!(pending[0]["sale"], "T01-000001", "{pending}");
    let reason = pending[0]["reason"].as_str().unwrap();
    assert!(
        reason.contains("the till stopped while printing"),
        "{reason}"
    );
    // It may have printed before the till stopped: printed again from the queue, it says
    // 重印 REPRINT (it came out unmarked, two receipts of one sale for the shopper).
    let (printer, port) = FakePrinter::on_tcp();
    configure(
        &till,
        &format!("[printer]\nkind = \"network\"\naddress = \"127.0.0.1:{port}\"\n"),
    );
    assert!(till
        .ok(&["receipt", "retry"])
        .contains("printed T01-000001"));
    let lines = lines_of(&printer.wait_for(CUT));
    assert!(lines.iter().any(|l| l.contains("重印")), "{lines:?}");
}

#[test]
fn receipt_show_lays_out_both_widths() {
    let till = Till::demo();
    till.ok(&["shift", "open", "--seller", "V001", "--float", "0"]);
    till.sell(&["--seller", "V001", "STU-BAG-1", "--pay", "cash:20"]);
    let narrow = till.ok(&["receipt", "show", "T01-000001", "--width", "58"]);
    let wide = till.ok(&["receipt", "show", "T01-000001", "--width", "80"]);
    assert!(
        narrow.contains(&"-".repeat(32)) && !narrow.contains(&"-".repeat(33)),
        "{narrow}"
    );
    assert!(wide.contains(&"-".repeat(48)), "{wide}");
    assert!(
        narrow.contains("消费帮扶 帆布袋") && narrow.contains("￥19.90"),
        "{narrow}"
    );
    till.fails(
        &["receipt", "show", "T01-000001", "--width", "60"],
        2,
        "use 58 or 80",
    );
}

#[test]
fn the_scanner_reads_split_writes_every_terminator_and_survives_an_unplug() {
    let dir = tempfile::tempdir().unwrap();
    let pty = PtyPair::new(dir.path(), "scanner");
    let scanner_path = pty.a.clone();
    let mut child = std::process::Command::new(common::BIN)
        .args(["--data", dir.path().join("none").to_str().unwrap()])
        .args(["hardware", "scan", "--port", scanner_path.to_str().unwrap()])
        .args(["--count", "7", "--timeout", "60", "--json"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let (tx, rx) = mpsc::channel::<String>();
    let stderr = child.stderr.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let wait_connected = |rx: &mpsc::Receiver<String>| loop {
        let line = rx
            .recv_timeout(Duration::from_secs(20))
            .expect("scanner state");
        if line.starts_with("scanner connected") {
            break;
        }
    };
    wait_connected(&rx);

    let mut device = serialport::new(pty.b.to_string_lossy(), 9600)
        .timeout(Duration::from_millis(200))
        .open()
        .unwrap();
    let mut send = |bytes: &[u8]| {
        device.write_all(bytes).unwrap();
        device.flush().unwrap();
        std::thread::sleep(Duration::from_millis(60));
    };
    send(b"69357801");
    send(b"00128\r\n");
    send(b"96385074\n036000291452\t");
    send(b"6935780100129\r");
    send(b"134567890123456789\n");
    send(b"2812345678901234\r\n");
    drop(device);

    // Unplug: the pair goes away; a new one comes up at the same path.
    pty.unplug();
    let line = rx
        .recv_timeout(Duration::from_secs(20))
        .expect("a disconnect");
    assert!(line.starts_with("scanner not connected"), "{line}");
    let pty = PtyPair::new(dir.path(), "scanner");
    wait_connected(&rx);
    let mut device = serialport::new(pty.b.to_string_lossy(), 9600)
        .timeout(Duration::from_millis(200))
        .open()
        .unwrap();
    device.write_all(b"2110021007501\r\n").unwrap();
    device.flush().unwrap();

    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "scan failed");
    let codes: Vec<Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let summary: Vec<(String, String, bool)> = codes
        .iter()
        .map(|c| {
            (
                c["code"].as_str().unwrap().to_string(),
                c["kind"].as_str().unwrap().to_string(),
                c["valid"].as_bool().unwrap(),
            )
        })
        .collect();
    let expect = |c: &str, k: &str, v: bool| (c.to_string(), k.to_string(), v);
    assert_eq!(
        summary,
        vec![
            expect("6935780100128", "ean13", true),
            expect("96385074", "ean8", true),
            expect("036000291452", "upca", true),
            expect("6935780100129", "ean13", false),
            expect("134567890123456789", "wechat_pay", true),
            expect("2812345678901234", "alipay", true),
            expect("2110021007501", "weighed", true),
        ]
    );
    assert!(codes[3]["reason"]
        .as_str()
        .unwrap()
        .contains("bad check digit"));
    assert!(codes[4]["reason"]
        .as_str()
        .unwrap()
        .contains("cannot charge"));
    assert_eq!(
        (codes[6]["plu"].as_str(), codes[6]["grams"].as_i64()),
        (Some("10021"), Some(750))
    );
    drop(pty);
}

#[test]
fn usb_device_files_print_test_and_ports() {
    let till = Till::demo();
    // A USB printer class device is a file that must exist; a plain file is created.
    let device = till.data().join("lp0");
    configure(
        &till,
        &format!(
            "[printer]\nkind = \"usb\"\npath = \"{}\"\n",
            device.display()
        ),
    );
    till.ok(&["shift", "open", "--seller", "V005", "--float", "0"]);
    let out = till.run(&["sell", "--seller", "V005", "FH-JT-300", "--pay", "alipay"]);
    assert!(out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("lp0"),
        "a missing device is named"
    );
    std::fs::write(&device, b"").unwrap();
    till.ok(&["receipt", "retry"]);
    let lines = lines_of(&std::fs::read(&device).unwrap());
    assert!(
        lines.iter().any(|l| l.contains("凤凰姜糖 300g")),
        "{lines:#?}"
    );

    let file = till.data().join("test.bin");
    configure(
        &till,
        &format!(
            "[printer]\nkind = \"file\"\npath = \"{}\"\nencoding = \"gbk\"\n",
            file.display()
        ),
    );
    let out = till.ok(&["hardware", "print-test"]);
    assert!(
        out.contains("does not answer status queries") && out.contains("sent"),
        "{out}"
    );
    let events = decode(&std::fs::read(&file).unwrap(), TextEncoding::Gbk);
    assert!(events.contains(&Event::Qr("fairpos print test".into())));
    assert!(text_lines(&events).iter().any(|l| l.contains("保靖黄金茶")));

    let ports = till.json(&["hardware", "ports", "--json"]);
    assert!(ports.is_array());
    configure(&till, "[printer]\nkind = \"none\"\n");
    till.fails(&["hardware", "print-test"], 2, "no printer configured");
}

/// A serial printer that answered status queries and then answers none (switched off behind
/// a USB-serial adapter, whose port still opens) is not reached, rather than ready: its
/// receipt was written into nothing and said printed, and the drawer stayed shut unsaid. One
/// that never answered (some cheap printers) is still taken as ready.
#[test]
fn a_serial_printer_that_falls_silent_is_not_reached() {
    use fairpos_hardware::printer::{ReceiptPrinter, SerialPrinter};
    let dir = tempfile::tempdir().unwrap();
    let pty = PtyPair::new(dir.path(), "printer");
    let printer = FakePrinter::on_pty(&pty.b);
    let mut serial = SerialPrinter::new(pty.a.clone(), 9600);
    assert_eq!(serial.status().unwrap(), Some(PrinterStatus::default()));
    drop(printer);
    std::thread::sleep(Duration::from_millis(200));
    let err = serial.status().unwrap_err();
    assert!(err.is_unreached(), "{err}");
    assert!(err.to_string().contains("answers none now"), "{err}");
    let mut never = SerialPrinter::new(pty.a.clone(), 9600);
    assert_eq!(never.status().unwrap(), None);
}

/// A serial printer that answers a status query late (busy with the last receipt's image) is
/// asked again, its late answer passed over: a cover opened meanwhile is read as open, not
/// shifted by one answer into a printer taken as ready.
#[test]
fn a_serial_printer_answering_late_is_read_whole() {
    use fairpos_hardware::printer::{ReceiptPrinter, SerialPrinter};
    let dir = tempfile::tempdir().unwrap();
    let pty = PtyPair::new(dir.path(), "printer");
    let printer = FakePrinter::on_pty(&pty.b);
    let mut serial = SerialPrinter::new(pty.a.clone(), 9600);
    assert_eq!(serial.status().unwrap(), Some(PrinterStatus::default()));
    let open = PrinterStatus {
        cover_open: true,
        ..Default::default()
    };
    printer.set(open);
    // Past the first asking's 400 ms and the drain after it.
    printer.answer_late_once(Duration::from_millis(900));
    let status = serial.status().unwrap().expect("an answer");
    assert_eq!(status.problem(), Some("cover open"), "{status:?}");
}

/// A network printer that answers status queries, then takes a receipt's connection and
/// reads nothing (its buffer stuck, a print server hung): the receipt is queued, not said
/// printed (its bytes fitted the socket's buffers, and the till was told printed).
#[test]
fn a_network_printer_that_takes_the_receipt_and_reads_nothing_leaves_it_queued() {
    use std::io::Read;
    let (till, printer) = till_printing_to_a_listener();
    std::thread::spawn(move || {
        // The status connection: each DLE EOT n answered "ready".
        let (mut asked, _) = printer.accept().unwrap();
        asked
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        for _ in 0..3 {
            let mut query = [0u8; 3];
            asked.read_exact(&mut query).unwrap();
            asked.write_all(&[0x12]).unwrap();
        }
        // The receipt's: taken, never read, held open a while.
        let (_held, _) = printer.accept().unwrap();
        std::thread::sleep(Duration::from_secs(20));
    });
    till.ok(&["shift", "open", "--seller", "V004", "--float", "0"]);
    let out = till.run(&[
        "sell", "--seller", "V004", "LS-MH-1", "--pay", "wechat", "--json",
    ]);
    assert!(out.status.success(), "{out:?}");
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(said.contains("answered nothing after it"), "{said}");
    let pending = till.json(&["receipt", "pending", "--json"]);
    assert_eq!(pending[0]["sale"], "T01-000001", "{pending}");
    let reason = pending[0]["reason"].as_str().unwrap();
    assert!(
        reason.starts_with("not confirmed by the printer"),
        "{reason}"
    );
}
