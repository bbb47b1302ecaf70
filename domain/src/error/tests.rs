use super::*;

/// One error of each rule (the match makes a new rule fail to compile until it has one).
fn example(rule: Rule) -> DomainError {
    use DomainError as E;
    let s = |t: &str| t.to_string();
    match rule {
        Rule::BadAmount => E::BadAmount {
            text: s("1.234"),
            why: AmountIssue::TooManyDecimals,
        },
        Rule::BadCheckDigit => E::BadCheckDigit {
            code: s("6935780100129"),
            expected: 8,
        },
        Rule::UnknownCode => E::UnknownCode { code: s("123") },
        Rule::BadQuantity => E::BadQuantity {
            item: s("HY-MHT-LB"),
            why: QuantityIssue::NeedsWeight {
                sku: s("HY-MHT-LB"),
                code: s("HY-MHT-LB"),
                unit: s("斤"),
            },
        },
        Rule::ZeroQuantity => E::ZeroQuantity { item: s("X*0") },
        Rule::EmptyCart => E::EmptyCart,
        Rule::Underpaid => E::Underpaid {
            due: Fen(100),
            paid: Fen(50),
        },
        Rule::NonCashOverpaid => E::NonCashOverpaid {
            due: Fen(100),
            non_cash: Fen(200),
        },
        Rule::BadPayment => E::BadPayment {
            text: s("gold"),
            why: PaymentIssue::UnknownMethod(Some(s("gold"))),
        },
        Rule::BadCreditCode => E::BadCreditCode {
            code: s("X"),
            why: CreditCodeIssue::Length(1),
        },
        Rule::OnAccountNeedsUnit => E::OnAccountNeedsUnit,
        Rule::NoOpenShift => E::NoOpenShift,
        Rule::ShiftAlreadyOpen => E::ShiftAlreadyOpen {
            since: s("10:00"),
            seller: s("V003"),
        },
        Rule::WrongPin => E::WrongPin,
        Rule::PinLocked => E::PinLocked { seconds: 30 },
        Rule::BadPin => E::BadPin,
        Rule::BadDeviceCode => E::BadDeviceCode { code: s("t1") },
        Rule::BadFair => E::BadFair(s("`name` is empty")),
        Rule::BadCatalog => E::BadCatalog(s("sku A is used by two products")),
        Rule::SaleVoided => E::SaleVoided {
            number: s("T01-000001"),
        },
        Rule::SaleHasRefunds => E::SaleHasRefunds {
            number: s("T01-000001"),
        },
        Rule::BadRefund => E::BadRefund(RefundIssue::WeighedWhole { line: 2 }),
        Rule::ReasonNeeded => E::ReasonNeeded,
        Rule::PaymentCode => E::PaymentCode {
            kind: CodeKind::Alipay,
        },
        Rule::ReceiptScanned => E::ReceiptScanned {
            number: s("T01-000001"),
        },
        Rule::BadCsvRow => E::BadCsvRow {
            file: s("c.csv"),
            line: 3,
            why: s("price_yuan is empty"),
        },
        Rule::BadCsvRows => E::BadCsvRows {
            file: s("c.csv"),
            rows: vec![(3, s("price_yuan is empty")), (5, s("sku is empty"))],
        },
        Rule::BadCsv => E::BadCsv {
            file: s("c.csv"),
            why: s("no column named sku"),
        },
        Rule::UnknownSeller => E::UnknownSeller { id: s("V999") },
        Rule::UnknownUnit => E::UnknownUnit {
            code: s("12430000444883027E"),
        },
        Rule::UnknownSale => E::UnknownSale {
            key: s("T01-000009"),
        },
        Rule::ScaleNotReady => E::ScaleNotReady(ScaleIssue::Motion),
    }
}

fn has_cjk(text: &str) -> bool {
    text.chars().any(|c| ('\u{4e00}'..='\u{9fff}').contains(&c))
}

#[test]
fn every_rule_has_chinese_and_english_words_without_flags() {
    let mut codes = std::collections::HashSet::new();
    for rule in Rule::ALL {
        assert!(codes.insert(rule.code()), "{rule:?}: code used twice");
        let e = example(rule);
        assert_eq!(e.rule(), rule);
        let zh = e.words(Lang::Zh);
        let en = e.words(Lang::En);
        assert!(has_cjk(&zh), "{rule:?} has no Chinese: {zh}");
        assert!(
            !en.is_empty() && !has_cjk(&en.replace("斤", "")),
            "{rule:?}: {en}"
        );
        for words in [&zh, &en] {
            assert!(
                !words.contains("--") && !words.contains("fairpos "),
                "{rule:?} names a command-line flag on the screen: {words}"
            );
        }
    }
}

#[test]
fn the_command_line_names_its_flags() {
    assert_eq!(
        DomainError::OnAccountNeedsUnit.to_string(),
        "on_account needs a purchasing unit: give --unit CREDIT_CODE"
    );
    assert!(DomainError::NoOpenShift
        .to_string()
        .contains("fairpos shift open --seller ID"));
    assert_eq!(
        DomainError::BadRefund(RefundIssue::NoLines).to_string(),
        "bad refund: name at least one line (--line N[:QTY])"
    );
}

#[test]
fn a_long_run_of_digits_is_not_shown_whole_and_a_unionpay_code_is_named() {
    let code = "0112345678901234567";
    for lang in [Lang::Zh, Lang::En] {
        let said = DomainError::UnknownCode { code: code.into() }.words(lang);
        assert!(said.contains("0112…") && !said.contains(code), "{said}");
    }
    let said = DomainError::UnknownCode {
        code: "6935780100128".into(),
    }
    .words(Lang::En);
    assert!(
        said.contains("6935780100128"),
        "a product's code is shown: {said}"
    );
    let url = "https://example.com/a/very/long/path";
    let said = DomainError::UnknownCode { code: url.into() }.words(Lang::En);
    assert!(
        said.starts_with("unknown code https://example.com/a/ve…: no product"),
        "{said}"
    );
    let said = DomainError::PaymentCode {
        kind: crate::codes::payment_code_kind("6212345678901234567").unwrap(),
    }
    .words(Lang::Zh);
    assert!(said.contains("云闪付付款码"), "{said}");
}
