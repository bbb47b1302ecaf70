//! Statement files as the payment providers let a merchant download them, generated from a
//! list of movements: WeChat Pay's merchant bill (UTF-8, every field prefixed with a backtick,
//! a summary block after the rows), the WeChat app's 账单明细 export (a BOM, header lines
//! before the column row, CRLF line ends) and Alipay's account statement (GBK, `#` comment
//! lines before and after, fields padded with a tab, a fee row beside each payment).
#![allow(dead_code)]

/// One movement of money as the provider saw it.
#[derive(Clone, Debug)]
pub struct Movement {
    /// Beijing wall time, `2026-11-22 10:15:31`.
    pub at: String,
    pub fen: i64,
    pub refund: bool,
    pub txn: String,
}

pub fn pay(at: &str, fen: i64, txn: &str) -> Movement {
    Movement {
        at: format!("2026-11-22 {at}"),
        fen,
        refund: false,
        txn: txn.into(),
    }
}

pub fn refund(at: &str, fen: i64, txn: &str) -> Movement {
    Movement {
        refund: true,
        ..pay(at, fen, txn)
    }
}

fn yuan(fen: i64) -> String {
    format!("{}.{:02}", fen / 100, fen % 100)
}

/// WeChat Pay's merchant bill (交易账单, 全部订单), UTF-8.
pub fn wechat_bill(rows: &[Movement]) -> Vec<u8> {
    let mut out = String::from(
        "交易时间,公众账号ID,商户号,特约商户号,设备号,微信订单号,商户订单号,用户标识,交易类型,交易状态,付款银行,货币种类,应结订单金额,代金券金额,微信退款单号,商户退款单号,退款金额,充值券退款金额,退款类型,退款状态,商品名称,商户数据包,手续费,费率,订单金额,申请退款金额,费率备注\n",
    );
    let (mut paid, mut refunded) = (0, 0);
    for (i, m) in rows.iter().enumerate() {
        let (status, settled, refund_no, refund_fen, kind, refund_status, order, asked) =
            if m.refund {
                refunded += m.fen;
                let txn = m.txn.as_str();
                ("REFUND", 0, txn, m.fen, "ORIGINAL", "SUCCESS", 0, m.fen)
            } else {
                paid += m.fen;
                ("SUCCESS", m.fen, "0", 0, "", "", m.fen, 0)
            };
        let order_no = if m.refund {
            format!("42000012342026112200000000{i:02}")
        } else {
            m.txn.clone()
        };
        let fields = [
            m.at.clone(),
            "wx2421b1c4370ec43b".into(),
            "1900000109".into(),
            "0".into(),
            String::new(),
            order_no,
            String::new(),
            "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o".into(),
            "NATIVE".into(),
            status.into(),
            "OTHERS".into(),
            "CNY".into(),
            yuan(settled),
            "0.00".into(),
            refund_no.into(),
            if m.refund {
                format!("R{i}")
            } else {
                "0".into()
            },
            yuan(refund_fen),
            "0.00".into(),
            kind.into(),
            refund_status.into(),
            "助农产品".into(),
            String::new(),
            "0.00000".into(),
            "0.60%".into(),
            yuan(order),
            yuan(asked),
            String::new(),
        ];
        let line: Vec<String> = fields.iter().map(|f| format!("`{f}")).collect();
        out.push_str(&line.join(","));
        out.push('\n');
    }
    out.push_str("总交易单数,应结订单总金额,退款总金额,充值券退款总金额,手续费总金额,订单总金额,申请退款总金额\n");
    out.push_str(&format!(
        "`{},`{},`{},`0.00,`0.00000,`{},`{}\n",
        rows.len(),
        yuan(paid),
        yuan(refunded),
        yuan(paid),
        yuan(refunded)
    ));
    out.into_bytes()
}

/// The WeChat app's 微信支付账单明细 export: BOM, header lines, CRLF.
pub fn wechat_app(rows: &[Movement]) -> Vec<u8> {
    let mut out = String::from("\u{feff}微信支付账单明细,,,,,,,,,,\n");
    out.push_str("微信昵称：[鲜果直供站],,,,,,,,,,\n");
    out.push_str("起始时间：[2026-11-22 00:00:00] 终止时间：[2026-11-22 23:59:59],,,,,,,,,,\n");
    out.push_str(
        "导出类型：[全部],,,,,,,,,,\n导出时间：[2026-11-23 08:00:00],,,,,,,,,,\n,,,,,,,,,,\n",
    );
    out.push_str(&format!("共{}笔记录,,,,,,,,,,\n,,,,,,,,,,\n", rows.len()));
    out.push_str("----------------------微信支付账单明细列表--------------------,,,,,,,,,,\n");
    out.push_str(
        "交易时间,交易类型,交易对方,商品,收/支,金额(元),支付方式,当前状态,交易单号,商户单号,备注\n",
    );
    for m in rows {
        let (kind, direction, status) = if m.refund {
            ("二维码收款-退款", "支出", "已退款")
        } else {
            ("二维码收款", "收入", "已收钱")
        };
        out.push_str(&format!(
            "{},{kind},顾客,/,{direction},¥{},/,{status},{}\t,/,/\n",
            m.at,
            yuan(m.fen),
            m.txn
        ));
    }
    out.replace('\n', "\r\n").into_bytes()
}

/// Alipay's 账务明细 export in GBK, with a service-fee row after each payment.
pub fn alipay(rows: &[Movement]) -> Vec<u8> {
    let mut out = String::from("#支付宝账务明细查询\n#账号：[20881234567890120156]\n");
    out.push_str("#起始日期：[2026年11月22日 00:00:00]   终止日期：[2026年11月23日 00:00:00]\n");
    out.push_str("#-----------------------------------------账务明细列表----------------------------------------\n");
    out.push_str("账务流水号,业务流水号,商户订单号,商品名称,发生时间,对方账号,收入金额（+元）,支出金额（-元）,账户余额（元）,交易渠道,业务类型,备注,\n");
    for (i, m) in rows.iter().enumerate() {
        let business = format!("202611222200145678051234{i:04}");
        if m.refund {
            out.push_str(&format!(
                "{}\t,{business}\t,\t,退款-收钱码收款\t,{}\t,138****0000\t,\t,-{}\t,100.00\t,支付宝\t,交易退款\t,\t,\n",
                m.txn, m.at, yuan(m.fen)
            ));
        } else {
            out.push_str(&format!(
                "{}\t,{business}\t,\t,收钱码收款\t,{}\t,138****0000\t,+{}\t,\t,100.00\t,支付宝\t,交易\t,\t,\n",
                m.txn, m.at, yuan(m.fen)
            ));
            out.push_str(&format!(
                "{}9\t,{business}\t,\t,收钱码收款\t,{}\t,支付宝\t,\t,-0.{:02}\t,99.90\t,支付宝\t,收费\t,服务费\t,\n",
                m.txn,
                m.at,
                (m.fen * 6 / 1000).clamp(1, 99)
            ));
        }
    }
    out.push_str("#-----------------------------------------账务明细列表结束------------------------------------\n");
    out.push_str("#导出时间：[2026年11月23日 08:00:00]\n");
    let (gbk, _, unmappable) = encoding_rs::GBK.encode(&out);
    assert!(!unmappable, "the Alipay file is all GBK");
    gbk.into_owned()
}
