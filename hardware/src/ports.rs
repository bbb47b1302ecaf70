//! What serial ports and printer devices this machine has (`fairpos hardware ports`).

use std::path::Path;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PortInfo {
    pub path: String,
    /// `serial` or `usb-printer`.
    pub kind: &'static str,
    pub description: String,
}

/// Serial ports (from sysfs) and USB printer device files. Pseudo-terminals are not listed:
/// configure them by path.
pub fn list() -> Vec<PortInfo> {
    let mut out: Vec<PortInfo> = serialport::available_ports()
        .unwrap_or_default()
        .into_iter()
        .map(|p| PortInfo {
            description: match &p.port_type {
                serialport::SerialPortType::UsbPort(u) => format!(
                    "USB {:04x}:{:04x} {}",
                    u.vid,
                    u.pid,
                    u.product.clone().unwrap_or_default()
                )
                .trim()
                .to_string(),
                serialport::SerialPortType::PciPort => "PCI serial".into(),
                serialport::SerialPortType::BluetoothPort => "Bluetooth serial".into(),
                serialport::SerialPortType::Unknown => "serial".into(),
            },
            path: p.port_name,
            kind: "serial",
        })
        .collect();
    if let Ok(entries) = std::fs::read_dir(Path::new("/dev/usb")) {
        for e in entries.flatten() {
            let name = e.file_name().to_string_lossy().to_string();
            if name.starts_with("lp") {
                out.push(PortInfo {
                    path: format!("/dev/usb/{name}"),
                    kind: "usb-printer",
                    description: "USB printer class device".into(),
                });
            }
        }
    }
    out.sort_by(|a, b| a.path.cmp(&b.path));
    out
}
