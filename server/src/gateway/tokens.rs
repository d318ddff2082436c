//! Counting tokens where no upstream reports them: `count_tokens` / `countTokens` on
//! channels without a counting endpoint, and streams whose upstream gives no usage.
//!
//! One tokenizer (OpenAI's `o200k_base`) serves every model: providers' own tokenizers
//! differ by a few percent, which is what a count made without the provider can promise.
//! It is loaded on first use (about 100 ms), never on the hot path of a reported answer.

use serde_json::Value;
use tiktoken_rs::o200k_base_singleton;

/// Tokens in `text`.
pub fn count(text: &str) -> u64 {
    if text.is_empty() {
        return 0;
    }
    o200k_base_singleton().count_ordinary(text) as u64
}

/// Tokens in the string values of a request body in any dialect, without decoding it:
/// messages, system prompts, tool definitions and results are all strings somewhere
/// inside. Field names, the model and opaque payloads (base64 images, signatures) are
/// not read by the model as text and are skipped.
pub fn count_body_texts(body: &serde_json::Map<String, Value>) -> u64 {
    body.iter().filter(|(name, _)| !SKIPPED_FIELDS.contains(&name.as_str())).map(|(_, value)| count_value(value)).sum()
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

fn count_value(value: &Value) -> u64 {
    match value {
        Value::String(text) => count(text),
        Value::Array(items) => items.iter().map(count_value).sum(),
        Value::Object(fields) => count_body_texts(fields),
        _ => 0,
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
        let plain = count_body_texts(text.as_object().unwrap());
        assert_eq!(plain, count("hello"));
        let image = count_body_texts(with_image.as_object().unwrap());
        assert_eq!(image, plain, "the base64 payload is not text");
    }
}
