//! Enrolment: a till takes its identity, secret and catalog from headquarters with a
//! one-time code (`enroll`), or a new secret for the identity it has (`enroll_again`).
//! What headquarters grants is checked before anything is kept.

use std::path::Path;
use std::time::Duration;

use fairpos_sync::catalog::CatalogDoc;
use fairpos_sync::client::HqClient;
use fairpos_sync::enrolling::{self, Offer};
use fairpos_sync::keys;
use fairpos_sync::protocol::{EnrollRequest, EnrollResponse, EnrolledAs, ROLE_TILL};
use fairpos_sync::tls::Trust;

use super::{runtime, store_catalog, trust, META_HQ, META_HQ_CA};
use crate::error::{Error, Result};
use crate::store::{InitOptions, DB_FILE, SIGNING_SECRET};
use crate::till::Till;

/// Turns an empty data directory into a till enrolled with headquarters at `hq`, trusting
/// `trust` under `https://` then and at every later sync.
pub fn enroll(dir: &Path, hq: &str, code: &str, lead_pin: &str, trust: &Trust) -> Result<Till> {
    if dir.join(DB_FILE).exists() {
        return Err(Error::input(format!(
            "{} already holds a till: enrol into an empty --data directory, or enrol this \
             till again with --again (it keeps its sales)",
            dir.display()
        )));
    }
    if dir.join(fairpos_hq::HQ_DB).exists() {
        return Err(Error::input(format!(
            "{} already holds headquarters: enrol into an empty --data directory",
            dir.display()
        )));
    }
    // Checked before headquarters is asked: a PIN the till refuses once the code is taken
    // left the code used and nothing here.
    crate::store::check_pin(lead_pin)?;
    let client = HqClient::new(hq, trust)?;
    let offer = Offer::kept_or_new(dir, code).map_err(|source| Error::Io {
        path: dir.join(enrolling::FILE),
        source,
    })?;
    let (actor, signing) = (offer.actor, offer.signing_secret);
    let request = EnrollRequest {
        code: code.to_string(),
        actor: actor.to_hex_string(),
        again: None,
        signing_key: Some(keys::public_key(&signing)),
        role: Some(ROLE_TILL.to_string()),
    };
    let response = runtime()?.block_on(client.enroll(&request, ENROL_LIMIT))?;
    check_till_code(&response)?;
    // Read whole before anything is kept: a catalog the till cannot store would leave a
    // directory set up, and the code spent, for nothing.
    let catalog = response.catalog_bytes()?;
    let fair = fairpos_domain::fair::Fair::from_toml(&response.fair_toml)?;
    CatalogDoc::load(&response.catalog_key, &fair.id, &catalog)?.contents_for_a_till()?;
    let mut till = Till::init(
        dir,
        &InitOptions {
            fair_toml: &response.fair_toml,
            device: &response.device,
            stall: &response.stall,
            lead_pin,
            actor: Some(actor),
        },
    )?;
    keep_grant(&mut till, &client, trust, &request, &response, &signing)?;
    store_catalog(&mut till, &response.catalog_key, &catalog)?;
    Offer::forget_or_warn(dir);
    Ok(till)
}

/// Keeps what headquarters granted at an enrolment: its address, the secret (and the signing
/// key `signing` offered, when headquarters keeps it), and the certificate authority `trust`
/// was given, if any.
fn keep_grant(
    till: &mut Till,
    client: &HqClient,
    trust: &Trust,
    request: &EnrollRequest,
    response: &EnrollResponse,
    signing: &str,
) -> Result<()> {
    let store = till.store_mut();
    store.set_meta(META_HQ, client.base())?;
    store.keep_credentials(&response.secret, kept_signing(request, response, signing))?;
    store.forget_meta(OFFERED_SIGNING_SECRET)?;
    if let Some(ca) = trust.ca_pem() {
        store.set_meta(META_HQ_CA, ca)?;
    }
    Ok(())
}

/// The `meta` key of a signing key's secret made for `enroll --again` and offered, kept
/// aside until headquarters grants it (a till signs with it only then).
const OFFERED_SIGNING_SECRET: &str = "offered_signing_secret";

