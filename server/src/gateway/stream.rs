//! Relaying a streamed answer chunk by chunk, never buffering the whole of it.
//!
//! Same-dialect streams pass through byte for byte, pings and comments included (only
//! read to follow usage); other streams, and the echo provider's, are rewritten in the
//! client's dialect through the hub's events. The flight travels inside the stream: if the
//! client disconnects, dropping the stream ends the upstream call and the flight records
//! `client_closed` with what was delivered.

use super::dialect::conversation::{Finish, StreamEvent, StreamStart, Usage, UsageReport};
use super::dialect::sse::Decoder;
use super::dialect::Dialect;
use super::flight::Flight;
use super::tokens;
use crate::http::client;
use axum::body::Body;
use bytes::{Bytes, BytesMut};
use futures_util::StreamExt;

pub enum Source {
    Upstream { response: client::Response, channel: Dialect },
    Local { events: Vec<StreamEvent> },
}

/// Usage as the upstream reports it, or as counted from what was asked and delivered.
struct Tally {
    reported: UsageReport,
    /// Text and tool arguments delivered, counted when the upstream reports no output.
    delivered: String,
    /// A running guess of the tokens in `delivered`, for the flight while the stream runs.
    delivered_estimate: u64,
    finish: Option<Finish>,
    /// Stands in for the prompt count while the stream runs (a client hanging up early
    /// is charged for it); replaced by a real count at the end if none was reported.
    prompt_estimate: u64,
    /// The prompt count the stream's start announced (0: none was counted).
    announced_prompt: u64,
    /// The request's body, counted when the upstream reports no prompt count.
    body: Bytes,
    settled: Option<Usage>,
}

impl Tally {
    fn observe(&mut self, events: &[StreamEvent]) {
        for event in events {
            match event {
                StreamEvent::Text(text) | StreamEvent::Reasoning(text) => self.deliver(text),
                StreamEvent::ToolCall { arguments, .. } => self.deliver(arguments),
                StreamEvent::Finish(finish) => self.finish = Some(*finish),
                StreamEvent::Usage(report) => self.reported.merge(report),
                StreamEvent::Error { .. } => {}
            }
        }
    }

    /// The upstream said how it finished and what it used: nothing that follows counts.
    fn ended(&self) -> bool {
        self.finish.is_some() && self.reported.completion_tokens.is_some()
    }

    /// A fragment is at least a token, a word is one, and so are four characters.
    fn deliver(&mut self, fragment: &str) {
        self.delivered.push_str(fragment);
        let words = fragment.split_whitespace().count() as u64;
        self.delivered_estimate += words.max(fragment.len().div_ceil(4) as u64).max(1);
    }

    /// Cheap enough to run on every read: what is missing is guessed, not counted.
    fn running(&self) -> Usage {
        self.usage(self.prompt_estimate, || self.delivered_estimate)
    }

    /// The stream's usage at its end: what the upstream did not report is counted (once:
    /// the writer's last event and the flight both need it).
    fn settled(&mut self) -> Usage {
        if let Some(usage) = self.settled {
            return usage;
        }
        let prompt = match self.reported.prompt_tokens {
            Some(_) => 0,
            // Counted once already when the stream had to announce it (Anthropic's start).
            None if self.announced_prompt > 0 => self.announced_prompt,
            None => tokens::count_body_texts(&self.body),
        };
        let usage = self.usage(prompt, || tokens::count(&self.delivered));
        self.settled = Some(usage);
        usage
    }

    fn usage(&self, prompt_fallback: u64, completion_fallback: impl FnOnce() -> u64) -> Usage {
        let report = &self.reported;
        Usage {
            prompt_tokens: report.prompt_tokens.unwrap_or(prompt_fallback),
            cache_read_tokens: report.cache_read_tokens.unwrap_or(0),
            cache_write_tokens: report.cache_write_tokens.unwrap_or(0),
            completion_tokens: report.completion_tokens.unwrap_or_else(completion_fallback),
            reasoning_tokens: report.reasoning_tokens.unwrap_or(0),
        }
    }
}

