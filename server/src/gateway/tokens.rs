//! Counting tokens where no upstream reports them: `count_tokens` / `countTokens` on
//! channels without a counting endpoint, and streams whose upstream gives no usage.
//!
//! One tokenizer (OpenAI's `o200k_base`) serves every model: providers' own tokenizers
//! differ by a few percent, which is what a count made without the provider can promise.
//! It is loaded on first use (about 100 ms), never on the hot path of a reported answer.

use super::scan::Key;
use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use tiktoken_rs::o200k_base_singleton;

/// Tokens in `text`.
pub fn count(text: &str) -> u64 {
    if text.is_empty() {
        return 0;
    }
    o200k_base_singleton().count_ordinary(text) as u64
}

/// Tokens in the string values of a request body in any dialect, read straight from its
/// bytes: messages, system prompts, tool definitions and results are all strings
/// somewhere inside. Field names, the model and opaque payloads (base64 images,
/// signatures) are not read by the model as text and are skipped.
pub fn count_body_texts(body: &[u8]) -> u64 {
    let mut deserializer = serde_json::Deserializer::from_slice(body);
    Texts.deserialize(&mut deserializer).unwrap_or_default()
}

/// Names, ids, enumerations and opaque payloads.
const SKIPPED_FIELDS: &[&str] = &[
    "model",
    "role",
    "type",
    "id",
    "call_id",
    "tool_call_id",
    "tool_use_id",
    "data",
    "media_type",
    "mimeType",
    "image_url",
    "url",
    "signature",
    "thoughtSignature",
    "encrypted_content",
    "cache_control",
];

/// The tokens of a JSON value's texts.
struct Texts;

impl<'de> DeserializeSeed<'de> for Texts {
    type Value = u64;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<u64, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Texts {
    type Value = u64;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_str<E: de::Error>(self, text: &str) -> Result<u64, E> {
        Ok(count(text))
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> Result<u64, E> {
        Ok(0)
    }

    fn visit_i64<E: de::Error>(self, _: i64) -> Result<u64, E> {
        Ok(0)
    }

    fn visit_u64<E: de::Error>(self, _: u64) -> Result<u64, E> {
        Ok(0)
    }

    fn visit_f64<E: de::Error>(self, _: f64) -> Result<u64, E> {
        Ok(0)
    }

    fn visit_unit<E: de::Error>(self) -> Result<u64, E> {
        Ok(0)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<u64, A::Error> {
        let mut total = 0;
        while let Some(tokens) = seq.next_element_seed(Texts)? {
            total += tokens;
        }
        Ok(total)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<u64, A::Error> {
        let mut total = 0;
        while let Some(name) = map.next_key_seed(Key)? {
            match SKIPPED_FIELDS.contains(&&*name) {
                true => _ = map.next_value::<IgnoredAny>()?,
                false => total += map.next_value_seed(Texts)?,
            }
        }
        Ok(total)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn counts_tokens_not_words() {
        assert_eq!(count(""), 0);
        assert_eq!(count("hello"), 1);
        // One word, many tokens: a word count would say 1.
        assert!(count("antidisestablishmentarianism") > 1);
    }

    #[test]
    fn a_body_is_counted_by_its_texts_not_its_payloads() {
        let text = json!({"model": "gpt-4o", "messages": [{"role": "user", "content": "hello"}]});
        let with_image = json!({"model": "gpt-4o", "messages": [{"role": "user", "content": [
            {"type": "text", "text": "hello"},
            {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "iVBORw0KGgoAAAANSUhEUgAAAAE"}}
        ]}]});
        let plain = count_body_texts(text.to_string().as_bytes());
        assert_eq!(plain, count("hello"));
        let image = count_body_texts(with_image.to_string().as_bytes());
        assert_eq!(image, plain, "the base64 payload is not text");
    }
}
