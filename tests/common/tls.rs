//! Certificates for tests of headquarters over TLS, made by the real `openssl`.

use std::path::{Path, PathBuf};
use std::process::Command;

/// A certificate authority and headquarters' certificate for 127.0.0.1, made by `openssl`,
/// valid for 825 days (headquarters says nothing of its expiry): the CA's certificate, the
/// server's certificate and key files.
pub fn certificates(dir: &Path, ca: &str) -> (PathBuf, PathBuf, PathBuf) {
    certificates_for_days(dir, ca, 825)
}

/// [`certificates`], the server's valid for `days` days.
pub fn certificates_for_days(dir: &Path, ca: &str, days: u32) -> (PathBuf, PathBuf, PathBuf) {
    let file = |name: &str| dir.join(format!("{ca}-{name}"));
    let openssl = |args: &[&str]| {
        let out = Command::new("openssl").args(args).output().unwrap();
        assert!(out.status.success(), "openssl {args:?}: {out:?}");
    };
    let ec = [
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
    ];
    let (ca_key, ca_pem) = (file("ca.key"), file("ca.pem"));
    let subject = format!("/CN={ca} certificate authority");
    let mut args = vec!["req", "-x509", "-days", "825", "-subj", &subject];
    args.extend(ec);
    args.extend(["-keyout", path(&ca_key), "-out", path(&ca_pem)]);
    args.extend(["-addext", "basicConstraints=critical,CA:TRUE"]);
    args.extend(["-addext", "keyUsage=critical,keyCertSign,cRLSign"]);
    openssl(&args);
    let (key, csr, cert, ext) = (file("hq.key"), file("hq.csr"), file("hq.pem"), file("ext"));
    let mut args = vec!["req", "-subj", "/CN=hq"];
    args.extend(ec);
    args.extend(["-keyout", path(&key), "-out", path(&csr)]);
    openssl(&args);
    std::fs::write(
        &ext,
        "subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\n\
         keyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\n",
    )
    .unwrap();
    let days = days.to_string();
    openssl(&[
        "x509",
        "-req",
        "-days",
        &days,
        "-in",
        path(&csr),
        "-CA",
        path(&ca_pem),
        "-CAkey",
        path(&ca_key),
        "-CAcreateserial",
        "-out",
        path(&cert),
        "-extfile",
        path(&ext),
    ]);
    (ca_pem, cert, key)
}

pub fn path(p: &Path) -> &str {
    p.to_str().unwrap()
}
