//! `fairpos.toml` in the data directory: the till's devices and its kiosk mode. A missing
//! file means no printer, a keyboard-wedge scanner, no scale and the kiosk's defaults.

use std::path::Path;

use fairpos_hardware::config::{PrinterConfig, ScaleConfig, ScannerConfig};
use serde::Deserialize;

use crate::error::{Error, Result};

pub const CONFIG_FILE: &str = "fairpos.toml";

#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    #[serde(default)]
    pub printer: PrinterConfig,
    #[serde(default)]
    pub scanner: ScannerConfig,
    #[serde(default)]
    pub scale: ScaleConfig,
    #[serde(default)]
    pub kiosk: KioskConfig,
    #[serde(default)]
    pub customer_display: CustomerDisplayConfig,
}

/// `[customer_display]`: a second screen facing the shopper.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CustomerDisplayConfig {
    /// Open it beside the till's window.
    pub enabled: bool,
    /// `800x480` or `1024x600` (default: 800x480).
    pub size: Option<String>,
    /// What the stall's payment QR holds (default: `[kiosk] payment_qr`).
    pub payment_qr: Option<String>,
}

/// `[kiosk]`: self-checkout at this till.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct KioskConfig {
    /// The seller the kiosk's sales count for (default: the first seller of the till's stall).
    pub seller: Option<String>,
    /// What the stall's payment QR code holds (its WeChat or Alipay collection code).
    pub payment_qr: String,
    /// The methods that QR takes, each sale recorded with the one staff confirm: `"wechat"`
    /// (default), or `["wechat", "alipay"]` for a code that takes both (a 聚合收款码), and
    /// staff tap which arrived; statements are matched by it.
    #[serde(deserialize_with = "one_or_many")]
    pub payment_method: Vec<String>,
    /// Seconds without a touch or scan before the kiosk asks whether the shopper is there.
    pub idle_warn_s: u64,
    /// Seconds after the question before the basket is cleared.
    pub idle_clear_s: u64,
}

impl Default for KioskConfig {
    fn default() -> KioskConfig {
        KioskConfig {
            seller: None,
            payment_qr: "https://payapp.weixin.qq.com/demo-stall-collection-code".into(),
            payment_method: vec!["wechat".into()],
            idle_warn_s: 60,
            idle_clear_s: 20,
        }
    }
}

/// A method, or a list of them.
fn one_or_many<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum OneOrMany {
        One(String),
        Many(Vec<String>),
    }
    Ok(match OneOrMany::deserialize(d)? {
        OneOrMany::One(one) => vec![one],
        OneOrMany::Many(many) => many,
    })
}

/// The longest a kiosk's idle question or clearing may wait, in seconds.
const LONGEST_IDLE_S: u64 = 3600;

/// The most bytes a payment QR's text may have: what a QR code holds at error correction M
/// in byte mode (2 331), as the kiosk draws it; longer, it drew a blank image.
const LONGEST_PAYMENT_QR: usize = 2331;

impl KioskConfig {
    /// Refuses settings that break the kiosk: idle times of 0 (it asked at every tick, and
    /// cleared the basket at the next) or beyond an hour (whose milliseconds overflowed), a
    /// blank payment code (a QR that pays no one) or one too long to draw. Asked as a kiosk
    /// starts: a till selling at its counter reads no `[kiosk]`.
    pub fn validate(&self) -> std::result::Result<(), String> {
        for (name, seconds) in [
            ("idle_warn_s", self.idle_warn_s),
            ("idle_clear_s", self.idle_clear_s),
        ] {
            if !(1..=LONGEST_IDLE_S).contains(&seconds) {
                return Err(format!(
                    "[kiosk] {name} = {seconds}: give 1 to {LONGEST_IDLE_S} seconds"
                ));
            }
        }
        if self.payment_qr.trim().is_empty() {
            return Err(
                "[kiosk] payment_qr is empty: give the text of the stall's own \
                        collection code (收款码)"
                    .into(),
            );
        }
        if self.payment_qr.len() > LONGEST_PAYMENT_QR {
            return Err(format!(
                "[kiosk] payment_qr is {} bytes, more than a QR code holds ({LONGEST_PAYMENT_QR})",
                self.payment_qr.len()
            ));
        }
        Ok(())
    }