/// The secret of the signing key `request` offered, when headquarters' `response` says it
/// keeps that key; `None` when it kept another or says nothing (an older headquarters,
/// which keeps the key the device secret derives).
fn kept_signing<'s>(
    request: &EnrollRequest,
    response: &EnrollResponse,
    secret: &'s str,
) -> Option<&'s str> {
    let offered = request.signing_key.as_ref()?;
    (response.signing_key.as_ref() == Some(offered)).then_some(secret)
}

/// How long an enrolment may take.
const ENROL_LIMIT: Duration = Duration::from_secs(20);

/// Checks what headquarters granted before anything is kept: a till's code, a secret of the
/// form headquarters makes (one with a line break in it would fail every sync after), a
/// device code and a stall that can be printed.
fn check_till_code(response: &EnrollResponse) -> Result<()> {
    if response.role == fairpos_sync::protocol::ROLE_HUB {
        return Err(Error::input(
            "this code enrols a hub: use `fairpos --data DIR hq enroll --hq URL --code CODE`",
        ));
    }
    let stall_is_one = crate::store::is_a_stall_code(&response.stall);
    if response.role != ROLE_TILL || !response.secret_and_device_are_ones() || !stall_is_one {
        return Err(Error::Other(
            "headquarters' answer to the enrolment is not one it gives (a role, secret, device \
             or stall of another form): nothing was kept"
                .into(),
        ));
    }
    Ok(())
}

/// Enrols the till in `dir` again, with a new code headquarters at `hq` gave for the same
/// device: after headquarters was restored from a backup older than the till's enrolment,
/// or the device was revoked and added again. The till keeps its sales, its ledgers and the
/// actor they are written with, and takes the new secret (and `hq` as its headquarters,
/// trusting the certificate authority `ca` (PEM) under `https://`, else the one it was
/// given before). Headquarters refuses, the code unused, a code for another device or a
/// headquarters of another fair; the lead PIN is asked for.
pub fn enroll_again(
    dir: &Path,
    hq: &str,
    code: &str,
    lead_pin: &str,
    ca: Option<&str>,
) -> Result<Till> {
    let mut till = Till::open(dir)?;
    till.store().check_lead_pin(lead_pin)?;
    let identity = till.store().identity().clone();
    let trust = match ca {
        Some(pem) => Trust::with_ca(Some(pem))?,
        None => trust(till.reader()?)?,
    };
    let client = HqClient::new(hq, &trust)?;
    let again = EnrolledAs {
        fair: identity.fair.id.clone(),
        device: identity.device.to_string(),
    };
    // The signing key made at the first enrolment, kept (headquarters may have lost it
    // with a restore); for a till enrolled before there were any, or at a headquarters that
    // kept none, one made now and kept aside before it is offered, so that a retry (the
    // answer lost) offers it again: headquarters lets a code be taken again only with the
    // key it was taken with.
    // A first enrolment stopped after the till was made and before the grant was kept (a
    // crash, a full disk) left the offer it made for the code, headquarters holding its key.
    let first_offer = Offer::kept_for(dir, code).filter(|o| o.actor == identity.actor);
    let signing = if let Some(secret) = till.store().meta(SIGNING_SECRET)? {
        secret
    } else if let Some(offered) = till.store().meta(OFFERED_SIGNING_SECRET)? {
        offered
    } else if let Some(first) = first_offer {
        first.signing_secret
    } else {
        let made = keys::new_secret();
        till.store_mut().set_meta(OFFERED_SIGNING_SECRET, &made)?;
        made
    };
    let request = EnrollRequest {
        code: code.to_string(),
        actor: identity.actor.to_hex_string(),
        again: Some(again.clone()),
        signing_key: Some(keys::public_key(&signing)),
        role: Some(ROLE_TILL.to_string()),
    };
    let response = runtime()?.block_on(client.enroll(&request, ENROL_LIMIT))?;
    check_till_code(&response)?;
    let device = &response.device;
    if !response.grants(&again)? {
        return Err(Error::input(format!(
            "headquarters enrolled that code as {device}, and this till is {} of fair {}: \
             nothing was changed here; ask for {device} to be revoked and for a code for {}",
            identity.device, identity.fair.id, identity.device
        )));
    }
    if response.stall != identity.stall {
        eprintln!(
            "warning: headquarters places {device} at stall {}; this till stays at stall {} \
             (its sales say so)",
            response.stall, identity.stall
        );
    }
    // The catalog stays as the till has it: its next sync merges headquarters' in.
    keep_grant(&mut till, &client, &trust, &request, &response, &signing)?;
    // What the headquarters of before confirmed is not this one's to say (one restored from
    // an older backup holds less): "unconfirmed 0" until a pass here says otherwise.
    till.store_mut().write(|w| {
        w.conn().execute("DELETE FROM sync_docs", [])?;
        Ok(())
    })?;
    Offer::forget_or_warn(dir);
    Ok(till)
}

