use super::*;

const WECHAT_BILL: &str = "\
交易时间,公众账号ID,商户号,特约商户号,设备号,微信订单号,商户订单号,用户标识,交易类型,交易状态,付款银行,货币种类,应结订单金额,代金券金额,微信退款单号,商户退款单号,退款金额,充值券退款金额,退款类型,退款状态,商品名称,商户数据包,手续费,费率,订单金额,申请退款金额,费率备注
`2026-11-28 10:15:32,`wx2421b1c4370ec43b,`1900000109,`0,`,`4200001234202611281234567890,`,`oUpF8uMuAJO_M2pxb1Q9zNjWeS6o,`NATIVE,`SUCCESS,`OTHERS,`CNY,`18.80,`0.00,`0,`0,`0.00,`0.00,`,`,`静宁苹果,`,`0.11000,`0.60%,`18.80,`0.00,`
`2026-11-28 10:40:02,`wx2421b1c4370ec43b,`1900000109,`0,`,`4200001234202611281234567890,`,`oUpF8uMuAJO_M2pxb1Q9zNjWeS6o,`NATIVE,`REFUND,`OTHERS,`CNY,`0.00,`0.00,`50300001234202611280000000001,`R1,`18.80,`0.00,`ORIGINAL,`SUCCESS,`静宁苹果,`,`-0.11000,`0.60%,`0.00,`18.80,`
`2026-11-28 11:02:00,`wx2421b1c4370ec43b,`1900000109,`0,`,`4200001234202611281234567891,`,`oUpF8uMuAJO_M2pxb1Q9zNjWeS6o,`NATIVE,`REVOKED,`OTHERS,`CNY,`0.00,`0.00,`0,`0,`0.00,`0.00,`,`,`木耳,`,`0.00000,`0.60%,`9.90,`0.00,`
总交易单数,应结订单总金额,退款总金额,充值券退款总金额,手续费总金额,订单总金额,申请退款总金额
`3,`18.80,`18.80,`0.00,`0.00000,`28.70,`18.80
";

#[test]
fn wechat_merchant_bill_with_backticks_and_summary() {
    let s = parse("bill.csv", WECHAT_BILL.as_bytes(), Provider::Wechat).unwrap();
    assert_eq!(s.layout, Layout::WechatBill);
    assert_eq!(s.encoding, "utf-8");
    assert_eq!(s.skipped, 1);
    assert_eq!(s.lines.len(), 2);
    assert_eq!(s.lines[0].txn, "4200001234202611281234567890");
    assert_eq!(
        (s.lines[0].flow, s.lines[0].amount),
        (Flow::Payment, Fen(1880))
    );
    assert_eq!(s.lines[0].line, 2);
    assert_eq!(s.lines[0].at.to_string(), "2026-11-28 10:15:32");
    assert_eq!(s.lines[1].txn, "50300001234202611280000000001");
    assert_eq!(
        (s.lines[1].flow, s.lines[1].amount),
        (Flow::Refund, Fen(1880))
    );
    assert_eq!(s.lines[1].note, "静宁苹果");
}

const WECHAT_APP: &str = "\u{feff}微信支付账单明细,,,,,,,,,,
微信昵称：[静宁苹果摊],,,,,,,,,,
起始时间：[2026-11-28 00:00:00] 终止时间：[2026-11-28 23:59:59],,,,,,,,,,
导出类型：[全部],,,,,,,,,,
导出时间：[2026-11-29 08:00:00],,,,,,,,,,
,,,,,,,,,,
共3笔记录,,,,,,,,,,
收入：2笔 38.80元,,,,,,,,,,
支出：1笔 10.00元,,,,,,,,,,
中性交易：0笔 0.00元,,,,,,,,,,
,,,,,,,,,,
----------------------微信支付账单明细列表--------------------,,,,,,,,,,
交易时间,交易类型,交易对方,商品,收/支,金额(元),支付方式,当前状态,交易单号,商户单号,备注
2026-11-28 10:15:32,二维码收款,张三,/,收入,¥18.80,/,已收钱,10000500012026112800000000000001\t,/,/
2026-11-28 10:20:00,二维码收款,李四,/,收入,¥20.00,/,已收钱,10000500012026112800000000000002\t,/,/
2026-11-28 10:30:00,二维码收款-退款,李四,/,支出,¥10.00,零钱,已退款,10000500012026112800000000000003\t,/,/
2026-11-28 12:00:00,零钱提现,财付通,/,/,¥5.00,零钱,提现已到账,10000500012026112800000000000004\t,/,/
";

