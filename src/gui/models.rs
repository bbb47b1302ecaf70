//! Plain values into the generated UI's types, for every window (the till, the kiosk, the
//! customer display): text, money, list models, the language, keys.

use fairpos_domain::{Fen, Lang};
use slint::{ModelRc, SharedString, VecModel};

use super::ui::CartItem;
use super::views::LineView;

pub(crate) fn s(text: impl AsRef<str>) -> SharedString {
    SharedString::from(text.as_ref())
}

pub(crate) fn yuan(f: Fen) -> SharedString {
    s(format!("￥{f}"))
}

pub(crate) fn model<T: Clone + 'static>(items: Vec<T>) -> ModelRc<T> {
    ModelRc::new(VecModel::from(items))
}

/// The bundled translation of `lang`: `zh_CN`, or `""` for the English the screens are
/// written in.
pub fn translation(lang: Lang) -> &'static str {
    match lang {
        Lang::Zh => "zh_CN",
        Lang::En => "",
    }
}

/// Picks the UI language from the bundled translations.
pub fn set_language(lang: Lang) {
    if let Err(e) = slint::select_bundled_translation(translation(lang)) {
        eprintln!("language {}: {e}", translation(lang));
    }
}

/// The cart lines as the screens' `CartItem` model (the till's and the kiosk's).
pub fn cart_model(lines: Vec<LineView>) -> ModelRc<CartItem> {
    model(
        lines
            .into_iter()
            .map(|l| CartItem {
                name: s(&l.name),
                detail: s(&l.detail),
                qty: s(&l.qty),
                amount: s(&l.amount),
            })
            .collect(),
    )
}

/// The one character a key event carries, when it is one a scanner or a person types: Enter
/// or a printable character, not another control or one of Slint's special keys (arrows,
/// function keys: the private-use range U+F700..U+F8FF).
pub fn typed_char(text: &str) -> Option<char> {
    let mut chars = text.chars();
    let (Some(c), None) = (chars.next(), chars.next()) else {
        return None;
    };
    let enter = c == '\n' || c == '\r';
    let special = c.is_control() || ('\u{F700}'..='\u{F8FF}').contains(&c);
    (enter || !special).then_some(c)
}
