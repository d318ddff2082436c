//! The built-in `echo` provider: answers at once, deterministically, with no network.
//! The reply is the last user message; tokens are whitespace-separated words.

use super::{Completion, Conversation, Finish, Role, StreamEvent, Usage};

fn words(text: &str) -> u64 {
    text.split_whitespace().count() as u64
}

pub fn reply(conversation: &Conversation) -> Completion {
    let text = conversation
        .turns
        .iter()
        .rev()
        .find(|turn| turn.role == Role::User)
        .map(|turn| turn.text.clone())
        .unwrap_or_default();
    let usage = Usage { prompt_tokens: conversation.texts().map(words).sum(), completion_tokens: words(&text) };
    Completion { id: String::new(), model: String::new(), text, finish: Finish::Stop, usage: Some(usage) }
}

/// The reply as stream events: one word per chunk, then the finish and the usage.
pub fn stream(conversation: &Conversation) -> Vec<StreamEvent> {
    let completion = reply(conversation);
    let usage = completion.usage.unwrap_or_default();
    let words: Vec<&str> = completion.text.split_whitespace().collect();
    let last = words.len().saturating_sub(1);
    let mut events: Vec<StreamEvent> = words
        .iter()
        .enumerate()
        .map(|(index, word)| StreamEvent::Text(if index == last { (*word).to_owned() } else { format!("{word} ") }))
        .collect();
    events.push(StreamEvent::Finish(Finish::Stop));
    events.push(StreamEvent::Usage {
        prompt_tokens: Some(usage.prompt_tokens),
        completion_tokens: Some(usage.completion_tokens),
    });
    events
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gateway::protocol::Turn;

    #[test]
    fn echoes_the_last_user_message_and_counts_words() {
        let conversation = Conversation {
            system: Some("be brief".into()),
            turns: vec![
                Turn { role: Role::User, text: "first question".into() },
                Turn { role: Role::Assistant, text: "an answer".into() },
                Turn { role: Role::User, text: "say  hello world".into() },
            ],
            ..Conversation::default()
        };
        let reply = reply(&conversation);
        assert_eq!(reply.text, "say  hello world");
        assert_eq!(reply.usage, Some(Usage { prompt_tokens: 9, completion_tokens: 3 }));
        let texts: Vec<_> = stream(&conversation)
            .into_iter()
            .filter_map(|e| if let StreamEvent::Text(t) = e { Some(t) } else { None })
            .collect();
        assert_eq!(texts, ["say ", "hello ", "world"]);
    }
}