#[test]
fn wechat_app_export_with_header_lines_and_a_bom() {
    let s = parse(
        "app.csv",
        WECHAT_APP.replace('\n', "\r\n").as_bytes(),
        Provider::Wechat,
    )
    .unwrap();
    assert_eq!(s.layout, Layout::WechatApp);
    assert_eq!(s.lines.len(), 3);
    assert_eq!(s.skipped, 1);
    assert_eq!(s.lines[0].line, 14);
    assert_eq!(s.lines[1].amount, Fen(2000));
    assert_eq!(s.lines[2].flow, Flow::Refund);
    assert_eq!(s.lines[2].txn, "10000500012026112800000000000003");
    // Saved from a spreadsheet that guarded the long number as `="…"` (quoted in CSV as
    // `"=""…"""`): the same transaction.
    let guarded = WECHAT_APP.replace(
        "10000500012026112800000000000003\t",
        "\"=\"\"10000500012026112800000000000003\"\"\"",
    );
    assert_ne!(guarded, WECHAT_APP);
    let g = parse("app.csv", guarded.as_bytes(), Provider::Wechat).unwrap();
    assert_eq!(g.lines[2].txn, "10000500012026112800000000000003");
}

const ALIPAY: &str = "#支付宝账务明细查询
#账号：[20881234567890120156]
#起始日期：[2026年11月28日 00:00:00]   终止日期：[2026年11月29日 00:00:00]
#-----------------------------------------账务明细列表----------------------------------------
账务流水号,业务流水号,商户订单号,商品名称,发生时间,对方账号,收入金额（+元）,支出金额（-元）,账户余额（元）,交易渠道,业务类型,备注,
20261128110070001506780012345678\t,2026112822001456780512345678\t,\t,收钱码收款\t,2026-11-28 10:16:01\t,138****0000\t,+26.50\t,\t,126.50\t,支付宝\t,交易\t,\t,
20261128110070001506780012345679\t,2026112822001456780512345678\t,\t,收钱码收款\t,2026-11-28 10:16:01\t,支付宝\t,\t,-0.16\t,126.34\t,支付宝\t,收费\t,服务费\t,
20261128110070001506780012345680\t,2026112822001456780512345678\t,\t,退款-收钱码收款\t,2026-11-28 11:00:00\t,138****0000\t,\t,-26.50\t,99.84\t,支付宝\t,交易退款\t,\t,
#-----------------------------------------账务明细列表结束------------------------------------
#收入合计：1笔，26.50元
#支出合计：2笔，26.66元
#导出时间：[2026年11月29日 08:00:00]
";

#[test]
fn alipay_account_statement_in_gbk() {
    let (gbk, _, unmappable) = encoding_rs::GBK.encode(ALIPAY);
    assert!(!unmappable);
    let s = parse("alipay.csv", &gbk, Provider::Alipay).unwrap();
    assert_eq!(s.encoding, "gbk");
    assert_eq!(s.layout, Layout::AlipayAccount);
    assert_eq!(s.skipped, 1);
    assert_eq!(s.others_money_in, [], "the fee is money out");
    assert_eq!(s.lines.len(), 2);
    assert_eq!(
        (s.lines[0].flow, s.lines[0].amount),
        (Flow::Payment, Fen(2650))
    );
    assert_eq!(
        (s.lines[1].flow, s.lines[1].amount),
        (Flow::Refund, Fen(2650))
    );
    assert_eq!(s.lines[1].line, 8);
    // Money in of another business than a sale (a transfer to the owner) is named.
    let fee = ",\t,-0.16\t,126.34\t,支付宝\t,收费\t,";
    let with_transfer = ALIPAY.replace(fee, ",+5.00\t,\t,131.50\t,支付宝\t,转账\t,");
    assert_ne!(with_transfer, ALIPAY);
    let (gbk, _, _) = encoding_rs::GBK.encode(&with_transfer);
    let t = parse("alipay.csv", &gbk, Provider::Alipay).unwrap();
    assert_eq!((t.lines.len(), t.skipped), (2, 1));
    let transfer = MoneyInLeftOut {
        kind: "转账".into(),
        rows: 1,
        amount: Fen(500),
    };
    assert_eq!(t.others_money_in, [transfer]);
}

