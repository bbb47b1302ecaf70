//! Shift slips at headquarters: the text of a slip's QR code (typed, pasted, or read from a
//! photo with a QR decoder) checked against the till's enrolled key and recorded. A recorded
//! slip tells reconciliation the till's last sale number before any of its data arrive.

use std::collections::HashMap;

use rusqlite::{params, Connection, OptionalExtension};
use serde::Serialize;

use crate::{devices, now_text, Error, Hq, Result};
use fairpos_domain::slip::ShiftSlip;
use fairpos_domain::SaleNumber;
use fairpos_sync::keys;

pub const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS shift_slips (
    device       TEXT NOT NULL,
    shift        TEXT NOT NULL,
    closed_at    TEXT NOT NULL,
    first_sale   TEXT,            -- the shift's own first and last sales
    last_sale    TEXT,
    upto         TEXT,            -- the till's last sale at the close, and its number
    upto_seq     INTEGER,
    sales        INTEGER NOT NULL,
    expected_fen INTEGER NOT NULL,
    counted_fen  INTEGER NOT NULL,
    variance_fen INTEGER NOT NULL,
    heads        TEXT NOT NULL,
    text         TEXT NOT NULL,
    verified_at  TEXT NOT NULL,
    PRIMARY KEY (device, shift)
) STRICT;
";

/// A slip verified and recorded.
#[derive(Clone, Debug, Serialize)]
pub struct Verified {
    pub device: String,
    pub shift: String,
    pub closed_at: String,
    pub first_sale: Option<String>,
    pub last_sale: Option<String>,
    /// The till's last sale at the close, whichever shift sold it.
    pub till_last: Option<String>,
    pub sales: u64,
    pub expected_fen: i64,
    pub counted_fen: i64,
    pub variance_fen: i64,
    /// Recorded before (the same slip verified again).
    pub already: bool,
}

/// Checks `text` (a slip's QR text) against the enrolled till's key and records it.
pub fn verify(hq: &Hq, text: &str) -> Result<Verified> {
    let (slip, body, signature) = parse(&hq.fair.id, text)?;
    let device = slip.device.to_string();
    let public_key = devices::public_key_of(&hq.conn, &device)?;
    check_signature(&device, public_key, &body, &signature)?;
    let text = text.trim();
    let held = || -> Result<Option<String>> {
        Ok(hq
            .conn
            .query_row(
                "SELECT text FROM shift_slips WHERE device = ?1 AND shift = ?2",
                params![device, slip.shift],
                |r| r.get(0),
            )
            .optional()?)
    };
    check_first(&device, &slip.shift, held()?.as_deref(), text)?;
    let row = kept(&slip, text);
    let inserted = hq.conn.execute(
        "INSERT OR IGNORE INTO shift_slips (device, shift, closed_at, first_sale, last_sale,
           upto, upto_seq, sales, expected_fen, counted_fen, variance_fen, heads, text,
           verified_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)",
        params![
            row.device,
            row.shift,
            row.closed_at,
            row.first_sale,
            row.last_sale,
            row.upto,
            row.upto_seq,
            row.sales,
            row.expected_fen,
            row.counted_fen,
            row.variance_fen,
            row.heads,
            row.text,
            now_text()
        ],
    )?;
    if inserted == 0 {
        // Another slip of the shift recorded meanwhile (two verified at once): compared now.
        check_first(&device, &slip.shift, held()?.as_deref(), text)?;
    }
    Ok(verified(slip, inserted == 0))
}

/// The same on a headquarters on PostgreSQL.
pub async fn verify_postgres(
    pool: &fairpos_postgres::Pool,
    fair_id: &str,
    text: &str,
) -> Result<Verified> {
    use fairpos_postgres::{registry, slips as kept_slips};
    let (slip, body, signature) = parse(fair_id, text)?;
    let device = slip.device.to_string();
    let public_key = registry::bundle_source(pool, &device)
        .await?
        .and_then(|(_, key)| key);
    check_signature(&device, public_key, &body, &signature)?;
    let text = text.trim();
    let held = kept_slips::slip_text(pool, &device, &slip.shift).await?;
    check_first(&device, &slip.shift, held.as_deref(), text)?;
    let inserted = kept_slips::record_slip(pool, &kept(&slip, text)).await?;
    if !inserted {
        // Another slip of the shift recorded meanwhile (two verified at once): compared now.
        let held = kept_slips::slip_text(pool, &device, &slip.shift).await?;
        check_first(&device, &slip.shift, held.as_deref(), text)?;
    }
    Ok(verified(slip, !inserted))
}

