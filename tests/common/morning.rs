//! A morning at the demo fair on three tills, with every figure worked out by hand in the
//! tables below: the data of the reconciliation and dashboard tests.

use super::hq::Hq;
use super::{Till, PIN};

/// T01 at stall S01 (湘西茶香馆), float 200.00. Net 352 + 35.70 + 796 + 75 − 128 = 1130.70.
///
/// | sale | seller | goods                                   | total  | paid                     |
/// |------|--------|-----------------------------------------|--------|--------------------------|
/// | 1    | V003   | 2 × 保靖黄金茶 128 + 古丈毛尖 96         | 352.00 | cash 400 (change 48)     |
/// | 2    | V004   | 蜜桔 750 g (7.80/斤) + 腊肉 label 24.00  | 35.70  | wechat                   |
/// | 3    | V004   | 2 × 溆浦山茶油 5L 398 for 湖南大学工会   | 796.00 | on_account               |
/// | 4    | V005   | 3 × 凤凰姜糖 25                          | 75.00  | voucher 50 + cash 30 (5) |
/// | 5    | V003   | 花垣湘西辣酱 18.80                       | 18.80  | alipay, then voided      |
///
/// One 保靖黄金茶 of sale 1 comes back for 128.00 cash; 100.00 goes into the drawer, 50.00 out.
/// Cash expected 200 + 352 + 25 − 128 + 100 − 50 = 499.00; counted 498.50.
pub fn t01_morning(till: &mut Till) {
    till.at("10:00");
    till.ok(&["shift", "open", "--seller", "V003", "--float", "200.00"]);
    till.at("10:15");
    let s1 = till.sell(&[
        "--seller",
        "V003",
        "6935780100128*2",
        "GZ-MJ-200",
        "--pay",
        "cash:400",
    ]);
    assert_eq!(s1["total_fen"], 35200);
    till.at("10:40");
    let s2 = till.sell(&[
        "--seller",
        "V004",
        "2110021007501",
        "2210025024006",
        "--pay",
        "wechat",
    ]);
    assert_eq!(s2["total_fen"], 3570);
    till.at("11:05");
    till.sell(&[
        "--seller",
        "V004",
        "XP-CZY-5L*2",
        "--unit",
        "81430100MB1A2C3D0T",
        "--pay",
        "on_account",
    ]);
    till.at("11:30");
    till.sell(&[
        "--seller",
        "V005",
        "FH-JT-300*3",
        "--pay",
        "voucher:50",
        "cash:30",
    ]);
    till.at("11:45");
    till.sell(&["--seller", "V003", "HY-LJ-250", "--pay", "alipay"]);
    till.at("11:50");
    till.ok(&["void", "T01-000005", "--reason", "扫错了", "--pin", PIN]);
    till.at("12:00");
    till.ok(&[
        "refund",
        "--pin",
        PIN,
        "T01-000001",
        "--line",
        "1:1",
        "--pay",
        "cash",
    ]);
    till.ok(&[
        "shift",
        "cash-in",
        "--pin",
        PIN,
        "100",
        "--reason",
        "备用金",
    ]);
    till.ok(&[
        "shift",
        "cash-out",
        "--pin",
        PIN,
        "50.00",
        "--reason",
        "买袋子",
    ]);
    till.at("12:30");
    till.ok(&["shift", "close", "--counted", "498.50"]);
}

