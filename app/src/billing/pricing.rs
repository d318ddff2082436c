//! What a request costs: prices are micro-units per million tokens (api-contract.md,
//! "Pricing arithmetic"). Pure integer arithmetic, so it runs anywhere, browser included.

const TOKENS_PER_PRICE_UNIT: u128 = 1_000_000;

/// `ceil((prompt_tokens * input_price + completion_tokens * output_price) / 1_000_000)`
/// micro-units, saturating at `i64::MAX`. Negative prices count as zero.
pub fn cost(prompt_tokens: u64, completion_tokens: u64, input_price: i64, output_price: i64) -> i64 {
    // Each product is below 2^127, so their sum fits in a u128.
    let micro_tokens =
        u128::from(prompt_tokens) * price(input_price) + u128::from(completion_tokens) * price(output_price);
    i64::try_from(micro_tokens.div_ceil(TOKENS_PER_PRICE_UNIT)).unwrap_or(i64::MAX)
}

/// The most a request can cost: the prompt estimate at the input price plus every token
/// it may generate at the output price. This is what the gateway reserves up front.
pub fn worst_case(prompt_estimate: u64, max_tokens: u64, input_price: i64, output_price: i64) -> i64 {
    cost(prompt_estimate, max_tokens, input_price, output_price)
}

fn price(micro_per_million: i64) -> u128 {
    u128::from(micro_per_million.max(0).unsigned_abs())
}

#[cfg(test)]
mod tests {
    use super::{cost, worst_case};

    #[test]
    fn charges_both_sides_at_their_prices() {
        // 1000 * 0.5 + 500 * 1.5 credits per million tokens = 1250 micro.
        assert_eq!(cost(1_000, 500, 500_000, 1_500_000), 1_250);
        assert_eq!(cost(1_000_000, 0, 2_000_000, 9), 2_000_000);
        assert_eq!(cost(0, 1_000_000, 9, 3_000_000), 3_000_000);
    }

    #[test]
    fn rounds_fractions_of_a_micro_up() {
        assert_eq!(cost(1, 0, 1, 0), 1, "a millionth of a micro is still charged");
        assert_eq!(cost(3, 0, 333_333, 0), 1, "999,999 / 1,000,000 rounds up");
        assert_eq!(cost(1, 1, 500_000, 500_001), 2, "1,000,001 / 1,000,000 rounds up");
        assert_eq!(cost(2, 0, 500_000, 0), 1, "an exact micro is not rounded");
    }

    #[test]
    fn nothing_costs_nothing() {
        assert_eq!(cost(0, 0, 500_000, 1_500_000), 0);
        assert_eq!(cost(12_345, 678, 0, 0), 0);
        assert_eq!(cost(10, 10, -5, -5), 0, "negative prices never pay the caller");
    }

    #[test]
    fn huge_counts_saturate_instead_of_overflowing() {
        assert_eq!(cost(u64::MAX, u64::MAX, i64::MAX, i64::MAX), i64::MAX);
        assert_eq!(cost(u64::MAX, 0, 1_000_000, 0), i64::MAX, "u64::MAX micro does not fit in i64");
        // 10^12 tokens at 10^6 micro per million is exactly 10^12 micro: no precision lost.
        assert_eq!(cost(1_000_000_000_000, 0, 1_000_000, 0), 1_000_000_000_000);
        // (2^63 - 1) tokens at one micro per million: ceil((2^63 - 1) / 10^6).
        assert_eq!(cost(i64::MAX as u64, 0, 1, 0), 9_223_372_036_855);
    }

    #[test]
    fn worst_case_prices_the_prompt_estimate_and_every_possible_output_token() {
        assert_eq!(worst_case(100, 1_024, 500_000, 1_500_000), 1_586);
        assert_eq!(worst_case(0, 0, 500_000, 1_500_000), 0);
    }
}