/// Charges `usage` and logs the flight, once.
fn land(flight: &mut Option<Flight>, usage: Usage) {
    if let Some(mut flight) = flight.take() {
        flight.set_usage(usage);
        flight.land(200);
    }
}

/// A chunk that only reports usage: the one the gateway asked an OpenAI upstream for.
fn is_usage_only(events: &[StreamEvent]) -> bool {
    matches!(events, [StreamEvent::Usage(_)])
}

pub struct Relay {
    pub client: Dialect,
    pub start: StreamStart,
    pub prompt_estimate: u64,
    pub body: Bytes,
}

impl Relay {
    pub fn body(self, source: Source, flight: Flight) -> Body {
        let client_wants_usage = self.start.include_usage;
        let mut tally = Tally {
            reported: UsageReport::default(),
            delivered: String::new(),
            delivered_estimate: 0,
            finish: None,
            prompt_estimate: self.prompt_estimate,
            announced_prompt: self.start.prompt_tokens,
            body: self.body,
            settled: None,
        };
        let client = self.client;
        let mut writer = client.writer(self.start);
        // The flight lands before the last bytes go out: a client that hangs up as soon
        // as it has read the end (`[DONE]`, `message_stop`) was answered, not gone.
        let mut flight = Some(flight);
        let stream = async_stream::stream! {
            match source {
                Source::Local { events } => {
                    let mut out = BytesMut::new();
                    writer.start(&mut out);
                    tally.observe(&events);
                    for event in &events {
                        writer.write(event, &mut out);
                    }
                    let usage = tally.settled();
                    writer.finish(tally.finish.unwrap_or(Finish::Stop), &usage, &mut out);
                    land(&mut flight, usage);
                    yield Ok::<Bytes, std::io::Error>(out.freeze());
                }
                Source::Upstream { response, channel } => {
                    let passthrough = channel == client;
                    let mut reader = channel.reader();
                    let mut decoder = Decoder::default();
                    let mut upstream = std::pin::pin!(client::body_stream(response));
                    let mut events = Vec::new();
                    let mut out = BytesMut::new();
                    if !passthrough {
                        writer.start(&mut out);
                    }
                    let mut interrupted = false;
                    while let Some(chunk) = upstream.next().await {
                        let Ok(chunk) = chunk else {
                            interrupted = true;
                            break;
                        };
                        // What one upstream read brought goes out as one write, not an
                        // HTTP chunk per event: fewer frames for the server and the client.
                        for event in decoder.push(&chunk) {
                            events.clear();
                            reader.read(&event, &mut events);
                            tally.observe(&events);
                            if passthrough {
                                if client_wants_usage || channel != Dialect::Chat || !is_usage_only(&events) {
                                    out.extend_from_slice(&event.raw);
                                }
                            } else {
                                for event in &events {
                                    writer.write(event, &mut out);
                                }
                            }
                        }
                        if passthrough && tally.ended() {
                            land(&mut flight, tally.settled());
                        } else if let Some(flight) = flight.as_mut() {
                            flight.set_usage(tally.running());
                        }
                        if !out.is_empty() {
                            yield Ok(out.split().freeze());
                        }
                    }
                    if interrupted {
                        if let Some(flight) = flight.as_mut() {
                            flight.interrupted();
                        }
                        if !passthrough {
                            let cut = StreamEvent::Error {
                                kind: "upstream_stream_interrupted".into(),
                                message: "The upstream's stream ended before its last event.".into(),
                            };
                            writer.write(&cut, &mut out);
                        }
                    } else if !passthrough {
                        let usage = tally.settled();
                        writer.finish(tally.finish.unwrap_or(Finish::Stop), &usage, &mut out);
                    }
                    land(&mut flight, tally.settled());
                    if !out.is_empty() {
                        yield Ok(out.freeze());
                    }
                }
            }
        };
        Body::from_stream(stream)
    }
}