#[test]
fn bad_rows_are_named_by_line_and_the_wrong_provider_by_layout() {
    let bad = WECHAT_BILL.replace("`0.60%,`18.80,", "`0.60%,`18.8O,");
    let e = parse("bill.csv", bad.as_bytes(), Provider::Wechat).unwrap_err();
    assert!(
        e.to_string().contains("bill.csv line 2") && e.to_string().contains("18.8O"),
        "{e}"
    );
    let e = parse("bill.csv", WECHAT_BILL.as_bytes(), Provider::Alipay).unwrap_err();
    assert!(e.to_string().contains("WeChat Pay merchant bill"), "{e}");
    let e = parse("x.csv", b"a,b,c\n1,2,3\n", Provider::Wechat).unwrap_err();
    assert!(e.to_string().contains("no column row"), "{e}");
    let e = parse("x.csv", &[0xff, 0xff, 0xff, 0x00], Provider::Wechat).unwrap_err();
    assert!(e.to_string().contains("neither UTF-8 nor GBK"), "{e}");
    let twice = WECHAT_APP.replace("000000000002", "000000000001");
    let e = parse("app.csv", twice.as_bytes(), Provider::Wechat).unwrap_err();
    assert!(e.to_string().contains("line 15"), "{e}");
    // Every bad row at once: an amount on line 2, a time on line 3.
    let two = bad.replace("`2026-11-28 10:40:02,", "`2026-11-28 10:4O:02,");
    let e = parse("bill.csv", two.as_bytes(), Provider::Wechat).unwrap_err();
    let said = e.to_string();
    assert!(
        said.starts_with("bill.csv: 2 rows refused")
            && said.contains("line 2: ")
            && said.contains("; line 3: "),
        "{said}"
    );
    assert!(
        said.contains("18.8O") && said.contains("10:4O:02"),
        "{said}"
    );
}

fn at(text: &str) -> NaiveDateTime {
    NaiveDateTime::parse_from_str(text, "%Y-%m-%d %H:%M:%S").unwrap()
}

#[test]
fn a_file_covers_the_period_it_states_else_the_whole_days_of_its_rows() {
    let app = parse("app.csv", WECHAT_APP.as_bytes(), Provider::Wechat).unwrap();
    assert_eq!(
        app.covers,
        Some((at("2026-11-28 00:00:00"), at("2026-11-28 23:59:59")))
    );
    let (gbk, _, _) = encoding_rs::GBK.encode(ALIPAY);
    let alipay = parse("alipay.csv", &gbk, Provider::Alipay).unwrap();
    assert_eq!(
        alipay.covers,
        Some((at("2026-11-28 00:00:00"), at("2026-11-29 00:00:00")))
    );
    // A merchant bill states no period: it is the bill of the days of its rows, revoked
    // orders counted.
    let bill = parse("bill.csv", WECHAT_BILL.as_bytes(), Provider::Wechat).unwrap();
    assert_eq!(
        bill.covers,
        Some((at("2026-11-28 00:00:00"), at("2026-11-28 23:59:59")))
    );
    // A statement of a day with no rows at all still covers its day.
    let empty: String = WECHAT_APP
        .lines()
        .take(13)
        .map(|l| format!("{l}\n"))
        .collect();
    let quiet = parse("quiet.csv", empty.as_bytes(), Provider::Wechat).unwrap();
    assert!(quiet.lines.is_empty());
    assert_eq!(quiet.covers, app.covers);
}

#[test]
fn the_owners_own_purchases_and_their_refunds_are_no_shoppers_money() {
    // The stall owner bought lunch (支出, later refunded in full) and got its refund (收入):
    // neither is a shopper's payment or a refund the stall gave.
    let own = WECHAT_APP.replace(
        "2026-11-28 12:00:00,零钱提现,财付通,/,/,¥5.00,零钱,提现已到账,10000500012026112800000000000004\t,/,/\n",
        "2026-11-28 12:00:00,商户消费,快餐店,/,支出,¥25.00,零钱,已全额退款,10000500012026112800000000000004\t,/,/\n\
         2026-11-28 12:03:00,商户消费-退款,快餐店,/,收入,¥25.00,零钱,已到账,10000500012026112800000000000005\t,/,/\n",
    );
    assert_ne!(own, WECHAT_APP);
    let s = parse("app.csv", own.as_bytes(), Provider::Wechat).unwrap();
    let flows: Vec<(Flow, Fen)> = s.lines.iter().map(|l| (l.flow, l.amount)).collect();
    assert_eq!(
        flows,
        [
            (Flow::Payment, Fen(1880)),
            (Flow::Payment, Fen(2000)),
            (Flow::Refund, Fen(1000))
        ]
    );
}

