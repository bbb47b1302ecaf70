//! The `[printer]`, `[scanner]` and `[scale]` sections of a till's `fairpos.toml`.

use std::path::PathBuf;

use serde::Deserialize;

use crate::scale::serial::Framing;
use crate::scale::{Protocol, Scale, SerialScale};
use crate::{Error, Result};

/// Refuses a serial speed of 0 for `what` (`printer`, `scanner`, `scale`): it reached the
/// port as "hang up", and printing failed later as though its cable were out. Any other the
/// port takes (9600 mostly; some devices 14400 or 230400).
pub fn check_baud(what: &str, baud: u32) -> Result<()> {
    if baud > 0 {
        return Ok(());
    }
    Err(Error::Config(format!(
        "{what} baud = 0: give the device's serial speed (9600 mostly)"
    )))
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PrinterKind {
    Serial,
    Network,
    Usb,
    File,
    #[default]
    None,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TextEncoding {
    #[default]
    Gb18030,
    Gbk,
}

#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PrinterConfig {
    pub kind: PrinterKind,
    /// Serial device, USB printer device file (`/dev/usb/lp0`), or file.
    pub path: Option<PathBuf>,
    /// `host:port` of a network printer; host names are resolved.
    pub address: Option<String>,
    pub baud: u32,
    /// 58 (32 columns) or 80 (48 columns).
    pub width_mm: u32,
    pub encoding: TextEncoding,
    /// Pulse the cash drawer on cash sales.
    pub drawer: bool,
}

impl Default for PrinterConfig {
    fn default() -> PrinterConfig {
        PrinterConfig {
            kind: PrinterKind::None,
            path: None,
            address: None,
            baud: 9600,
            width_mm: 80,
            encoding: TextEncoding::Gb18030,
            drawer: false,
        }
    }
}

impl PrinterConfig {
    /// Characters per line of normal text.
    pub fn columns(&self) -> usize {
        if self.width_mm == 58 {
            32
        } else {
            48
        }
    }

    pub fn validate(&self) -> Result<()> {
        if self.width_mm != 58 && self.width_mm != 80 {
            return Err(Error::Config(format!(
                "printer width_mm is {}; use 58 or 80",
                self.width_mm
            )));
        }
        let needs_path = matches!(
            self.kind,
            PrinterKind::Serial | PrinterKind::Usb | PrinterKind::File
        );
        if needs_path && self.path.is_none() {
            return Err(Error::Config(
                format!("a {:?} printer needs `path`", self.kind).to_lowercase(),
            ));
        }
        if self.kind == PrinterKind::Network && self.address.is_none() {
            return Err(Error::Config(
                "a network printer needs `address = \"host:9100\"`".into(),
            ));
        }
        check_baud("printer", self.baud)
    }
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ScannerKind {
    Serial,
    #[default]
    Keyboard,
}

#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ScannerConfig {
    pub kind: ScannerKind,
    pub path: Option<PathBuf>,
    pub baud: u32,
}

impl Default for ScannerConfig {
    fn default() -> ScannerConfig {
        ScannerConfig {
            kind: ScannerKind::Keyboard,
            path: None,
            baud: 9600,
        }
    }
}

impl ScannerConfig {
    pub fn validate(&self) -> Result<()> {
        if self.kind == ScannerKind::Serial && self.path.is_none() {
            return Err(Error::Config("a serial scanner needs `path`".into()));
        }
        check_baud("scanner", self.baud)
    }
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ScaleKind {
    Serial,
    #[default]
    None,
}

/// `[scale]`: a counter scale on a serial port.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ScaleConfig {
    pub kind: ScaleKind,
    pub path: Option<PathBuf>,
    pub baud: u32,
    /// Data bits, parity, stop bits: `7E1`, `8N1`. Default: the protocol's usual.
    pub framing: Option<String>,
    pub protocol: Protocol,
    /// What a Toledo 8217 scale weighs in, which its answers do not say: `kg` (default),
    /// `jin` (a price scale switched to 市斤), `g` or `lb`. SMA scales say their unit.
    pub unit: Option<String>,
}

impl Default for ScaleConfig {
    fn default() -> ScaleConfig {
        ScaleConfig {
            kind: ScaleKind::None,
            path: None,
            baud: 9600,
            framing: None,
            protocol: Protocol::Toledo8217,
            unit: None,
        }
    }
}

impl ScaleConfig {
    pub fn validate(&self) -> Result<()> {
        if self.kind == ScaleKind::Serial && self.path.is_none() {
            return Err(Error::Config("a serial scale needs `path`".into()));
        }
        self.framing()?;
        self.toledo_unit()?;
        check_baud("scale", self.baud)
    }

    fn toledo_unit(&self) -> Result<&'static str> {
        match self.unit.as_deref().map(str::trim) {
            None | Some("kg") => Ok("kg"),
            Some("jin" | "斤" | "市斤") => Ok("jin"),
            Some("g") => Ok("g"),
            Some("lb") => Ok("lb"),
            Some(other) => Err(Error::Config(format!(
                "scale unit {other:?}: use kg, jin (市斤), g or lb"
            ))),
        }
    }

    fn framing(&self) -> Result<Framing> {
        match &self.framing {
            None => Ok(Framing::default_for(self.protocol)),
            Some(text) => Framing::parse(text).ok_or_else(|| {
                Error::Config(format!(
                    "scale framing {text:?}: use data bits, parity and stop bits, such as 7E1 or 8N1"
                ))
            }),
        }
    }

    /// The scale configured, if any.
    pub fn open(&self) -> Result<Option<Box<dyn Scale>>> {
        match (&self.kind, &self.path) {
            (ScaleKind::None, _) => Ok(None),
            (ScaleKind::Serial, None) => Err(Error::Config("a serial scale needs `path`".into())),
            (ScaleKind::Serial, Some(path)) => Ok(Some(Box::new(
                SerialScale::new(path.clone(), self.baud, self.framing()?, self.protocol)
                    .weighing_in(self.toledo_unit()?),
            ))),
        }
    }
}
