//! The shift slip ([`fairpos_domain::slip`]) a till makes at a shift close: built inside the
//! close's transaction from the tables and the ledger, signed with the till's key once it is
//! committed, kept as the till's last slip, and laid out as a receipt for the printer.

use fairpos_domain::payment::Method;
use fairpos_domain::shift::Closing;
use fairpos_domain::slip::ShiftSlip;
use fairpos_domain::SaleNumber;
use fairpos_hardware::config::PrinterConfig;
use fairpos_hardware::receipt::escpos_bytes::build;
use fairpos_hardware::receipt::layout::layout;
use fairpos_hardware::receipt::Receipt;
use fairpos_projection::queries;
use fairpos_sync::{keys, Record};
use sha2::{Digest, Sha256};

use crate::error::{Error, Result};
use crate::store::{signing_secret, Identity, Store, Writer};

/// Where the last slip's text is kept, to be shown or printed again.
const LAST_SLIP: &str = "last_shift_slip";

/// The slip of the shift `shift_id`, closed by the record `close` (already appended).
pub(super) fn build_slip(
    w: &mut Writer<'_>,
    shift_id: &str,
    closing: &Closing,
    close: &Record,
) -> Result<ShiftSlip> {
    let device = w.identity().device.clone();
    let span = queries::shift_sales(w.conn(), shift_id)?;
    let number = |seq: u64| SaleNumber::new(&device, seq);
    let totals = queries::shift_method_totals(w.conn(), shift_id)?
        .into_iter()
        .map(|(method, fen)| {
            Method::parse(&method)
                .map(|m| (m, fen))
                .map_err(|_| Error::Integrity(format!("payment method {method:?} in the tables")))
        })
        .collect::<Result<Vec<_>>>()?;
    let heads = w.heads_after(close)?;
    Ok(ShiftSlip {
        fair: w.identity().fair.id.clone(),
        device: device.clone(),
        shift: shift_id.to_string(),
        closed_at: close.header().at.clone(),
        first_sale: span.map(|(first, _, _)| number(first)),
        last_sale: span.map(|(_, last, _)| number(last)),
        till_last: match w.state().last_sale_seq {
            0 => None,
            seq => Some(number(seq)),
        },
        sales: span.map_or(0, |(_, _, count)| count),
        totals,
        expected: closing.expected,
        counted: closing.counted,
        variance: closing.variance,
        heads: keys::hex(&Sha256::digest(heads.as_bytes())),
    })
}

/// The slip's QR text, signed with the till's key (unsigned when the till never enrolled),
/// kept as the till's last slip in the close's own transaction: a close is never without
/// its slip.
pub(super) fn sign_and_keep(w: &mut Writer<'_>, slip: &ShiftSlip) -> Result<String> {
    let signature = signing_secret(w.conn())?
        .map(|secret| keys::sign(&secret, slip.body().as_bytes()))
        .unwrap_or_default();
    let text = slip.text(&signature);
    fairpos_projection::schema::set_meta(w.conn(), LAST_SLIP, &text)?;
    Ok(text)
}

/// The text of the last slip this till made.
pub fn last_slip(store: &Store) -> Result<Option<String>> {
    store.meta(LAST_SLIP)
}

/// The slip as paper: the shift's figures in words and the signed QR code.
pub fn slip_receipt(identity: &Identity, slip: &ShiftSlip, text: &str) -> Receipt {
    let number = |n: &Option<SaleNumber>| n.as_ref().map_or("-".into(), |n| n.to_string());
    let time = slip
        .closed_at
        .get(..16)
        .unwrap_or(&slip.closed_at)
        .replace('T', " ");
    let signed = !text.ends_with(";sig=");
    Receipt {
        title: identity.fair.name.clone(),
        subtitle: format!("交班单 Shift slip · {}", identity.stall),
        header: vec![
            ("收银机 Till".into(), slip.device.to_string()),
            ("交班 Closed".into(), time),
            ("首单 First".into(), number(&slip.first_sale)),
            ("末单 Last".into(), number(&slip.last_sale)),
            ("笔数 Sales".into(), slip.sales.to_string()),
            (
                "应有现金 Expected".into(),
                fairpos_hardware::receipt::yuan(slip.expected.0),
            ),
            (
                "实点现金 Counted".into(),
                fairpos_hardware::receipt::yuan(slip.counted.0),
            ),
            (
                "差额 Variance".into(),
                fairpos_hardware::receipt::yuan(slip.variance.0),
            ),
        ],
        lines: Vec::new(),
        total_fen: slip.totals.iter().map(|(_, f)| f.0).sum(),
        payments: slip
            .totals
            .iter()
            .map(|(m, f)| (format!("{} {}", m.label_zh(), m.as_str()), f.0))
            .collect(),
        change_fen: 0,
        buyer: Vec::new(),
        qr: Some(text.to_string()),
        qr_caption: if signed {
            "总部扫码核对 For headquarters: hq slip verify".into()
        } else {
            "未签名：收银机未注册 UNSIGNED: till not enrolled".into()
        },
        footer: vec!["请交组委会 Hand to the organizers".into()],
        reprint: false,
        open_drawer: false,
    }
}

/// The slip's ESC/POS bytes for `config`'s printer.
pub fn slip_bytes(
    config: &PrinterConfig,
    identity: &Identity,
    slip: &ShiftSlip,
    text: &str,
) -> Result<Vec<u8>> {
    let receipt = slip_receipt(identity, slip, text);
    let columns = config.columns();
    let built = build(&layout(&receipt, columns), columns, config.encoding, false)
        .map_err(|e| Error::Other(e.to_string()))?;
    Ok(built.bytes)
}
