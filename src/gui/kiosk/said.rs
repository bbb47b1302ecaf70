//! What the kiosk says to the shopper, kept in both its languages: a shopper who switches
//! language after a message reads it in the new one (it stayed in the language it was said
//! in).

use std::fmt;

use fairpos_domain::Lang;

/// A message in Chinese and in English; empty when nothing is said.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Said {
    zh: String,
    en: String,
}

impl Said {
    pub fn new(zh: impl Into<String>, en: impl Into<String>) -> Said {
        Said {
            zh: zh.into(),
            en: en.into(),
        }
    }

    /// The message `words` gives in each language.
    pub fn of(words: impl Fn(Lang) -> String) -> Said {
        Said::new(words(Lang::Zh), words(Lang::En))
    }

    /// The message in `lang`.
    pub fn in_lang(&self, lang: Lang) -> &str {
        match lang {
            Lang::Zh => &self.zh,
            Lang::En => &self.en,
        }
    }

    pub fn clear(&mut self) {
        *self = Said::default();
    }

    pub fn is_empty(&self) -> bool {
        self.zh.is_empty() && self.en.is_empty()
    }
}

impl fmt::Display for Said {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} / {}", self.zh, self.en)
    }
}
