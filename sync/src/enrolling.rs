//! What an enrolment offers headquarters, kept in the device's data directory before the
//! request goes out. Headquarters takes a spent code again from the actor it was spent by (a
//! device whose answer never came); a device that made a new actor for its retry would find
//! its code spent, and its device code enrolled already (`hq add-device` refusing a new
//! code until it is revoked). So a retry offers what the first attempt offered.

use std::io::Write;
use std::path::Path;

use crate::{keys, ActorId};

/// The file in the data directory that holds the offer until the enrolment is kept.
pub const FILE: &str = "enrolling";

/// An enrolment's offer: the actor the device will write with, and the secret of the
/// signing key it offers (a till's; a hub offers none and ignores it).
pub struct Offer {
    pub actor: ActorId,
    pub signing_secret: String,
}

impl Offer {
    /// The offer an earlier attempt kept in `dir`, else a new one, kept there (owner-only,
    /// on disk) before it is returned.
    pub fn kept_or_new(dir: &Path) -> std::io::Result<Offer> {
        if let Some(kept) = Offer::kept(dir) {
            return Ok(kept);
        }
        let offer = Offer {
            actor: ActorId::random(),
            signing_secret: keys::new_secret(),
        };
        offer.keep(dir)?;
        Ok(offer)
    }

    /// The offer kept in `dir`, when one is there and whole.
    fn kept(dir: &Path) -> Option<Offer> {
        let text = std::fs::read_to_string(dir.join(FILE)).ok()?;
        let mut lines = text.lines();
        let actor = ActorId::try_from(lines.next()?).ok()?;
        let signing_secret = lines.next()?.to_string();
        let secret_is_one =
            signing_secret.len() == 64 && signing_secret.bytes().all(|b| b.is_ascii_hexdigit());
        secret_is_one.then_some(Offer {
            actor,
            signing_secret,
        })
    }

    fn keep(&self, dir: &Path) -> std::io::Result<()> {
        use std::os::unix::fs::PermissionsExt;
        std::fs::create_dir_all(dir)?;
        let mut file = tempfile::Builder::new()
            .prefix(".enrolling-")
            .permissions(std::fs::Permissions::from_mode(0o600))
            .tempfile_in(dir)?;
        writeln!(
            file,
            "{}\n{}",
            self.actor.to_hex_string(),
            self.signing_secret
        )?;
        file.as_file().sync_all()?;
        file.persist(dir.join(FILE)).map_err(|e| e.error)?;
        std::fs::File::open(dir)?.sync_all()
    }

    /// Forgets the offer kept in `dir`: the enrolment is kept.
    pub fn forget(dir: &Path) -> std::io::Result<()> {
        match std::fs::remove_file(dir.join(FILE)) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_retry_offers_what_the_first_attempt_offered_until_it_is_forgotten() {
        let dir = tempfile::tempdir().unwrap();
        let first = Offer::kept_or_new(dir.path()).unwrap();
        let again = Offer::kept_or_new(dir.path()).unwrap();
        assert_eq!(first.actor, again.actor);
        assert_eq!(first.signing_secret, again.signing_secret);
        let mode = std::fs::metadata(dir.path().join(FILE)).unwrap();
        assert_eq!(
            std::os::unix::fs::PermissionsExt::mode(&mode.permissions()) & 0o777,
            0o600
        );
        Offer::forget(dir.path()).unwrap();
        let next = Offer::kept_or_new(dir.path()).unwrap();
        assert_ne!(next.actor, first.actor);
        // A file cut short is not an offer: a new one is made.
        std::fs::write(dir.path().join(FILE), "abc\n").unwrap();
        let fresh = Offer::kept_or_new(dir.path()).unwrap();
        assert_ne!(fresh.actor, next.actor);
    }
}
