//! What a request costs: prices are micro-units per million tokens (api-contract.md,
//! "Pricing arithmetic" and "Cached prompt tokens"). Pure integer arithmetic, so it runs
//! anywhere, browser included.

use crate::models::ModelView;

const TOKENS_PER_PRICE_UNIT: u128 = 1_000_000;

/// A request's tokens by how each is priced. `prompt` is the uncached input only: cache
/// reads and writes are counted apart, never inside it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Tokens {
    pub prompt: u64,
    pub cache_read: u64,
    pub cache_write: u64,
    pub completion: u64,
}

/// Micro-units per million tokens of each kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Prices {
    pub input: i64,
    pub output: i64,
    pub cache_read: i64,
    pub cache_write: i64,
}

impl Prices {
    /// A model's prices; a cache price it leaves unset is its input price.
    pub fn of(model: &ModelView) -> Prices {
        Prices {
            input: model.input_price,
            output: model.output_price,
            cache_read: model.cache_read_price.unwrap_or(model.input_price),
            cache_write: model.cache_write_price.unwrap_or(model.input_price),
        }
    }
}

/// `ceil((prompt * input + cache_read * cache_read_price +
/// cache_write * cache_write_price + completion * output) / 1_000_000)` micro-units,
/// saturating at `i64::MAX`. Negative prices count as zero.
pub fn cost(tokens: &Tokens, prices: &Prices) -> i64 {
    let priced = [
        (tokens.prompt, prices.input),
        (tokens.cache_read, prices.cache_read),
        (tokens.cache_write, prices.cache_write),
        (tokens.completion, prices.output),
    ];
    // Each product is below 2^127 but four of them may not sum below 2^128; a saturated
    // sum is far past i64::MAX micro, so it still saturates to the right answer.
    let micro_tokens =
        priced.iter().fold(0u128, |sum, &(count, price)| sum.saturating_add(u128::from(count) * per_million(price)));
    i64::try_from(micro_tokens.div_ceil(TOKENS_PER_PRICE_UNIT)).unwrap_or(i64::MAX)
}

/// The most a request can cost: the prompt estimate at the dearest of the input and cache
/// prices (the upstream may write the whole prompt to its cache, which can cost more than
/// input) plus every token it may generate at the output price. This is what the gateway
/// reserves up front.
pub fn worst_case(prompt_estimate: u64, max_tokens: u64, prices: &Prices) -> i64 {
    let dearest_prompt = prices.input.max(prices.cache_read).max(prices.cache_write);
    let tokens = Tokens { prompt: prompt_estimate, completion: max_tokens, ..Tokens::default() };
    cost(&tokens, &Prices { input: dearest_prompt, ..*prices })
}

fn per_million(micro_per_million: i64) -> u128 {
    u128::from(micro_per_million.max(0).unsigned_abs())
}

#[cfg(test)]
mod tests {
    use super::{cost, worst_case, Prices, Tokens};
    use crate::models::{ModelStatus, ModelView};

    /// Prices with the cache priced as input, as for a model that sets no cache prices.
    fn at(input: i64, output: i64) -> Prices {
        Prices { input, output, cache_read: input, cache_write: input }
    }

    fn uncached(prompt: u64, completion: u64) -> Tokens {
        Tokens { prompt, completion, ..Tokens::default() }
    }

    #[test]
    fn charges_both_sides_at_their_prices() {
        // 1000 * 0.5 + 500 * 1.5 credits per million tokens = 1250 micro.
        assert_eq!(cost(&uncached(1_000, 500), &at(500_000, 1_500_000)), 1_250);
        assert_eq!(cost(&uncached(1_000_000, 0), &at(2_000_000, 9)), 2_000_000);
        assert_eq!(cost(&uncached(0, 1_000_000), &at(9, 3_000_000)), 3_000_000);
    }

    #[test]
    fn rounds_fractions_of_a_micro_up() {
        assert_eq!(cost(&uncached(1, 0), &at(1, 0)), 1, "a millionth of a micro is still charged");
        assert_eq!(cost(&uncached(3, 0), &at(333_333, 0)), 1, "999,999 / 1,000,000 rounds up");
        assert_eq!(cost(&uncached(1, 1), &at(500_000, 500_001)), 2, "1,000,001 / 1,000,000 rounds up");
        assert_eq!(cost(&uncached(2, 0), &at(500_000, 0)), 1, "an exact micro is not rounded");
        let fractions = Tokens { prompt: 1, cache_read: 1, cache_write: 1, completion: 0 };
        assert_eq!(cost(&fractions, &at(1, 0)), 1, "fractions are summed before rounding, not rounded each");
    }

    #[test]
    fn nothing_costs_nothing() {
        assert_eq!(cost(&Tokens::default(), &at(500_000, 1_500_000)), 0);
        assert_eq!(cost(&uncached(12_345, 678), &at(0, 0)), 0);
        assert_eq!(cost(&uncached(10, 10), &at(-5, -5)), 0, "negative prices never pay the caller");
        let cached = Tokens { prompt: 0, cache_read: 10, cache_write: 10, completion: 0 };
        let negative_cache = Prices { input: 0, output: 0, cache_read: -5, cache_write: -5 };
        assert_eq!(cost(&cached, &negative_cache), 0, "negative cache prices never pay the caller either");
    }

