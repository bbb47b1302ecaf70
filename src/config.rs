//! `fairpos.toml` in the data directory: the till's devices. A missing file means no printer
//! and a keyboard-wedge scanner.

use std::path::Path;

use fairpos_hardware::config::{PrinterConfig, ScannerConfig};
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
            .map_err(|e| Error::input(format!("{}: {e}", path.display())))?;
        Ok(config)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use fairpos_hardware::config::{PrinterKind, ScannerKind, TextEncoding};

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
            "#,
        )
        .unwrap();
        assert_eq!(c.printer.kind, PrinterKind::Serial);
        assert_eq!(c.printer.columns(), 32);
        assert_eq!(c.printer.encoding, TextEncoding::Gbk);
        assert!(c.printer.drawer);
        assert_eq!(c.scanner.kind, ScannerKind::Serial);
        assert!(toml::from_str::<Config>("[printer]\nwidht_mm = 58\n").is_err());
    }
}
