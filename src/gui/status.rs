//! What the status bar says: sync with headquarters, the printer, the scanner. Pure: the
//! adapters feed it events and show its texts.

use fairpos_domain::Lang;

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Sync {
    /// Set up with `init`, not enrolled: nothing to sync with.
    NotEnrolled,
    /// Enrolled; no pass has finished since start.
    Waiting,
    Syncing,
    /// The last pass succeeded, at this local time (`10:32`).
    Synced(String),
    /// The last pass failed: headquarters unreachable, say.
    Offline(String),
    /// No pass can mend it, a person must: headquarters refuses the till (revoked) or a
    /// ledger of it, or the till's data is older than what it synced (restored from a
    /// copy). Said as offline, the volunteer sold on, each sale of a restored till taking a
    /// number headquarters held.
    Refused(String),
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StatusLine {
    pub sync: Sync,
    /// Sales headquarters has not confirmed holding.
    pub unconfirmed: i64,
    /// `None`: no printer configured; `Some(None)`: ready; `Some(Some(why))`: trouble.
    pub printer: Option<Option<String>>,
    /// Receipts waiting for the printer.
    pub queued: usize,
    /// `None`: keyboard-wedge scanner (nothing to watch); `Some(None)`: serial scanner
    /// connected; `Some(Some(why))`: unplugged.
    pub scanner: Option<Option<String>>,
}

impl StatusLine {
    pub fn sync_text(&self, lang: Lang) -> String {
        let zh = lang == Lang::Zh;
        let pending = if self.unconfirmed > 0 && self.sync != Sync::NotEnrolled {
            if zh {
                format!(" · {} 单未同步", self.unconfirmed)
            } else {
                format!(" · {} unsynced", self.unconfirmed)
            }
        } else {
            String::new()
        };
        let head = match (&self.sync, zh) {
            (Sync::NotEnrolled, true) => "未接入总部".to_string(),
            (Sync::NotEnrolled, false) => "not enrolled".to_string(),
            (Sync::Waiting, true) => "等待同步".to_string(),
            (Sync::Waiting, false) => "waiting to sync".to_string(),
            (Sync::Syncing, true) => "同步中…".to_string(),
            (Sync::Syncing, false) => "syncing…".to_string(),
            (Sync::Synced(at), true) => format!("已同步 {at}"),
            (Sync::Synced(at), false) => format!("synced {at}"),
            (Sync::Offline(_), true) => "离线".to_string(),
            (Sync::Offline(_), false) => "offline".to_string(),
            (Sync::Refused(_), true) => "总部拒收：请找摊主".to_string(),
            (Sync::Refused(_), false) => "refused by headquarters: call the stall lead".to_string(),
        };
        head + &pending
    }

    pub fn printer_ok(&self) -> bool {
        !matches!(self.printer, Some(Some(_))) && self.queued == 0
    }

    pub fn printer_text(&self, lang: Lang) -> String {
        let zh = lang == Lang::Zh;
        let head = match (&self.printer, zh) {
            (None, true) => "无打印机".to_string(),
            (None, false) => "no printer".to_string(),
            (Some(None), true) => "打印机就绪".to_string(),
            (Some(None), false) => "printer ready".to_string(),
            (Some(Some(why)), true) if why.contains("paper") => "缺纸".to_string(),
            (Some(Some(why)), _) if why.contains("paper") => "paper out".to_string(),
            (Some(Some(_)), true) => "打印机故障".to_string(),
            (Some(Some(_)), false) => "printer trouble".to_string(),
        };
        match (self.queued, zh) {
            (0, _) => head,
            (n, true) => format!("{head} · {n} 张待打"),
            (n, false) => format!("{head} · {n} queued"),
        }
    }

    pub fn scanner_ok(&self) -> bool {
        !matches!(self.scanner, Some(Some(_)))
    }

    pub fn scanner_text(&self, lang: Lang) -> String {
        match (&self.scanner, lang == Lang::Zh) {
            (None, true) => "键盘扫码枪".into(),
            (None, false) => "wedge scanner".into(),
            (Some(None), true) => "扫码枪已连接".into(),
            (Some(None), false) => "scanner connected".into(),
            (Some(Some(_)), true) => "扫码枪未连接".into(),
            (Some(Some(_)), false) => "scanner unplugged".into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line() -> StatusLine {
        StatusLine {
            sync: Sync::Synced("10:32".into()),
            unconfirmed: 0,
            printer: Some(None),
            queued: 0,
            scanner: Some(None),
        }
    }

    #[test]
    fn says_what_is_wrong_in_either_language() {
        let mut s = line();
        assert_eq!(s.sync_text(Lang::En), "synced 10:32");
        s.sync = Sync::Offline("headquarters unreachable".into());
        s.unconfirmed = 3;
        assert_eq!(s.sync_text(Lang::Zh), "离线 · 3 单未同步");
        s.sync = Sync::Refused("revoked".into());
        assert_eq!(
            s.sync_text(Lang::En),
            "refused by headquarters: call the stall lead · 3 unsynced"
        );
        s.printer = Some(Some("paper out".into()));
        s.queued = 2;
        assert_eq!(s.printer_text(Lang::En), "paper out · 2 queued");
        assert!(!s.printer_ok());
        s.scanner = Some(Some("unplugged".into()));
        assert_eq!(s.scanner_text(Lang::Zh), "扫码枪未连接");
        assert!(!s.scanner_ok());
    }
}
