//! Channel credentials are encrypted at rest (XChaCha20-Poly1305) with a key from
//! configuration, and decrypted only into the gateway's memory.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use chacha20poly1305::aead::{Aead, AeadCore, KeyInit, OsRng};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};

const VERSION: &str = "v1:";
const NONCE_LEN: usize = 24;

#[derive(Debug, thiserror::Error)]
pub enum CredentialError {
    #[error("the credential key must be 32 bytes, base64-encoded")]
    BadKey,
    #[error("a stored credential cannot be decrypted with the configured key")]
    Undecryptable,
}

pub struct CredentialCipher {
    cipher: XChaCha20Poly1305,
}

impl std::fmt::Debug for CredentialCipher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CredentialCipher([redacted])")
    }
}

impl CredentialCipher {
    /// From a base64-encoded 32-byte key.
    pub fn from_base64(key: &str) -> Result<Self, CredentialError> {
        let bytes = STANDARD.decode(key.trim()).map_err(|_| CredentialError::BadKey)?;
        let cipher = XChaCha20Poly1305::new_from_slice(&bytes).map_err(|_| CredentialError::BadKey)?;
        Ok(CredentialCipher { cipher })
    }

    /// A fresh random key, base64-encoded (for the first start of an embedded install).
    pub fn generate_key() -> String {
        STANDARD.encode(XChaCha20Poly1305::generate_key(&mut OsRng))
    }

    pub fn encrypt(&self, plaintext: &str) -> String {
        let nonce = XChaCha20Poly1305::generate_nonce(&mut OsRng);
        let ciphertext = self.cipher.encrypt(&nonce, plaintext.as_bytes()).expect("encryption of a string cannot fail");
        let mut sealed = nonce.to_vec();
        sealed.extend_from_slice(&ciphertext);
        format!("{VERSION}{}", STANDARD.encode(sealed))
    }

    pub fn decrypt(&self, stored: &str) -> Result<String, CredentialError> {
        let sealed = stored
            .strip_prefix(VERSION)
            .and_then(|body| STANDARD.decode(body).ok())
            .filter(|sealed| sealed.len() > NONCE_LEN)
            .ok_or(CredentialError::Undecryptable)?;
        let (nonce, ciphertext) = sealed.split_at(NONCE_LEN);
        let plaintext =
            self.cipher.decrypt(XNonce::from_slice(nonce), ciphertext).map_err(|_| CredentialError::Undecryptable)?;
        String::from_utf8(plaintext).map_err(|_| CredentialError::Undecryptable)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_refuses_other_keys_and_tampering() {
        let cipher = CredentialCipher::from_base64(&CredentialCipher::generate_key()).unwrap();
        let sealed = cipher.encrypt("sk-upstream-secret");
        assert!(!sealed.contains("sk-upstream-secret"));
        assert_ne!(sealed, cipher.encrypt("sk-upstream-secret"), "a fresh nonce every time");
        assert_eq!(cipher.decrypt(&sealed).unwrap(), "sk-upstream-secret");

        let other = CredentialCipher::from_base64(&CredentialCipher::generate_key()).unwrap();
        assert!(other.decrypt(&sealed).is_err());
        let mut tampered = sealed.clone();
        tampered.pop();
        tampered.push(if sealed.ends_with('A') { 'B' } else { 'A' });
        assert!(cipher.decrypt(&tampered).is_err());
        assert!(CredentialCipher::from_base64("too short").is_err());
    }
}
