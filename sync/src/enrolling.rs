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
    /// Which enrolment it is for: a hash of the code.
    enrolment: String,
}

/// The enrolment with the code `code`, as an offer is kept for it: the code as
/// headquarters keeps it ([`keys::code_hash`]). Not headquarters' address, which a retry
/// may spell otherwise (its IP address for its name).
fn enrolment_of(code: &str) -> String {
    keys::code_hash(code)
}

impl Offer {
    /// The offer an earlier attempt kept in `dir` for the same code, else a new one, kept
    /// there (owner-only, on disk) before it is returned. Another code makes a new one: two
    /// devices enrolled with one actor would each pass for the other.
    pub fn kept_or_new(dir: &Path, code: &str) -> std::io::Result<Offer> {
        if let Some(kept) = Offer::kept_for(dir, code) {
            return Ok(kept);
        }
        let enrolment = enrolment_of(code);
        let offer = Offer {
            actor: ActorId::random(),
            signing_secret: keys::new_secret(),
            enrolment,
        };
        offer.keep(dir)?;
        Ok(offer)
    }

    /// The offer an earlier attempt kept in `dir` for the code `code`, if one is there.
    pub fn kept_for(dir: &Path, code: &str) -> Option<Offer> {
        let enrolment = enrolment_of(code);
        Offer::kept(dir).filter(|kept| kept.enrolment == enrolment)
    }

    /// The offer kept in `dir`, when one is there and whole.
    fn kept(dir: &Path) -> Option<Offer> {
        let text = std::fs::read_to_string(dir.join(FILE)).ok()?;
        let mut lines = text.lines();
        let actor = ActorId::try_from(lines.next()?).ok()?;
        let signing_secret = lines.next()?.to_string();
        let enrolment = lines.next()?.to_string();
        let secret_is_one =
            signing_secret.len() == 64 && signing_secret.bytes().all(|b| b.is_ascii_hexdigit());
        secret_is_one.then_some(Offer {
            actor,
            signing_secret,
            enrolment,
        })
    }

    fn keep(&self, dir: &Path) -> std::io::Result<()> {
        use std::os::unix::fs::PermissionsExt;
        std::fs::create_dir_all(dir)?;
        let mut file = tempfile::Builder::new()
            .prefix(".enrolling-")
            .permissions(std::fs::Permissions::from_mode(0o600))
            .tempfile_in(dir)?;
        let actor = self.actor.to_hex_string();
        writeln!(file, "{actor}\n{}\n{}", self.signing_secret, self.enrolment)?;
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

    /// [`Offer::forget`], a failure only said: one left behind is harmless (it makes a later
    /// enrolment with the same code offer the same actor, which headquarters takes).
    pub fn forget_or_warn(dir: &Path) {
        if let Err(e) = Offer::forget(dir) {
            eprintln!("warning: {} not removed: {e}", dir.join(FILE).display());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_retry_offers_what_the_first_attempt_offered_until_it_is_forgotten() {
        let dir = tempfile::tempdir().unwrap();
        let offer = |code: &str| Offer::kept_or_new(dir.path(), code).unwrap();
        let first = offer("ABCD-EFGH-JKMN");
        // The same code, however typed.
        let again = offer("abcd efgh jkmn");
        assert_eq!(first.actor, again.actor);
        assert_eq!(first.signing_secret, again.signing_secret);
        let mode = std::fs::metadata(dir.path().join(FILE)).unwrap();
        assert_eq!(
            std::os::unix::fs::PermissionsExt::mode(&mode.permissions()) & 0o777,
            0o600
        );
        // Another code (another device's): a new offer.
        let other = offer("PQRS-TUVW-XYZ2");
        assert_ne!(other.actor, first.actor);
        Offer::forget(dir.path()).unwrap();
        let next = offer("ABCD-EFGH-JKMN");
        assert_ne!(next.actor, first.actor);
        // A file cut short is not an offer: a new one is made.
        std::fs::write(dir.path().join(FILE), "abc\n").unwrap();
        let fresh = offer("ABCD-EFGH-JKMN");
        assert_ne!(fresh.actor, next.actor);
    }
}