#[cfg(test)]
mod tests {
    use super::*;
    use fairpos_sync::ActorId;

    fn request(signing_key: Option<&str>) -> EnrollRequest {
        EnrollRequest {
            code: "CODE".into(),
            actor: "actor".into(),
            again: None,
            signing_key: signing_key.map(str::to_string),
            role: Some(ROLE_TILL.into()),
        }
    }

    fn response(signing_key: Option<&str>) -> EnrollResponse {
        EnrollResponse {
            device: "T01".into(),
            stall: "S01".into(),
            role: "till".into(),
            secret: "s".into(),
            fair_toml: String::new(),
            catalog_key: String::new(),
            catalog: String::new(),
            signing_key: signing_key.map(str::to_string),
        }
    }

    #[test]
    fn only_a_tills_grant_with_a_secret_of_headquarters_form_is_kept() {
        let granted = |role: &str, secret: &str| {
            let mut r = response(None);
            (r.role, r.secret) = (role.into(), secret.into());
            check_till_code(&r)
        };
        assert!(granted("till", &keys::new_secret()).is_ok());
        let hub = granted("hub", &keys::new_secret()).unwrap_err().to_string();
        assert!(hub.contains("this code enrols a hub"), "{hub}");
        for (role, secret) in [
            ("admin", "a".repeat(64)),
            ("till", format!("{}\r\n", "a".repeat(64))),
        ] {
            let refused = granted(role, &secret).unwrap_err().to_string();
            assert!(refused.contains("nothing was kept"), "{refused}");
        }
        let at_stall = |stall: &str| {
            let mut r = response(None);
            (r.secret, r.stall) = (keys::new_secret(), stall.into());
            check_till_code(&r)
        };
        assert!(at_stall("S01").is_ok());
        assert!(at_stall("助农馆-东区 3").is_ok());
        for stall in [
            String::new(),
            " ".into(),
            "S01\x1b[2J".into(),
            "S".repeat(301),
        ] {
            let refused = at_stall(&stall).unwrap_err().to_string();
            assert!(refused.contains("nothing was kept"), "{refused}");
        }
        let mut as_device = response(None);
        (as_device.secret, as_device.device) = (keys::new_secret(), "T01\n".into());
        assert!(check_till_code(&as_device).is_err());
    }

