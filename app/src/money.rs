//! Money is an integer count of micro-units: 1 credit = 1,000,000 micro.

pub const MICROS_PER_CREDIT: i64 = 1_000_000;

/// Formats micro-units as credits with two to six decimals, e.g. `12.50` or `0.000125`.
pub fn format_credits(micros: i64) -> String {
    let sign = if micros < 0 { "-" } else { "" };
    let micros = micros.unsigned_abs();
    let whole = micros / MICROS_PER_CREDIT as u64;
    let fraction = format!("{:06}", micros % MICROS_PER_CREDIT as u64);
    let fraction = fraction.trim_end_matches('0');
    let fraction = format!("{fraction:0<2}");
    format!("{sign}{whole}.{fraction}")
}

#[cfg(test)]
mod tests {
    use super::format_credits;

    #[test]
    fn formats_micro_units_as_credits() {
        assert_eq!(format_credits(0), "0.00");
        assert_eq!(format_credits(12_500_000), "12.50");
        assert_eq!(format_credits(125), "0.000125");
        assert_eq!(format_credits(-1_000_001), "-1.000001");
    }
}

/// Parses credits typed by a person (`12`, `12.5`, `0.000125`) into micro-units.
/// `None` for anything else, negative amounts or more than six decimals.
pub fn parse_credits(text: &str) -> Option<i64> {
    let text = text.trim();
    let (whole, fraction) = text.split_once('.').unwrap_or((text, ""));
    if whole.is_empty() && fraction.is_empty()
        || !whole.chars().all(|c| c.is_ascii_digit())
        || !fraction.chars().all(|c| c.is_ascii_digit())
        || fraction.len() > 6
    {
        return None;
    }
    let whole: i64 = if whole.is_empty() { 0 } else { whole.parse().ok()? };
    let fraction: i64 = if fraction.is_empty() { 0 } else { format!("{fraction:0<6}").parse().ok()? };
    whole.checked_mul(MICROS_PER_CREDIT)?.checked_add(fraction)
}

#[cfg(test)]
mod parse_tests {
    use super::parse_credits;

    #[test]
    fn parses_credits_into_micro_units() {
        assert_eq!(parse_credits("12"), Some(12_000_000));
        assert_eq!(parse_credits(" 12.5 "), Some(12_500_000));
        assert_eq!(parse_credits(".000125"), Some(125));
        assert_eq!(parse_credits("-1"), None);
        assert_eq!(parse_credits("1.0000001"), None);
        assert_eq!(parse_credits(""), None);
        assert_eq!(parse_credits("."), None);
        assert_eq!(parse_credits("1e3"), None);
    }
}