/// T02 at stall S02 (鲜果直供站), float 100.00. Net 187.90 + 354 + 18 + 2528 − 118 = 2969.90.
///
/// | sale | seller | goods                                  | total   | paid                   |
/// |------|--------|----------------------------------------|---------|------------------------|
/// | 1    | V004   | 猕猴桃 box 69.90 + 黄桃 box 118          | 187.90  | cash 100 + wechat 87.90 |
/// | 2    | V004   | 3 × 黄桃 box 118 for 湖南省商务厅        | 354.00  | unionpay               |
/// | 3    | V006   | 1.5 kg 麻阳冰糖橙 12.00/kg               | 18.00   | cash 20 (change 2)     |
/// | 4    | V004   | 16 × 凤凰苗银手链 158 (stock 15)         | 2528.00 | wechat                 |
///
/// One 黄桃 box of sale 2 goes back to the unit by unionpay (118.00). Cash expected
/// 100 + 100 + 18 = 218.00, counted 218.00.
pub fn t02_morning(till: &mut Till) {
    till.at("10:05");
    till.ok(&["shift", "open", "--seller", "V004", "--float", "100"]);
    till.at("10:20");
    till.sell(&[
        "--seller",
        "V004",
        "HY-MHT-5",
        "YL-HT-10",
        "--pay",
        "cash:100",
        "wechat:87.90",
    ]);
    till.at("10:50");
    till.sell(&[
        "--seller",
        "V004",
        "YL-HT-10*3",
        "--unit",
        "114300000061841387",
        "--pay",
        "unionpay",
    ]);
    till.at("11:10");
    let s3 = till.sell(&["--seller", "V006", "MY-BTC-LB*1.5", "--pay", "cash:20"]);
    assert_eq!(
        (s3["total_fen"].as_i64(), s3["change_fen"].as_i64()),
        (Some(1800), Some(200))
    );
    till.at("11:20");
    till.sell(&["--seller", "V004", "FH-YS-1*16", "--pay", "wechat"]);
    till.at("11:30");
    till.ok(&[
        "refund",
        "--pin",
        PIN,
        "T02-000002",
        "--line",
        "1:1",
        "--pay",
        "unionpay",
    ]);
    till.at("12:00");
    till.ok(&["shift", "close", "--counted", "218"]);
}

/// T03 at stall S03 (山珍干货铺), two days, float 50.00 each.
///
/// Day 1 (21 Nov): 1 = 凤凰姜糖 25.00 cash; 2 = 龙山百合 59.00 wechat; counted 75.00.
/// Day 2 (22 Nov): 3 = 2 × 金银花 36 = 72.00 cash 100 (change 28); 4 = 桃江竹笋 32.80 alipay;
/// expected 50 + 72 = 122.00, counted 120.00 (2.00 short).
pub fn t03_two_days(till: &mut Till) {
    till.now = "2026-11-21T15:00:00+08:00".into();
    till.ok(&["shift", "open", "--seller", "V005", "--float", "50"]);
    till.sell(&["--seller", "V005", "FH-JT-300", "--pay", "cash:25"]);
    till.sell(&["--seller", "V005", "LS-BH-500", "--pay", "wechat"]);
    till.now = "2026-11-21T18:00:00+08:00".into();
    till.ok(&["shift", "close", "--counted", "75"]);
    till.at("10:10");
    till.ok(&["shift", "open", "--seller", "V005", "--float", "50"]);
    till.sell(&["--seller", "V005", "LH-JYH-100*2", "--pay", "cash:100"]);
    till.sell(&["--seller", "V005", "TJ-ZS-250", "--pay", "alipay"]);
    till.at("12:10");
    till.ok(&["shift", "close", "--counted", "120"]);
}

/// T03's ledger as a signed bundle that carries only its second day: a USB stick written
/// before the first day's document was copied onto it.
pub fn bundle_without_first_day(till: &Till) -> std::path::PathBuf {
    let file = till.data().join("full.bundle");
    till.ok(&["bundle", "export", file.to_str().unwrap()]);
    let mut bundle: fairpos_sync::bundle::Bundle =
        serde_json::from_slice(&std::fs::read(&file).unwrap()).unwrap();
    let before = bundle.docs.len();
    bundle.docs.retain(|d| !d.key.ends_with("/2026-11-21"));
    assert_eq!(bundle.docs.len(), before - 1, "one document per day");
    bundle.sign(&till.signing_secret());
    let partial = till.data().join("day2.bundle");
    std::fs::write(&partial, serde_json::to_vec(&bundle).unwrap()).unwrap();
    partial
}

/// The demo fair's morning at headquarters `hq` served at `url`: T01, T02 and T03 enrolled
/// and selling their mornings, T01 and T02 synced over the network, T03's second day imported
/// from a USB stick (its first day missing). The tills, for what a test does next.
pub fn three_tills_synced(hq: &Hq, url: &str) -> [Till; 3] {
    let mut t1 = Till::enrolled(url, &hq.add_device("T01", "S01"));
    let mut t2 = Till::enrolled(url, &hq.add_device("T02", "S02"));
    let mut t3 = Till::enrolled(url, &hq.add_device("T03", "S03"));
    t01_morning(&mut t1);
    t02_morning(&mut t2);
    t03_two_days(&mut t3);
    t1.synced();
    t2.synced();
    let stick = bundle_without_first_day(&t3);
    hq.ok(&["hq", "bundle", "import", stick.to_str().unwrap()]);
    [t1, t2, t3]
}
