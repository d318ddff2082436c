//! Upstream text reaches tenants, usage rows and logs only with credentials taken out:
//! providers quote the key they were sent ("Incorrect API key provided: sk-…"), and that
//! key is the platform's, not the tenant's.

use regex::Regex;
use std::sync::LazyLock;

const REDACTED: &str = "[redacted]";

/// Shapes of provider keys and bearer tokens, whoever's they are.
static TOKENS: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"(?i)\bbearer\s+[a-z0-9._~+/=-]{7,}[a-z0-9_~+/=-]|\b(?:sk|tg)-[A-Za-z0-9_-]{8,}|\bAIza[0-9A-Za-z_-]{20,}",
    )
    .expect("a valid pattern")
});

/// `text` without the channel's own credential and without anything shaped like a key.
pub fn redact(text: &str, credential: Option<&str>) -> String {
    let text = match credential.filter(|secret| secret.len() >= 4) {
        Some(secret) => text.replace(secret, REDACTED),
        None => text.to_owned(),
    };
    TOKENS.replace_all(&text, REDACTED).into_owned()
}

#[cfg(test)]
mod tests {
    use super::redact;

    #[test]
    fn credentials_and_key_shaped_tokens_are_taken_out() {
        let secret = "plain-credential-without-a-known-shape";
        let message = format!("Incorrect API key provided: {secret}. You sent Bearer abcdefgh12345678.");
        assert_eq!(redact(&message, Some(secret)), "Incorrect API key provided: [redacted]. You sent [redacted].");
        assert_eq!(redact("key sk-proj-ABCDEFGHijklmnop1234 is invalid", None), "key [redacted] is invalid");
        assert_eq!(redact("AIzaSyA1234567890abcdefghijklmnop bad", None), "[redacted] bad");
        assert_eq!(redact("context too long: 10 tokens", Some(secret)), "context too long: 10 tokens");
    }
}
