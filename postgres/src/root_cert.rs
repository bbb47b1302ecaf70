//! An address's `sslrootcert` setting, which tokio-postgres does not read: taken out before
//! the address is parsed, for connecting ([`crate::tls`]) and for showing it
//! ([`crate::password::shown`]).

/// `url` without its `sslrootcert` setting, and that setting's file.
pub(crate) fn take_root_cert(url: &str) -> (String, Option<String>) {
    if url.contains("://") {
        let Some((base, query)) = url.split_once('?') else {
            return (url.to_string(), None);
        };
        let (kept, file) = without_root_cert(query.split('&'));
        let url = if kept.is_empty() {
            base.to_string()
        } else {
            format!("{base}?{}", kept.join("&"))
        };
        (url, file)
    } else {
        let (kept, file) = without_root_cert(url.split_whitespace());
        (kept.join(" "), file)
    }
}

/// The settings (`key=value`) but `sslrootcert`, and its value.
fn without_root_cert<'a>(
    settings: impl Iterator<Item = &'a str>,
) -> (Vec<&'a str>, Option<String>) {
    let mut file = None;
    let kept = settings
        .filter(|setting| match setting.strip_prefix("sslrootcert=") {
            Some(value) => {
                file = Some(value.to_string());
                false
            }
            None => true,
        })
        .collect();
    (kept, file)
}

#[cfg(test)]
mod tests {
    use super::take_root_cert;

    #[test]
    fn the_root_certificate_is_taken_out_of_either_form_of_address() {
        assert_eq!(
            take_root_cert("postgres://u@h:5/db?sslmode=require&sslrootcert=/ca.pem"),
            (
                "postgres://u@h:5/db?sslmode=require".into(),
                Some("/ca.pem".into())
            )
        );
        assert_eq!(
            take_root_cert("postgres://u@h:5/db?sslrootcert=ca.pem"),
            ("postgres://u@h:5/db".into(), Some("ca.pem".into()))
        );
        assert_eq!(
            take_root_cert("host=h sslrootcert=/ca.pem sslmode=require"),
            ("host=h sslmode=require".into(), Some("/ca.pem".into()))
        );
        assert_eq!(
            take_root_cert("postgres://u@h/db"),
            ("postgres://u@h/db".into(), None)
        );
    }
}