#[test]
fn only_money_that_moved_counts() {
    // A refund still PROCESSING has left the merchant's balance: counted, as WeChat's
    // reconciliation guide says; one that failed gave nothing back.
    let processing = WECHAT_BILL.replace("`ORIGINAL,`SUCCESS,", "`ORIGINAL,`PROCESSING,");
    let s = parse("bill.csv", processing.as_bytes(), Provider::Wechat).unwrap();
    assert_eq!((s.lines.len(), s.skipped), (2, 1));
    let failed = WECHAT_BILL.replace("`ORIGINAL,`SUCCESS,", "`ORIGINAL,`FAIL,");
    let s = parse("bill.csv", failed.as_bytes(), Provider::Wechat).unwrap();
    assert_eq!((s.lines.len(), s.skipped), (1, 2));
    // A refund of an order a 免充值券 paid ¥2 of: 退款金额 ¥16.80 (what left the account),
    // 申请退款金额 ¥18.80 (what the refund was for, as the till records it) is the line's.
    let coupon = WECHAT_BILL.replace("`R1,`18.80,", "`R1,`16.80,");
    let s = parse("bill.csv", coupon.as_bytes(), Provider::Wechat).unwrap();
    let refund = s.lines.iter().find(|l| l.flow == Flow::Refund).unwrap();
    assert_eq!(refund.amount, Fen(1880));
    // An Alipay rebate (income that is no sale) is not a payment; a minus sign in the income
    // column is refused.
    let rebate = ALIPAY.replace(
        ",+26.50\t,\t,126.50\t,支付宝\t,交易\t,",
        ",+26.50\t,\t,126.50\t,支付宝\t,收费返还\t,",
    );
    let (gbk, _, _) = encoding_rs::GBK.encode(&rebate);
    let s = parse("alipay.csv", &gbk, Provider::Alipay).unwrap();
    assert_eq!((s.lines.len(), s.skipped), (1, 2));
    let minus = ALIPAY.replace(",+26.50\t,\t,126.50", ",-26.50\t,\t,126.50");
    let (gbk, _, _) = encoding_rs::GBK.encode(&minus);
    let e = parse("alipay.csv", &gbk, Provider::Alipay).unwrap_err();
    assert!(
        e.to_string().contains("line 6") && e.to_string().contains("收入金额"),
        "{e}"
    );
}

#[test]
fn a_quoted_field_may_hold_a_line_break() {
    // A 商品名称 typed on two lines, and a quote inside an unquoted note, which is text.
    let two_lines = WECHAT_BILL
        .replacen("`静宁苹果,", "\"静宁苹果\r\n（5斤装，\"\"特级\"\"）\",", 1)
        .replacen("`木耳,`", "`木耳 12\"寸,`", 1);
    let s = parse("bill.csv", two_lines.as_bytes(), Provider::Wechat).unwrap();
    assert_eq!(s.lines.len(), 2);
    assert_eq!(s.skipped, 1);
    assert_eq!(s.lines[0].note, "静宁苹果 （5斤装，\"特级\"）");
    // Rows are named by the line they start on.
    assert_eq!((s.lines[0].line, s.lines[1].line), (2, 4));
    // A field starting with a stray quote that never closes, or whose next quote is rows
    // away (a later row's `"木耳"`), swallows no row: its line is read alone (and refused,
    // its fields run together), the rows after it as they are.
    let stray = WECHAT_BILL.replacen("`静宁苹果,", "\"静宁苹果,", 1);
    let later_quote = stray.replacen("`木耳,`", "\"木耳\",`", 1);
    for text in [stray, later_quote] {
        let e = parse("bill.csv", text.as_bytes(), Provider::Wechat).unwrap_err();
        let said = e.to_string();
        assert!(
            said.starts_with("bill.csv line 2: ") && said.contains("fields where the column row"),
            "{said}"
        );
    }
}

/// Thousands are grouped by commas only between groups of three digits of the whole
/// yuan: a decimal comma (`18,80`, a spreadsheet's re-save) is refused, not read as a
/// hundred times the amount.
#[test]
fn commas_only_group_thousands() {
    assert_eq!(amount("1,280.00"), Ok(Fen(128000)));
    assert_eq!(amount("¥1,234,567.5"), Ok(Fen(123456750)));
    assert_eq!(amount("18.80"), Ok(Fen(1880)));
    for bad in [
        "18,80",
        "1,28",
        "12.3,4",
        ",280.00",
        "1,2800.00",
        "1234,567.00",
        "1,,280",
    ] {
        assert!(amount(bad).is_err(), "{bad}");
    }
}

