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
