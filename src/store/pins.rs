//! PINs at the till: the lead PIN (voids, refunds, leaving the kiosk) and sellers' own PINs
//! for signing in, kept as argon2 hashes. Till-local secrets: they never travel in a ledger.

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use fairpos_domain::DomainError;
use rusqlite::{params, OptionalExtension};

use super::Store;
use crate::error::{Error, Result};

/// The fewest digits a PIN has.
pub const PIN_SHORTEST: usize = 4;

/// Refuses a PIN of other than 4 to 12 digits.
pub(crate) fn check_pin(pin: &str) -> Result<()> {
    if (PIN_SHORTEST..=12).contains(&pin.len()) && pin.bytes().all(|b| b.is_ascii_digit()) {
        Ok(())
    } else {
        Err(DomainError::BadPin.into())
    }
}

impl Store {
    /// Checks a seller's PIN for signing in: their own when they have one, else the lead PIN
    /// (a lead signs a volunteer in).
    pub fn check_seller_pin(&self, seller: &str, pin: &str) -> Result<()> {
        let own: Option<String> = self
            .conn
            .query_row(
                "SELECT pin_hash FROM seller_pins WHERE seller = ?1",
                [seller],
                |r| r.get(0),
            )
            .optional()?;
        match own {
            Some(stored) => verify_pin(&stored, pin),
            None => self.check_lead_pin(pin),
        }
    }

    /// Gives `seller` a PIN of their own (the lead PIN allows it).
    pub fn set_seller_pin(&mut self, seller: &str, pin: &str, lead_pin: &str) -> Result<()> {
        self.check_lead_pin(lead_pin)?;
        if !self.state.sellers.contains_key(seller) {
            return Err(DomainError::UnknownSeller {
                id: seller.to_string(),
            }
            .into());
        }
        check_pin(pin)?;
        self.conn.execute(
            "INSERT INTO seller_pins(seller, pin_hash) VALUES (?1, ?2)
             ON CONFLICT(seller) DO UPDATE SET pin_hash = excluded.pin_hash",
            params![seller, hash_pin(pin)?],
        )?;
        Ok(())
    }

    /// Checks the lead PIN.
    pub fn check_lead_pin(&self, pin: &str) -> Result<()> {
        let stored = self
            .meta("lead_pin_hash")?
            .ok_or_else(|| Error::Integrity("the lead PIN is missing".into()))?;
        verify_pin(&stored, pin)
    }
}

pub(super) fn hash_pin(pin: &str) -> Result<String> {
    let salt = SaltString::encode_b64(&rand::random::<[u8; 16]>())
        .map_err(|e| Error::Other(format!("cannot make a salt: {e}")))?;
    Ok(Argon2::default()
        .hash_password(pin.as_bytes(), &salt)
        .map_err(|e| Error::Other(format!("cannot hash the PIN: {e}")))?
        .to_string())
}

fn verify_pin(stored: &str, pin: &str) -> Result<()> {
    let hash =
        PasswordHash::new(stored).map_err(|e| Error::Integrity(format!("a stored PIN: {e}")))?;
    Argon2::default()
        .verify_password(pin.as_bytes(), &hash)
        .map_err(|_| Error::Domain(DomainError::WrongPin))
}
