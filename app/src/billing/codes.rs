//! Redemption codes, `TG-XXXX-XXXX-XXXX-XXXX`: 16 characters of Crockford's base32 (80
//! random bits), so they can be read aloud and typed. Only a SHA-256 of the code is
//! stored, with a hint of its last characters for display.

use crate::clock::now_ms;
use crate::db::Db;
use crate::error::AppError;
use crate::secrets;
use rand::Rng;
use sqlx::AnyConnection;

const PREFIX: &str = "TG";
const ALPHABET: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";
const GROUP_LEN: usize = 4;
const BODY_LEN: usize = 4 * GROUP_LEN;

/// A freshly made code: `code` is shown once and never stored.
pub struct IssuedCode {
    pub code: String,
    pub hash: String,
    pub hint: String,
}

pub fn issue() -> IssuedCode {
    let mut rng = rand::thread_rng();
    let body: String = (0..BODY_LEN).map(|_| char::from(ALPHABET[rng.gen_range(0..ALPHABET.len())])).collect();
    let groups: Vec<&str> = (0..BODY_LEN).step_by(GROUP_LEN).map(|start| &body[start..start + GROUP_LEN]).collect();
    IssuedCode {
        code: format!("{PREFIX}-{}", groups.join("-")),
        hash: secrets::hash(&body),
        hint: format!("{PREFIX}-…-{}", &body[BODY_LEN - GROUP_LEN..]),
    }
}

/// The stored hash of a code as a person typed it, or `None` if it cannot be one of ours.
/// Case, dashes and spaces do not matter; O, I and L read as 0, 1 and 1, as in base32.
pub fn hash_of_typed(typed: &str) -> Option<String> {
    let compact: String =
        typed.chars().filter(|c| !c.is_whitespace() && *c != '-').map(|c| c.to_ascii_uppercase()).collect();
    let body: String = compact
        .strip_prefix(PREFIX)?
        .chars()
        .map(|c| match c {
            'O' => '0',
            'I' | 'L' => '1',
            other => other,
        })
        .collect();
    let well_formed = body.len() == BODY_LEN && body.bytes().all(|b| ALPHABET.contains(&b));
    well_formed.then(|| secrets::hash(&body))
}

pub async fn insert(
    conn: &mut AnyConnection,
    codes: &[IssuedCode],
    amount: i64,
    expires_at: Option<i64>,
    created_by: &str,
) -> Result<(), sqlx::Error> {
    let now = now_ms();
    for code in codes {
        sqlx::query(
            "INSERT INTO redemption_codes (code_hash, code_hint, amount, expires_at, created_by, created_at)
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(&code.hash)
        .bind(&code.hint)
        .bind(amount)
        .bind(expires_at)
        .bind(created_by)
        .bind(now)
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}

/// A code claimed for an account: what it is worth and how to show it.
pub struct Claimed {
    pub amount: i64,
    pub hint: String,
}

/// Marks the code redeemed by the account if it is unused and unexpired. One conditional
/// UPDATE, so of any number of concurrent claims exactly one succeeds.
pub async fn claim(conn: &mut AnyConnection, hash: &str, account_id: &str) -> Result<Option<Claimed>, sqlx::Error> {
    let claimed: Option<(i64, String)> = sqlx::query_as(
        "UPDATE redemption_codes SET redeemed_by = $1, redeemed_at = $2
         WHERE code_hash = $3 AND redeemed_at IS NULL AND (expires_at IS NULL OR expires_at > $2)
         RETURNING amount, code_hint",
    )
    .bind(account_id)
    .bind(now_ms())
    .bind(hash)
    .fetch_optional(conn)
    .await?;
    Ok(claimed.map(|(amount, hint)| Claimed { amount, hint }))
}

/// Why a code could not be claimed: unknown, already used, or expired.
pub async fn refusal(db: &Db, hash: &str) -> Result<AppError, AppError> {
    let state: Option<(Option<i64>,)> = sqlx::query_as("SELECT redeemed_at FROM redemption_codes WHERE code_hash = $1")
        .bind(hash)
        .fetch_optional(db.pool())
        .await?;
    Ok(match state {
        None => AppError::UnknownRedemptionCode,
        Some((Some(_),)) => AppError::RedemptionCodeUsed,
        Some((None,)) => AppError::RedemptionCodeExpired,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_issued_code_hashes_back_however_it_is_typed() {
        let issued = issue();
        assert_eq!(issued.code.len(), "TG-XXXX-XXXX-XXXX-XXXX".len());
        assert!(issued.hint.ends_with(&issued.code[issued.code.len() - GROUP_LEN..]));
        assert_eq!(hash_of_typed(&issued.code).as_deref(), Some(issued.hash.as_str()));
        let sloppy = format!(" {} ", issued.code.to_lowercase().replace('-', " "));
        assert_eq!(hash_of_typed(&sloppy).as_deref(), Some(issued.hash.as_str()));
        assert_ne!(issue().hash, issued.hash);
    }

    #[test]
    fn confusable_letters_read_as_digits() {
        assert_eq!(hash_of_typed("TG-O1IL-0000-0000-0000"), hash_of_typed("TG-0111-0000-0000-0000"));
    }

    #[test]
    fn malformed_codes_hash_to_nothing() {
        for typed in
            ["", "TG", "TG-0000", "XX-0000-0000-0000-0000", "TG-0000-0000-0000-000U", "TG-0000-0000-0000-00000"]
        {
            assert_eq!(hash_of_typed(typed), None, "{typed:?}");
        }
    }
}