/// Money in the WeChat app's export that no shopper paid the stall (a red packet, a group
/// collection, a tip) is passed over, not taken for a payment a till's could pair with, and
/// named by its kind (a kind WeChat adds for shoppers' payments would otherwise go unseen).
#[test]
fn wechat_app_money_in_that_no_shopper_paid_is_passed_over() {
    let with_others = WECHAT_APP.replace(
        "2026-11-28 12:00:00,零钱提现",
        "2026-11-28 10:16:00,微信红包,王五,/,收入,¥18.80,/,已存入零钱,10000500012026112800000000000005\t,/,/
2026-11-28 10:17:00,转账,赵六,/,收入,¥9.90,/,已收钱,10000500012026112800000000000006\t,/,/
2026-11-28 10:18:00,群收款,孙七,/,收入,¥5.00,/,已收钱,10000500012026112800000000000007\t,/,/
2026-11-28 10:19:00,微信红包,周八,/,收入,¥1.20,/,已存入零钱,10000500012026112800000000000008\t,/,/
2026-11-28 12:00:00,零钱提现",
    );
    let s = parse("app.csv", with_others.as_bytes(), Provider::Wechat).unwrap();
    let payments: Vec<_> = s
        .lines
        .iter()
        .filter(|l| l.flow == Flow::Payment)
        .map(|l| l.amount)
        .collect();
    assert_eq!(
        payments,
        [Fen(1880), Fen(2000), Fen(990)],
        "QR codes and a transfer"
    );
    assert_eq!(
        s.skipped, 4,
        "the red packets, the group collection, the withdrawal"
    );
    let left_out = |kind: &str, rows, fen| MoneyInLeftOut {
        kind: kind.into(),
        rows,
        amount: Fen(fen),
    };
    assert_eq!(
        s.others_money_in,
        [left_out("微信红包", 2, 2000), left_out("群收款", 1, 500)],
        "the withdrawal is money out"
    );
}

/// A merchant bill of WeChat's early layout names the amount 总金额.
#[test]
fn a_wechat_bill_of_the_early_layout_is_read() {
    let early = "交易时间,公众账号ID,商户号,子商户号,设备号,微信订单号,商户订单号,用户标识,交易类型,交易状态,付款银行,货币种类,总金额,代金券或立减优惠金额,微信退款单号,商户退款单号,退款金额,代金券或立减优惠退款金额,退款类型,退款状态,商品名称,商户数据包,手续费,费率
`2026-11-28 10:15:32,`wx2421b1c4370ec43b,`1900000109,`0,`,`4200001234202611281234567890,`,`oUpF8uMuAJO_M2pxb1Q9zNjWeS6o,`NATIVE,`SUCCESS,`OTHERS,`CNY,`18.80,`0.00,`0,`0,`0.00,`0.00,`,`,`静宁苹果,`,`0.11000,`0.60%
";
    let s = parse("bill.csv", early.as_bytes(), Provider::Wechat).unwrap();
    assert_eq!(s.layout, Layout::WechatBill);
    assert_eq!(s.lines.len(), 1);
    assert_eq!(s.lines[0].amount, Fen(1880));
}

/// A file holding one direction of money says so: WeChat's bill of paid orders (no refund
/// columns), its bill of refunds (退款申请时间), the app's export of money in or out.
#[test]
fn a_file_of_one_flow_says_which() {
    assert_eq!(
        parse("bill.csv", WECHAT_BILL.as_bytes(), Provider::Wechat)
            .unwrap()
            .flows,
        None,
        "every order"
    );
    let paid = "交易时间,公众账号ID,商户号,特约商户号,设备号,微信订单号,商户订单号,用户标识,交易类型,交易状态,付款银行,货币种类,应结订单金额,代金券金额,商品名称,商户数据包,手续费,费率,订单金额,费率备注
`2026-11-28 10:15:32,`wx2421b1c4370ec43b,`1900000109,`0,`,`4200001234202611281234567890,`,`oUpF8uMuAJO_M2pxb1Q9zNjWeS6o,`NATIVE,`SUCCESS,`OTHERS,`CNY,`18.80,`0.00,`静宁苹果,`,`0.11000,`0.60%,`18.80,`
";
    let s = parse("paid.csv", paid.as_bytes(), Provider::Wechat).unwrap();
    assert_eq!((s.flows, s.lines.len()), (Some(Flow::Payment), 1));
    let refunds = WECHAT_BILL.replacen("费率备注", "费率备注,退款申请时间,退款成功时间", 1);
    let s = parse("refunds.csv", refunds.as_bytes(), Provider::Wechat).unwrap();
    assert_eq!(s.flows, Some(Flow::Refund));
    for (kind, flows) in [
        ("收入", Some(Flow::Payment)),
        ("支出", Some(Flow::Refund)),
        ("全部", None),
    ] {
        let app = WECHAT_APP.replace("导出类型：[全部]", &format!("导出类型：[{kind}]"));
        let s = parse("app.csv", app.as_bytes(), Provider::Wechat).unwrap();
        assert_eq!(s.flows, flows, "{kind}");
    }
}
