//! Bearer secrets of the form `<kind>-<public id>-<secret>`.
//!
//! The public id is stored in clear for lookup and display; only a SHA-256 of the
//! secret part is stored, compared in constant time. Used by management tokens
//! (`tgm-`) and API keys (`tg-`).

use rand::distributions::Alphanumeric;
use rand::Rng;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

const PUBLIC_ID_LEN: usize = 12;
const SECRET_LEN: usize = 40;

/// A freshly issued secret: `full` is shown once and never stored.
pub struct Issued {
    pub public_id: String,
    pub secret_hash: String,
    pub full: String,
}

fn random_alphanumeric(len: usize) -> String {
    rand::thread_rng().sample_iter(&Alphanumeric).take(len).map(char::from).collect()
}

pub fn issue(kind: &str) -> Issued {
    let public_id = random_alphanumeric(PUBLIC_ID_LEN).to_lowercase();
    let secret = random_alphanumeric(SECRET_LEN);
    Issued { secret_hash: hash(&secret), full: format!("{kind}-{public_id}-{secret}"), public_id }
}

/// Splits a presented token into its public id and secret, if it has the kind's shape.
pub fn parse<'a>(kind: &str, token: &'a str) -> Option<(&'a str, &'a str)> {
    let rest = token.strip_prefix(kind)?.strip_prefix('-')?;
    let (public_id, secret) = rest.split_once('-')?;
    let well_formed = public_id.len() == PUBLIC_ID_LEN
        && secret.len() == SECRET_LEN
        && public_id.bytes().all(|b| b.is_ascii_alphanumeric())
        && secret.bytes().all(|b| b.is_ascii_alphanumeric());
    well_formed.then_some((public_id, secret))
}

pub fn hash(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

pub fn matches(secret: &str, stored_hash: &str) -> bool {
    hash(secret).as_bytes().ct_eq(stored_hash.as_bytes()).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn issued_secret_parses_back_and_matches_only_its_hash() {
        let issued = issue("tgm");
        let (public_id, secret) = parse("tgm", &issued.full).expect("well-formed");
        assert_eq!(public_id, issued.public_id);
        assert!(matches(secret, &issued.secret_hash));
        assert!(!matches("x", &issued.secret_hash));
        assert!(parse("tg", &issued.full).is_none(), "kind is part of the format");
    }

    #[test]
    fn malformed_tokens_are_refused() {
        for token in
            ["", "tgm", "tgm-", "tgm-abc-def", "tgm-aaaaaaaaaaaa-short", "tgm-aaaaaaaaaaa!-".to_owned().as_str()]
        {
            assert!(parse("tgm", token).is_none(), "{token:?}");
        }
    }
}