/// A slip's text read: the slip, the body its signature covers and the signature; refused
/// when it is not a slip of the fair `fair_id`.
fn parse(fair_id: &str, text: &str) -> Result<(ShiftSlip, String, String)> {
    let (slip, body, signature) =
        ShiftSlip::parse(text).map_err(|e| Error::input(e.to_string()))?;
    if slip.fair != fair_id {
        return Err(Error::input(format!(
            "the slip is of fair {}, this is headquarters of {fair_id}",
            crate::untrusted::shown(&slip.fair)
        )));
    }
    Ok((slip, body.to_string(), signature.to_string()))
}

/// Refuses a slip that `device`'s key (`None`: not enrolled, or revoked) did not sign.
fn check_signature(
    device: &str,
    public_key: Option<String>,
    body: &str,
    signature: &str,
) -> Result<()> {
    let Some(public_key) = public_key else {
        return Err(Error::input(format!(
            "till {device} is not enrolled here (or was revoked): its slip cannot be checked"
        )));
    };
    if signature.is_empty() {
        return Err(Error::input(format!(
            "the slip is unsigned: till {device} had not enrolled when the shift closed"
        )));
    }
    if !keys::verify(&public_key, body.as_bytes(), signature) {
        return Err(Error::input(format!(
            "the slip's signature does not verify with till {device}'s key: it was altered or is forged"
        )));
    }
    Ok(())
}

/// Refuses a second, different slip of one shift (`held`: the one recorded, if any).
fn check_first(device: &str, shift: &str, held: Option<&str>, text: &str) -> Result<()> {
    if held.is_some_and(|h| h != text) {
        return Err(Error::input(format!(
            "till {device} signed a different slip for shift {shift} before: both are kept by \
             the till's key, so the till itself is in question; the first one stays"
        )));
    }
    Ok(())
}

/// What is kept of a verified slip.
fn kept(slip: &ShiftSlip, text: &str) -> fairpos_postgres::slips::SlipRow {
    let number = |n: &Option<SaleNumber>| n.as_ref().map(|n| n.to_string());
    fairpos_postgres::slips::SlipRow {
        device: slip.device.to_string(),
        shift: slip.shift.clone(),
        closed_at: slip.closed_at.clone(),
        first_sale: number(&slip.first_sale),
        last_sale: number(&slip.last_sale),
        upto: number(&slip.till_last),
        // Parsing caps every sale number at i64::MAX.
        upto_seq: slip
            .till_last
            .as_ref()
            .map(|n| i64::try_from(n.seq()).unwrap_or(i64::MAX)),
        sales: slip.sales as i64,
        expected_fen: slip.expected.0,
        counted_fen: slip.counted.0,
        variance_fen: slip.variance.0,
        heads: slip.heads.clone(),
        text: text.to_string(),
    }
}

fn verified(slip: ShiftSlip, already: bool) -> Verified {
    Verified {
        device: slip.device.to_string(),
        shift: slip.shift,
        closed_at: slip.closed_at,
        first_sale: slip.first_sale.map(|n| n.to_string()),
        last_sale: slip.last_sale.map(|n| n.to_string()),
        till_last: slip.till_last.map(|n| n.to_string()),
        sales: slip.sales,
        expected_fen: slip.expected.0,
        counted_fen: slip.counted.0,
        variance_fen: slip.variance.0,
        already,
    }
}

/// A recorded slip: `(shift, closed_at, the till's last sale, its number)`.
pub type SlipStated = (String, String, Option<String>, u64);

/// The slips recorded, per till in order, in one pass.
pub fn by_device(conn: &Connection) -> Result<HashMap<String, Vec<SlipStated>>> {
    let mut stmt = conn.prepare_cached(
        "SELECT device, shift, closed_at, upto, COALESCE(upto_seq, 0) FROM shift_slips
          ORDER BY device, closed_at",
    )?;
    let mut out: HashMap<String, Vec<SlipStated>> = HashMap::new();
    let mut rows = stmt.query([])?;
    while let Some(r) = rows.next()? {
        out.entry(r.get(0)?).or_default().push((
            r.get(1)?,
            r.get(2)?,
            r.get(3)?,
            u64::try_from(r.get::<_, i64>(4)?).unwrap_or(0),
        ));
    }
    Ok(out)
}

