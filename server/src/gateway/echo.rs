//! The built-in `echo` provider: answers at once, deterministically, with no network, in
//! whatever dialect the client speaks (it works on the hub's conversation). The reply is
//! the last user message; tokens are whitespace-separated words (api-contract.md).

use super::dialect::conversation::{Finish, Part, Request, Response, Role, StreamEvent, Usage, UsageReport};
use sha2::{Digest, Sha256};

/// Dimensions of an embedding when the client asks for none.
const EMBEDDING_DIMENSIONS: usize = 16;

pub fn words(text: &str) -> u64 {
    text.split_whitespace().count() as u64
}

/// The text of the last user turn; a turn that only returns tool results echoes them,
/// so an agent's tool round trip gets an answer too.
fn last_user_text(request: &Request) -> String {
    let Some(turn) = request.messages.iter().rev().find(|message| message.role == Role::User) else {
        return String::new();
    };
    let texts = |parts: &[Part]| -> String {
        parts.iter().filter_map(|part| if let Part::Text(text) = part { Some(text.as_str()) } else { None }).collect()
    };
    let text = texts(&turn.parts);
    if !text.is_empty() {
        return text;
    }
    turn.parts
        .iter()
        .filter_map(|part| if let Part::ToolResult(result) = part { Some(texts(&result.content)) } else { None })
        .collect::<Vec<_>>()
        .join("\n")
}

/// The reply, at most `cap` words (what the request held money for); cut there, it
/// finishes as `Length`, as a model would.
pub fn reply(request: &Request, cap: u64, id: String, model: String) -> Response {
    let whole = last_user_text(request);
    let cap = usize::try_from(cap).unwrap_or(usize::MAX);
    let (text, finish) = match whole.split_whitespace().nth(cap) {
        None => (whole, Finish::Stop),
        Some(_) => (whole.split_whitespace().take(cap).collect::<Vec<_>>().join(" "), Finish::Length),
    };
    let usage =
        Usage { prompt_tokens: request.texts().map(words).sum(), completion_tokens: words(&text), ..Usage::default() };
    Response { id, model, parts: vec![Part::Text(text)], finish, usage: Some(usage) }
}

/// The reply as stream events: one word per event, then the finish and the usage.
pub fn events(request: &Request, cap: u64) -> Vec<StreamEvent> {
    let answer = reply(request, cap, String::new(), String::new());
    let text = answer.text();
    let words: Vec<&str> = text.split_whitespace().collect();
    let last = words.len().saturating_sub(1);
    let mut events: Vec<StreamEvent> = words
        .iter()
        .enumerate()
        .map(|(index, word)| StreamEvent::Text(if index == last { (*word).to_owned() } else { format!("{word} ") }))
        .collect();
    events.push(StreamEvent::Finish(answer.finish));
    events.push(StreamEvent::Usage(UsageReport::whole(answer.usage.unwrap_or_default())));
    events
}

/// A unit vector drawn from the text's SHA-256: the same text always gets the same vector.
pub fn embedding(text: &str, dimensions: Option<usize>) -> Vec<f32> {
    let dimensions = dimensions.unwrap_or(EMBEDDING_DIMENSIONS).max(1);
    let mut values = Vec::with_capacity(dimensions);
    let mut block = 0u32;
    while values.len() < dimensions {
        let digest = Sha256::new().chain_update(block.to_le_bytes()).chain_update(text.as_bytes()).finalize();
        values.extend(digest.iter().take(dimensions - values.len()).map(|byte| f32::from(*byte) / 127.5 - 1.0));
        block += 1;
    }
    let norm = values.iter().map(|v| v * v).sum::<f32>().sqrt().max(f32::EPSILON);
    values.iter_mut().for_each(|v| *v /= norm);
    values
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gateway::dialect::conversation::{Message, ToolCall, ToolResult};

    fn text(role: Role, text: &str) -> Message {
        Message { role, parts: vec![Part::Text(text.into())] }
    }

    #[test]
    fn echoes_the_last_user_message_and_counts_words() {
        let request = Request {
            system: vec!["be brief".into()],
            messages: vec![
                text(Role::User, "first question"),
                text(Role::Assistant, "an answer"),
                text(Role::User, "say  hello world"),
            ],
            ..Request::default()
        };
        let answer = reply(&request, 16, "id".into(), "echo-1".into());
        assert_eq!(answer.text(), "say  hello world");
        assert_eq!(answer.usage.map(|u| (u.prompt_tokens, u.completion_tokens)), Some((9, 3)));
        let cut = reply(&request, 2, "id".into(), "echo-1".into());
        assert_eq!((cut.text(), cut.finish), ("say hello".to_owned(), Finish::Length));
        let texts: Vec<_> = events(&request, 16)
            .into_iter()
            .filter_map(|e| if let StreamEvent::Text(t) = e { Some(t) } else { None })
            .collect();
        assert_eq!(texts, ["say ", "hello ", "world"]);
    }

    #[test]
    fn a_turn_of_tool_results_is_echoed_too() {
        let call = ToolCall { id: "c1".into(), name: "shell".into(), arguments: "{}".into() };
        let result = ToolResult { call_id: "c1".into(), content: vec![Part::Text("done".into())], is_error: false };
        let request = Request {
            messages: vec![
                Message { role: Role::Assistant, parts: vec![Part::ToolCall(call)] },
                Message { role: Role::User, parts: vec![Part::ToolResult(result)] },
            ],
            ..Request::default()
        };
        assert_eq!(reply(&request, 16, String::new(), String::new()).text(), "done");
    }

    #[test]
    fn embeddings_are_deterministic_unit_vectors() {
        let first = embedding("hello", None);
        assert_eq!(first.len(), EMBEDDING_DIMENSIONS);
        assert_eq!(first, embedding("hello", None));
        assert_ne!(first, embedding("hullo", None));
        assert_eq!(embedding("hello", Some(100)).len(), 100);
        let norm: f32 = first.iter().map(|v| v * v).sum();
        assert!((norm - 1.0).abs() < 1e-4);
    }
}