    /// The stall's payment code to show shoppers at the fair whose id is `fair`: none while
    /// it is the demo's placeholder and the fair is not the demo fair (the placeholder
    /// takes no money; shoppers were told to pay it).
    pub fn payment_qr_at(&self, fair: &str) -> Option<&str> {
        let placeholder = self.payment_qr == KioskConfig::default().payment_qr;
        let demo = fairpos_domain::fair::Fair::from_toml(fairpos_domain::demo::FAIR_TOML)
            .is_ok_and(|demo| demo.id == fair);
        (!placeholder || demo).then_some(self.payment_qr.as_str())
    }
}

impl Config {
    /// Reads `dir/fairpos.toml`; a bad file is bad input (exit 2) naming what is wrong.
    pub fn load(dir: &Path) -> Result<Config> {
        let path = dir.join(CONFIG_FILE);
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Config::default()),
            Err(source) => return Err(Error::ReadInput { path, source }),
        };
        let config: Config = toml::from_str(&text)
            .map_err(|e| Error::input(format!("{}: {}", path.display(), e.message())))?;
        config
            .printer
            .validate()
            .and_then(|_| config.scanner.validate())
            .and_then(|_| config.scale.validate())
            .map_err(|e| Error::input(format!("{}: {e}", path.display())))?;
        Ok(config)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use fairpos_hardware::config::{PrinterKind, ScannerKind, TextEncoding};
    use fairpos_hardware::scale::Protocol;

    #[test]
    fn the_documented_keys_read() {
        let c: Config = toml::from_str(
            r#"
            [printer]
            kind = "serial"
            path = "/dev/ttyUSB0"
            address = "printer.local:9100"
            baud = 9600
            width_mm = 58
            encoding = "gbk"
            drawer = true

            [scanner]
            kind = "serial"
            path = "/dev/ttyACM0"
            baud = 9600

            [scale]
            kind = "serial"
            path = "/dev/ttyUSB1"
            baud = 9600
            framing = "7E1"
            protocol = "toledo8217"
            "#,
        )
        .unwrap();
        assert_eq!(c.printer.kind, PrinterKind::Serial);
        assert_eq!(c.printer.columns(), 32);
        assert_eq!(c.printer.encoding, TextEncoding::Gbk);
        assert!(c.printer.drawer);
        assert_eq!(c.scanner.kind, ScannerKind::Serial);
        assert_eq!(c.scale.protocol, Protocol::Toledo8217);
        assert!(c.scale.validate().is_ok());
        let sma: Config =
            toml::from_str("[scale]\nkind = \"serial\"\npath = \"/dev/x\"\nprotocol = \"sma\"\n")
                .unwrap();
        assert_eq!(sma.scale.protocol, Protocol::Sma);
        let bad: Config =
            toml::from_str("[scale]\nkind = \"serial\"\npath = \"/dev/x\"\nframing = \"9X1\"\n")
                .unwrap();
        assert!(bad.scale.validate().is_err());
        assert!(toml::from_str::<Config>("[printer]\nwidht_mm = 58\n").is_err());
    }

    /// Kiosk settings that broke the kiosk are refused as it starts; a speed of 0 when the
    /// file is read.
    #[test]
    fn kiosk_settings_that_break_the_kiosk_are_refused() {
        let check = |kiosk: &str| {
            let c: Config = toml::from_str(&format!("[kiosk]\n{kiosk}\n")).unwrap();
            c.kiosk.validate()
        };
        assert_eq!(check("idle_warn_s = 60"), Ok(()));
        for (kiosk, said) in [
            ("idle_warn_s = 0", "idle_warn_s = 0: give 1 to 3600"),
            ("idle_clear_s = 99999999999999999", "idle_clear_s"),
            ("payment_qr = \" \"", "payment_qr is empty"),
        ] {
            let err = check(kiosk).unwrap_err();
            assert!(err.contains(said), "{kiosk}: {err}");
        }
        let long = format!("payment_qr = \"{}\"", "x".repeat(2332));
        assert!(check(&long)
            .unwrap_err()
            .contains("more than a QR code holds"));
        // A serial speed of 0 reached the port as "hang up".
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(CONFIG_FILE), "[printer]\nbaud = 0\n").unwrap();
        let err = Config::load(dir.path()).unwrap_err().to_string();
        assert!(err.contains("printer baud = 0"), "{err}");
        std::fs::write(dir.path().join(CONFIG_FILE), "[printer]\nbaud = 14400\n").unwrap();
        assert!(Config::load(dir.path()).is_ok(), "a speed of its own");
    }
}