    #[test]
    fn huge_counts_saturate_instead_of_overflowing() {
        assert_eq!(cost(&uncached(u64::MAX, u64::MAX), &at(i64::MAX, i64::MAX)), i64::MAX);
        let everything = Tokens { prompt: u64::MAX, cache_read: u64::MAX, cache_write: u64::MAX, completion: u64::MAX };
        assert_eq!(cost(&everything, &at(i64::MAX, i64::MAX)), i64::MAX, "four maximal products overflow u128");
        assert_eq!(cost(&uncached(u64::MAX, 0), &at(1_000_000, 0)), i64::MAX, "u64::MAX micro does not fit in i64");
        // 10^12 tokens at 10^6 micro per million is exactly 10^12 micro: no precision lost.
        assert_eq!(cost(&uncached(1_000_000_000_000, 0), &at(1_000_000, 0)), 1_000_000_000_000);
        // (2^63 - 1) tokens at one micro per million: ceil((2^63 - 1) / 10^6).
        assert_eq!(cost(&uncached(i64::MAX as u64, 0), &at(1, 0)), 9_223_372_036_855);
    }

    /// Claude Sonnet's prices: 3 credits per million input, 15 output, cache reads at a
    /// tenth of input and cache writes at 1.25 times input.
    fn sonnet() -> Prices {
        Prices { input: 3_000_000, output: 15_000_000, cache_read: 300_000, cache_write: 3_750_000 }
    }

    #[test]
    fn anthropic_cache_reads_and_writes_are_charged_at_their_prices() {
        // Anthropic reports `input_tokens` apart from the cache: a request answered from the
        // cache may have no uncached input at all, and it is not free.
        let cache_only = Tokens { prompt: 0, cache_read: 1_000, cache_write: 200, completion: 0 };
        // 1000 * 0.3 + 200 * 3.75 = 300 + 750 micro.
        assert_eq!(cost(&cache_only, &sonnet()), 1_050);
        let full = Tokens { prompt: 10, cache_read: 1_000, cache_write: 200, completion: 50 };
        // + 10 * 3 + 50 * 15 = 30 + 750 micro.
        assert_eq!(cost(&full, &sonnet()), 1_830);
    }

    #[test]
    fn openai_cached_prompt_tokens_are_charged_at_the_cache_read_price() {
        // OpenAI reports 1,000 prompt tokens of which 800 cached: 200 uncached at input.
        let gpt = Prices { input: 2_500_000, output: 10_000_000, cache_read: 1_250_000, cache_write: 2_500_000 };
        let split = Tokens { prompt: 200, cache_read: 800, cache_write: 0, completion: 0 };
        // 200 * 2.5 + 800 * 1.25 = 500 + 1000 micro, against 2500 had nothing been cached.
        assert_eq!(cost(&split, &gpt), 1_500);
        assert_eq!(cost(&uncached(1_000, 0), &gpt), 2_500);
    }

    fn model(cache_read_price: Option<i64>, cache_write_price: Option<i64>) -> ModelView {
        ModelView {
            code: "m".into(),
            name: "M".into(),
            status: ModelStatus::Active,
            input_price: 2_000_000,
            output_price: 8_000_000,
            cache_read_price,
            cache_write_price,
            context_window: 8_192,
            default_max_tokens: 1_024,
            channels: Vec::new(),
        }
    }

    #[test]
    fn unset_cache_prices_are_the_input_price() {
        let unset = Prices::of(&model(None, None));
        assert_eq!(
            unset,
            Prices { input: 2_000_000, output: 8_000_000, cache_read: 2_000_000, cache_write: 2_000_000 }
        );
        let set = Prices::of(&model(Some(200_000), Some(0)));
        assert_eq!((set.cache_read, set.cache_write), (200_000, 0), "a zero cache price is set, not unset");
    }

    #[test]
    fn worst_case_prices_the_prompt_estimate_and_every_possible_output_token() {
        assert_eq!(worst_case(100, 1_024, &at(500_000, 1_500_000)), 1_586);
        assert_eq!(worst_case(0, 0, &at(500_000, 1_500_000)), 0);
    }

    #[test]
    fn worst_case_prices_the_prompt_as_if_all_of_it_were_written_to_the_cache() {
        // 1000 * 3.75 (cache write, dearer than input) + 100 * 15 = 3750 + 1500 micro.
        assert_eq!(worst_case(1_000, 100, &sonnet()), 5_250);
        let cheap_cache = Prices { cache_write: 1_000_000, ..sonnet() };
        assert_eq!(worst_case(1_000, 100, &cheap_cache), 4_500, "input is dearest here: 3000 + 1500");
    }
}