    /// A headquarters on 127.0.0.1 that answers each request with the next of `answers`
    /// (200, JSON), then stops; its address.
    fn answering(answers: Vec<EnrollResponse>) -> String {
        use std::io::{BufRead, BufReader, Read, Write};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        std::thread::spawn(move || {
            for answer in answers {
                let (stream, _) = listener.accept().unwrap();
                let mut reader = BufReader::new(stream);
                let mut length = 0;
                loop {
                    let mut line = String::new();
                    reader.read_line(&mut line).unwrap();
                    let lower = line.to_ascii_lowercase();
                    if let Some(n) = lower.strip_prefix("content-length:") {
                        length = n.trim().parse().unwrap();
                    }
                    if line.trim_end().is_empty() {
                        break;
                    }
                }
                reader.read_exact(&mut vec![0; length]).unwrap();
                let body = serde_json::to_string(&answer).unwrap();
                let head = format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n\
                     content-length: {}\r\nconnection: close\r\n\r\n",
                    body.len()
                );
                let mut stream = reader.into_inner();
                stream.write_all(head.as_bytes()).unwrap();
                stream.write_all(body.as_bytes()).unwrap();
            }
        });
        url
    }

    /// A grant of T01 at stall S01 of the demo fair, with `catalog` as its catalog.
    fn granted_with(catalog: &[u8]) -> EnrollResponse {
        let fair = fairpos_domain::fair::Fair::from_toml(fairpos_domain::demo::FAIR_TOML).unwrap();
        EnrollResponse {
            secret: keys::new_secret(),
            fair_toml: fairpos_domain::demo::FAIR_TOML.into(),
            catalog_key: fairpos_sync::ids::catalog_key(&fair.id),
            catalog: EnrollResponse::encode_catalog(catalog),
            ..response(None)
        }
    }

    /// A catalog the till cannot read (or larger than a till takes), in headquarters' answer
    /// to an enrolment, is refused before anything is kept: the directory stays empty
    /// (before 7928149 it was left set up). The same answer with the fair's catalog enrols.
    #[test]
    fn an_enrolment_whose_catalog_cannot_be_read_keeps_nothing() {
        let fair = fairpos_domain::fair::Fair::from_toml(fairpos_domain::demo::FAIR_TOML).unwrap();
        let key = fairpos_sync::ids::catalog_key(&fair.id);
        let of_another_fair = CatalogDoc::create(&key, "another-fair", ActorId::random())
            .unwrap()
            .save();
        let of_the_fair = CatalogDoc::create(&key, &fair.id, ActorId::random())
            .unwrap()
            .save();
        let mut too_long = CatalogDoc::create(&key, &fair.id, ActorId::random()).unwrap();
        let named_at_length = fairpos_sync::catalog::CatalogProduct {
            sku: "LONG-1".into(),
            name_zh: "长".repeat(fairpos_domain::catalog::LONGEST_FIELD + 1),
            unit: "个".into(),
            ..Default::default()
        };
        too_long.put(&[named_at_length], 0).unwrap();
        let hq = answering(vec![
            granted_with(b"not an automerge document"),
            granted_with(&of_another_fair),
            granted_with(&too_long.save()),
            granted_with(&of_the_fair),
        ]);
        let trust = Trust::with_ca(None).unwrap();
        for told in [
            ": unable to parse chunk",
            "a catalog of another fair",
            "`name_zh` is 301 characters; a till takes at most 300",
        ] {
            let dir = tempfile::tempdir().unwrap();
            let err = match enroll(dir.path(), &hq, "CODE", "1357", &trust) {
                Ok(_) => panic!("an enrolment with a catalog the till cannot read was kept"),
                Err(e) => e.to_string(),
            };
            assert!(err.contains(told), "{err}");
            // Nothing kept but the offer, which the retry makes again.
            let left: Vec<_> = std::fs::read_dir(dir.path())
                .unwrap()
                .map(|e| e.unwrap().file_name())
                .collect();
            assert_eq!(left, [enrolling::FILE], "nothing kept");
        }
        let dir = tempfile::tempdir().unwrap();
        let till = enroll(dir.path(), &hq, "CODE", "1357", &trust).unwrap();
        assert_eq!(till.store().identity().device.to_string(), "T01");
        assert!(dir.path().join(DB_FILE).exists());
    }

    #[test]
    fn the_signing_key_is_kept_only_when_headquarters_says_it_keeps_it() {
        let secret = keys::new_secret();
        let offered = keys::public_key(&secret);
        let kept = |req, resp| kept_signing(&request(req), &response(resp), &secret).is_some();
        assert!(kept(Some(&offered), Some(&offered)));
        // An older headquarters says nothing of it: it keeps the key the secret derives.
        assert!(!kept(Some(&offered), None));
        // Another key said back, or none offered.
        let another = keys::public_key(&keys::new_secret());
        assert!(!kept(Some(&offered), Some(&another)));
        assert!(!kept(None, None));
        // Headquarters' answer as an older one sends it, without the field.
        let older = r#"{"device":"T01","stall":"S01","role":"till","secret":"s",
            "fair_toml":"","catalog_key":"","catalog":""}"#;
        let older: EnrollResponse = serde_json::from_str(older).unwrap();
        assert_eq!(
            kept_signing(&request(Some(&offered)), &older, &secret),
            None
        );
    }
}