/// The widest and tallest image of a slip read, in pixels.
const IMAGE_SIDE_MOST: u32 = 10_000;
/// The most memory decoding an image of a slip may take.
const IMAGE_BYTES_MOST: u64 = 512 << 20;

/// The text of the fairpos shift slip in an image (a photo or a scan of the paper, or a
/// screenshot of the till's screen), read with a QR decoder.
pub fn read_image(name: &str, bytes: &[u8]) -> Result<String> {
    let unreadable = |e: &dyn std::fmt::Display| {
        Error::input(format!("{name}: not an image this can read: {e}"))
    };
    let mut reader = image::ImageReader::new(std::io::Cursor::new(bytes))
        .with_guessed_format()
        .map_err(|e| unreadable(&e))?;
    // A photo of a slip, however good the phone, is well inside these; a small file that
    // unpacks to a huge image (20 000 pixels a side took 20 s and 800 MB) is refused.
    let mut limits = image::Limits::default();
    limits.max_image_width = Some(IMAGE_SIDE_MOST);
    limits.max_image_height = Some(IMAGE_SIDE_MOST);
    limits.max_alloc = Some(IMAGE_BYTES_MOST);
    reader.limits(limits);
    let image = reader.decode().map_err(|e| match e {
        image::ImageError::Limits(_) => Error::input(format!(
            "{name}: the image is larger than {IMAGE_SIDE_MOST} pixels a side (or than \
             {} MiB unpacked): take a smaller photo of the slip",
            IMAGE_BYTES_MOST >> 20
        )),
        e => unreadable(&e),
    })?;
    let image = image.to_luma8();
    let (w, h) = image.dimensions();
    let mut prepared =
        rqrr::PreparedImage::prepare_from_greyscale(w as usize, h as usize, |x, y| {
            image.get_pixel(x as u32, y as u32)[0]
        });
    // rqrr 0.10 can panic on some photos (an assertion in its geometry, issue #54): said as
    // a photo it cannot read, not a crash with no audit entry.
    let grids = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let grids = prepared.detect_grids();
        let decoded: Vec<_> = grids
            .iter()
            .map(|g| g.decode().map(|(_, text)| text))
            .collect();
        decoded
    }))
    .map_err(|_| Error::input(format!("{name}: the QR code in the image cannot be read")))?;
    if grids.is_empty() {
        return Err(Error::input(format!(
            "{name}: no QR code found in the image"
        )));
    }
    let mut unread = 0;
    for decoded in grids {
        match decoded {
            Ok(text) if text.starts_with("FPS1;") => return Ok(text),
            Ok(_) => {}
            Err(_) => unread += 1,
        }
    }
    Err(Error::input(if unread > 0 {
        format!("{name}: a QR code was found but could not be read: take the photo again, closer and flat")
    } else {
        format!("{name}: the QR code is not a fairpos shift slip")
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A PNG of `w` × `h` white pixels.
    fn png(w: u32, h: u32) -> Vec<u8> {
        let mut bytes = Vec::new();
        image::GrayImage::from_pixel(w, h, image::Luma([255]))
            .write_to(
                &mut std::io::Cursor::new(&mut bytes),
                image::ImageFormat::Png,
            )
            .unwrap();
        bytes
    }

    #[test]
    fn an_image_too_large_is_refused_before_it_is_unpacked() {
        let wide = png(IMAGE_SIDE_MOST + 1, 1);
        let e = read_image("wide.png", &wide).unwrap_err().to_string();
        assert!(e.contains("larger than 10000 pixels a side"), "{e}");
        let blank = png(200, 200);
        let e = read_image("blank.png", &blank).unwrap_err().to_string();
        assert!(e.contains("no QR code found"), "{e}");
        let e = read_image("text.png", b"not an image")
            .unwrap_err()
            .to_string();
        assert!(e.contains("not an image this can read"), "{e}");
    }
}
