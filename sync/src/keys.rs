//! What a device proves itself with. Headquarters gives each device a long random secret at
//! enrolment and keeps only its SHA-256. The device's signing key (Ed25519) is derived from
//! the same secret; headquarters keeps the public half, and checks bundles with it.

use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};
use sha2::{Digest, Sha256};

/// A new secret: 32 random bytes, hex.
pub fn new_secret() -> String {
    let bytes: [u8; 32] = rand_bytes();
    hex(&bytes)
}

/// 256 bits from the operating system's random source (`getrandom(2)` on Linux).
fn rand_bytes() -> [u8; 32] {
    let mut out = [0u8; 32];
    // Without the kernel's randomness no secret can be made safely: stopping is right.
    getrandom::fill(&mut out).expect("the operating system's random source failed");
    out
}

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The bytes of `text` as [`hex`] writes them: lower-case digits only. Upper case, or a
/// sign (which `from_str_radix` takes), is refused: one signature written two ways was two
/// slips, and the second taken for the till signing a different slip.
pub fn unhex(text: &str) -> Option<Vec<u8>> {
    fn nibble(c: u8) -> Option<u8> {
        match c {
            b'0'..=b'9' => Some(c - b'0'),
            b'a'..=b'f' => Some(c - b'a' + 10),
            _ => None,
        }
    }
    let bytes = text.as_bytes();
    if !bytes.len().is_multiple_of(2) {
        return None;
    }
    bytes
        .chunks(2)
        .map(|pair| Some(nibble(pair[0])? << 4 | nibble(pair[1])?))
        .collect()
}

/// What headquarters keeps of a one-time enrolment code, however it was typed (case, dashes
/// and spaces aside): a device's kept enrolment offer is keyed by it too.
pub fn code_hash(code: &str) -> String {
    let code: String = code
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .map(|c| c.to_ascii_uppercase())
        .collect();
    secret_hash(&code)
}

/// What headquarters stores of a secret.
pub fn secret_hash(secret: &str) -> String {
    hex(&Sha256::digest(secret.as_bytes()))
}

/// Whether two secrets are the same, compared through their hashes so that the time taken
/// says nothing about where they differ.
pub fn same_secret(a: &str, b: &str) -> bool {
    Sha256::digest(a.as_bytes()) == Sha256::digest(b.as_bytes())
}

fn signing_key(secret: &str) -> SigningKey {
    let seed = Sha256::new()
        .chain_update(b"fairpos-signing-key:")
        .chain_update(secret.as_bytes())
        .finalize();
    let mut bytes = [0u8; 32];
    bytes.copy_from_slice(&seed);
    SigningKey::from_bytes(&bytes)
}

/// The public key of the device holding `secret`, hex.
pub fn public_key(secret: &str) -> String {
    hex(signing_key(secret).verifying_key().as_bytes())
}

/// The key `text` (hex) spells, if it spells one.
fn verifying_key(text: &str) -> Option<VerifyingKey> {
    let bytes = <[u8; 32]>::try_from(unhex(text)?).ok()?;
    VerifyingKey::from_bytes(&bytes).ok()
}

/// Whether `text` is a public key (hex) a signature can be checked against.
pub fn is_public_key(text: &str) -> bool {
    // A weak (small-order) key would let anyone make signatures that verify.
    verifying_key(text).is_some_and(|k| !k.is_weak())
}

/// Signs `message`; hex.
pub fn sign(secret: &str, message: &[u8]) -> String {
    hex(&signing_key(secret).sign(message).to_bytes())
}

/// Whether `signature` (hex) is the holder of `public_key` (hex) signing `message`.
pub fn verify(public_key: &str, message: &[u8], signature: &str) -> bool {
    let Some(key) = verifying_key(public_key) else {
        return false;
    };
    let Some(sig) = unhex(signature).and_then(|b| <[u8; 64]>::try_from(b).ok()) else {
        return false;
    };
    key.verify_strict(message, &Signature::from_bytes(&sig))
        .is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_verify_with_the_public_key_only() {
        let secret = new_secret();
        assert_eq!(secret.len(), 64);
        let pk = public_key(&secret);
        let sig = sign(&secret, b"bundle");
        assert!(verify(&pk, b"bundle", &sig));
        assert!(!verify(&pk, b"bundlE", &sig));
        assert!(!verify(&public_key(&new_secret()), b"bundle", &sig));
        assert_eq!(unhex(&hex(&[0, 255, 16])), Some(vec![0, 255, 16]));
        for other in ["00FF10", "+a", "0g", "abc"] {
            assert_eq!(unhex(other), None, "{other}");
        }
    }

    #[test]
    fn a_public_key_is_32_bytes_of_a_curve_point() {
        assert!(is_public_key(&public_key(&new_secret())));
        for not_one in [
            "",
            "00",
            &"zz".repeat(32),
            &"00".repeat(33),
            &new_secret()[..62],
        ] {
            assert!(!is_public_key(not_one), "{not_one}");
        }
        // 32 bytes that are no point's encoding (y = 2 has no x on the curve).
        let mut off_curve = [0u8; 32];
        off_curve[0] = 2;
        assert!(!is_public_key(&hex(&off_curve)));
        // The identity, a point of small order: with it R = identity and s = 0 would
        // verify for any message.
        let mut identity = [0u8; 32];
        identity[0] = 1;
        assert!(!is_public_key(&hex(&identity)));
    }
}
