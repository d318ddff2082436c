//! Relaying a streamed answer chunk by chunk, never buffering the whole of it.
//!
//! Same-protocol streams pass through byte for byte (only parsed to follow usage);
//! other streams, and the echo provider's, are rewritten in the client's dialect. The
//! flight travels inside the stream: if the client disconnects, dropping the stream ends
//! the upstream call and the flight records `client_closed` with what was delivered.

use super::flight::Flight;
use super::limits::Slot;
use super::protocol::sse::{self, Decoder};
use super::protocol::{anthropic, estimate_tokens, openai, stream_writer, Dialect, Finish, StreamEvent, Usage};
use crate::http::client;
use app::models::Protocol;
use axum::body::Body;
use bytes::{Bytes, BytesMut};
use futures_util::StreamExt;

pub enum Source {
    Upstream { response: client::Response, protocol: Protocol },
    Local { events: Vec<StreamEvent> },
}

/// Usage as the upstream reports it, or as counted from what was delivered.
struct Tally {
    prompt_reported: Option<u64>,
    completion_reported: Option<u64>,
    prompt_counted: u64,
    delivered: String,
    finish: Option<Finish>,
}

impl Tally {
    fn observe(&mut self, events: &[StreamEvent]) {
        for event in events {
            match event {
                StreamEvent::Text(text) => self.delivered.push_str(text),
                StreamEvent::Finish(finish) => self.finish = Some(*finish),
                StreamEvent::Usage { prompt_tokens, completion_tokens } => {
                    self.prompt_reported = prompt_tokens.or(self.prompt_reported);
                    self.completion_reported = completion_tokens.or(self.completion_reported);
                }
            }
        }
    }

    fn usage(&self) -> Usage {
        Usage {
            prompt_tokens: self.prompt_reported.unwrap_or(self.prompt_counted),
            completion_tokens: self.completion_reported.unwrap_or_else(|| estimate_tokens(&self.delivered)),
        }
    }
}

fn events_of(protocol: Protocol, event: &sse::Event) -> Vec<StreamEvent> {
    match protocol {
        Protocol::Anthropic => anthropic::stream_events(&event.data),
        _ => openai::stream_events(&event.data),
    }
}

/// A chunk that only reports usage: the one the gateway asked an OpenAI upstream for.
fn is_usage_only(events: &[StreamEvent]) -> bool {
    matches!(events, [StreamEvent::Usage { .. }])
}

pub struct Relay {
    pub dialect: Dialect,
    pub response_id: String,
    pub model: String,
    pub prompt_counted: u64,
    /// The client asked for the usage chunk itself (OpenAI `stream_options.include_usage`).
    pub client_wants_usage: bool,
}

impl Relay {
    pub fn body(self, source: Source, mut flight: Flight, slot: Slot) -> Body {
        let mut tally = Tally {
            prompt_reported: None,
            completion_reported: None,
            prompt_counted: self.prompt_counted,
            delivered: String::new(),
            finish: None,
        };
        let mut writer = stream_writer(self.dialect, &self.response_id, &self.model);
        let stream = async_stream::stream! {
            let _slot = slot;
            match source {
                Source::Local { events } => {
                    for event in events {
                        tally.observe(std::slice::from_ref(&event));
                        flight.set_usage(tally.usage());
                        if let StreamEvent::Text(text) = event {
                            yield Ok::<Bytes, std::io::Error>(writer.text(&text));
                        }
                    }
                    yield Ok(writer.finish(tally.finish.unwrap_or(Finish::Stop), tally.usage()));
                }
                Source::Upstream { response, protocol } => {
                    let passthrough = self.dialect.passes_through_to(protocol);
                    let mut decoder = Decoder::default();
                    let mut upstream = std::pin::pin!(client::body_stream(response));
                    let mut interrupted = false;
                    while let Some(chunk) = upstream.next().await {
                        let Ok(chunk) = chunk else {
                            interrupted = true;
                            break;
                        };
                        // What one upstream read brought goes out as one write, not an
                        // HTTP chunk per event: fewer frames for the server and the client.
                        let mut out = BytesMut::new();
                        for event in decoder.push(&chunk) {
                            let events = events_of(protocol, &event);
                            tally.observe(&events);
                            flight.set_usage(tally.usage());
                            if passthrough {
                                if self.client_wants_usage || protocol != Protocol::Openai || !is_usage_only(&events) {
                                    out.extend_from_slice(&event.raw);
                                }
                                continue;
                            }
                            for event in events {
                                if let StreamEvent::Text(text) = event {
                                    out.extend_from_slice(&writer.text(&text));
                                }
                            }
                        }
                        if !out.is_empty() {
                            yield Ok(out.freeze());
                        }
                    }
                    if interrupted {
                        flight.interrupted();
                    } else if !passthrough {
                        yield Ok(writer.finish(tally.finish.unwrap_or(Finish::Stop), tally.usage()));
                    }
                }
            }
            flight.set_usage(tally.usage());
            flight.land(200);
        };
        Body::from_stream(stream)
    }
}
