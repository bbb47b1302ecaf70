//! Golden receipts: the exact ESC/POS bytes and the laid-out text of one receipt on 58 mm
//! (32 columns) and 80 mm (48 columns) paper. Refresh with `UPDATE_EXPECT=1 cargo test`.

use expect_test::expect_file;
use fairpos_hardware::config::TextEncoding;
use fairpos_hardware::receipt::charset::columns;
use fairpos_hardware::receipt::decode::{decode, text_lines, Event};
use fairpos_hardware::receipt::escpos_bytes::build;
use fairpos_hardware::receipt::layout::{layout, to_text, Block};
use fairpos_hardware::receipt::{Receipt, ReceiptLine};

fn sample() -> Receipt {
    Receipt {
        title: "2026 湖南高校消费帮扶产品展销会".into(),
        subtitle: "湘西茶香馆 S01".into(),
        header: vec![
            ("单号 No.".into(), "T01-000157".into()),
            ("时间".into(), "2026-11-22 10:15".into()),
            ("收银 Seller".into(), "张伟 V003 湘韵队".into()),
        ],
        lines: vec![
            ReceiptLine {
                name: "保靖黄金茶 250g".into(),
                quantity: "2盒".into(),
                unit_price: "￥128.00".into(),
                amount_fen: 25600,
            },
            ReceiptLine {
                name: "消费帮扶 帆布袋（学生队文创）𠮷祥款".into(),
                quantity: "1个".into(),
                unit_price: "￥19.90".into(),
                amount_fen: 1990,
            },
            ReceiptLine {
                name: "十八洞猕猴桃（散装）".into(),
                quantity: "1.5斤".into(),
                unit_price: "￥7.80/斤".into(),
                amount_fen: 1170,
            },
        ],
        total_fen: 28760,
        payments: vec![("现金 cash".into(), 30000)],
        change_fen: 1240,
        buyer: vec![
            ("购买单位".into(), "国网湖南省电力有限公司工会".into()),
            ("信用代码".into(), "81430000MB1R5T8UXD".into()),
        ],
        qr: Some("FPR:T01-000157:7c9e6679-7425-40de-944b-e07fc1f90ae7:K4M2Q7TZ".into()),
        qr_caption: "扫码退换货、开发票".into(),
        footer: vec!["谢谢惠顾！消费帮扶 助农增收".into()],
        reprint: false,
        open_drawer: true,
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes
        .chunks(32)
        .map(|c| {
            c.iter()
                .map(|b| format!("{b:02x}"))
                .collect::<Vec<_>>()
                .join(" ")
        })
        .collect::<Vec<_>>()
        .join("\n")
        + "\n"
}

fn check(width_mm: u32, columns_per_line: usize) {
    let receipt = sample();
    let blocks = layout(&receipt, columns_per_line);
    for b in &blocks {
        if let Block::Text { text, .. } = b {
            assert!(columns(text) <= columns_per_line, "too wide: {text}");
        }
    }
    let text = to_text(&blocks, columns_per_line);
    expect_file![format!("snapshots/receipt_{width_mm}mm.txt")].assert_eq(&text);

    let built = build(&blocks, columns_per_line, TextEncoding::Gb18030, true).unwrap();
    expect_file![format!("snapshots/receipt_{width_mm}mm.escpos.hex")]
        .assert_eq(&hex(&built.bytes));

    // Read the bytes back: they say what the layout says.
    let events = decode(&built.bytes, TextEncoding::Gb18030);
    assert_eq!(events[0], Event::Init);
    assert!(matches!(
        events[1],
        Event::Drawer {
            pin: 0,
            on: 25,
            off: 250
        }
    ));
    assert_eq!(events[2], Event::ChineseOn);
    assert!(events.contains(&Event::Qr(receipt.qr.clone().unwrap())));
    assert_eq!(events.last(), Some(&Event::Cut { partial: false }));
    let printed: Vec<String> = text_lines(&events)
        .into_iter()
        .filter(|l| !l.is_empty())
        .collect();
    let shown: Vec<String> = blocks
        .iter()
        .filter_map(|b| match b {
            Block::Text { text, .. } => Some(text.clone()),
            Block::Rule => Some("-".repeat(columns_per_line)),
            Block::Qr(_) => None,
        })
        .collect();
    assert_eq!(printed, shown);
    assert!(
        printed.iter().any(|l| l.contains("￥287.60")),
        "{printed:?}"
    );
}

#[test]
fn receipt_on_58mm_paper() {
    check(58, 32);
}

#[test]
fn receipt_on_80mm_paper() {
    check(80, 48);
}

#[test]
fn gbk_printers_get_a_substitute_never_a_failure() {
    let blocks = layout(&sample(), 32);
    let built = build(&blocks, 32, TextEncoding::Gbk, false).unwrap();
    assert_eq!(built.substituted, vec!['\u{20BB7}']);
    let lines = text_lines(&decode(&built.bytes, TextEncoding::Gbk));
    assert!(lines.concat().contains("吉祥款"), "{lines:?}");
    assert!(!decode(&built.bytes, TextEncoding::Gbk)
        .iter()
        .any(|e| matches!(e, Event::Drawer { .. })));
}

#[test]
fn the_yen_sign_is_the_full_width_one() {
    let blocks = layout(&sample(), 48);
    let built = build(&blocks, 48, TextEncoding::Gb18030, false).unwrap();
    // ￥ is A3 A4 in GB18030; ¥ (U+00A5) would be 81 30 84 36.
    assert!(built.bytes.windows(2).any(|w| w == [0xA3, 0xA4]));
    assert!(!built
        .bytes
        .windows(4)
        .any(|w| w == [0x81, 0x30, 0x84, 0x36]));
}
