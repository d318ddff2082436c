//! Server-sent events: splitting an upstream byte stream into events, and writing them.

use bytes::{BufMut, Bytes, BytesMut};
use serde::Serialize;

/// One event: its `event:` name (if any) and its joined `data:` lines, plus the exact
/// bytes it arrived as (to pass through untouched). A block of comments only (`: ping`)
/// is an event with no name and no data, so a pass-through relays it too.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    pub name: Option<String>,
    pub data: String,
    pub raw: Bytes,
}

/// Buffers bytes until whole events (ended by a blank line) are available.
#[derive(Default)]
pub struct Decoder {
    buffer: BytesMut,
}

impl Decoder {
    pub fn push(&mut self, chunk: &[u8]) -> Vec<Event> {
        self.buffer.extend_from_slice(chunk);
        let mut events = Vec::new();
        while let Some(end) = find_event_end(&self.buffer) {
            let raw = self.buffer.split_to(end).freeze();
            events.push(parse(raw));
        }
        events
    }
}

/// The index just past the blank line ending the first event (`\n\n` or `\r\n\r\n`).
fn find_event_end(buffer: &[u8]) -> Option<usize> {
    let lf = buffer.windows(2).position(|w| w == b"\n\n").map(|i| i + 2);
    let crlf = buffer.windows(4).position(|w| w == b"\r\n\r\n").map(|i| i + 4);
    match (lf, crlf) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

fn parse(raw: Bytes) -> Event {
    let text = String::from_utf8_lossy(&raw);
    let mut name = None;
    let mut data: Vec<&str> = Vec::new();
    for line in text.lines() {
        if let Some(value) = line.strip_prefix("event:") {
            name = Some(value.trim().to_owned());
        } else if let Some(value) = line.strip_prefix("data:") {
            data.push(value.strip_prefix(' ').unwrap_or(value));
        }
    }
    let data = data.join("\n");
    Event { name, data, raw }
}

/// Writes one event into `out`: an optional `event:` name and `data` as JSON, serialized
/// straight into the buffer (no string per event on a translated stream). JSON text holds
/// no raw line break, so it is always one `data:` line.
pub fn write_json(out: &mut BytesMut, name: Option<&str>, data: &impl Serialize) {
    write_name(out, name);
    out.extend_from_slice(b"data: ");
    // Serializing plain JSON values into memory cannot fail.
    let _ = serde_json::to_writer((&mut *out).writer(), data);
    out.extend_from_slice(b"\n\n");
}

/// Writes one event whose data is `text` (OpenAI's `[DONE]`).
pub fn write_text(out: &mut BytesMut, name: Option<&str>, text: &str) {
    write_name(out, name);
    out.extend_from_slice(b"data: ");
    out.extend_from_slice(text.as_bytes());
    out.extend_from_slice(b"\n\n");
}

fn write_name(out: &mut BytesMut, name: Option<&str>) {
    if let Some(name) = name {
        out.extend_from_slice(b"event: ");
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(b"\n");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn written_events_read_back_as_they_were_written() {
        let mut out = BytesMut::new();
        write_json(&mut out, Some("message_start"), &serde_json::json!({"text": "two\nlines"}));
        write_text(&mut out, None, "[DONE]");
        let events = Decoder::default().push(&out);
        assert_eq!(events[0].name.as_deref(), Some("message_start"));
        assert_eq!(events[0].data, r#"{"text":"two\nlines"}"#);
        assert_eq!((events[1].name.as_deref(), events[1].data.as_str()), (None, "[DONE]"));
    }

    #[test]
    fn splits_events_across_chunk_boundaries() {
        let mut decoder = Decoder::default();
        assert!(decoder.push(b"event: ping\nda").is_empty());
        let events = decoder.push(b"ta: {\"a\":1}\n\ndata: [DONE]\r\n\r\n");
        assert_eq!(events.len(), 2);
        assert_eq!(events[0].name.as_deref(), Some("ping"));
        assert_eq!(events[0].data, "{\"a\":1}");
        assert_eq!(&events[0].raw[..], b"event: ping\ndata: {\"a\":1}\n\n");
        assert_eq!(events[1].data, "[DONE]");
    }

    #[test]
    fn comments_are_events_with_nothing_in_them() {
        let events = Decoder::default().push(b": ping\n\ndata: x\n\n");
        assert_eq!(events.len(), 2);
        assert_eq!((events[0].name.as_deref(), events[0].data.as_str()), (None, ""));
        assert_eq!(&events[0].raw[..], b": ping\n\n");
    }
}
