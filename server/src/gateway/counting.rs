//! Token counting: Anthropic's `count_tokens` and Gemini's `countTokens`. Free: nothing is
//! reserved or charged and no rate limit spent (Claude Code sends dozens at start-up), but
//! each call is still a usage row. An Anthropic client whose model has an Anthropic
//! channel gets the provider's own count; every other count is the gateway's tokenizer.

use super::catalog::{Endpoint, Target};
use super::dialect::{gemini, Dialect};
use super::error::GatewayError;
use super::flight::Flight;
use super::request::{self, ClientRequest, Envelope};
use super::upstream::{self, Answer, Call};
use super::{admit_key, admit_model, board, routing, tokens, Gateway, MAX_ATTEMPTS};
use app::models::Protocol;
use axum::extract::Request;
use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use serde_json::json;
use std::net::SocketAddr;

/// A count in `dialect`; Gemini names the model in the path (`path_model`).
pub async fn count(
    gateway: Gateway,
    peer: SocketAddr,
    request: Request,
    route: &str,
    dialect: Dialect,
    path_model: Option<String>,
) -> Response {
    let envelope = Envelope::CountTokens { dialect, path_model };
    let (parts, body) = request.into_parts();
    let (mut flight, ip) = match board(&gateway, peer, &parts, route, dialect) {
        Ok(boarded) => boarded,
        Err(refused) => return *refused,
    };
    let answered = async {
        let key = admit_key(&gateway, &mut flight, &parts, ip)?;
        let request = request::read(&parts.headers, body, &gateway.body_limits, envelope).await?;
        flight.set_model(&request.model);
        let model = admit_model(&gateway, &key, &request.model)?;
        let mut plan = routing::plan(&model, &gateway.health, MAX_ATTEMPTS);
        plan.retain(|target: &Target| dialect == Dialect::Anthropic && target.channel.protocol == Protocol::Anthropic);
        if plan.is_empty() {
            return Ok(counted_here(&request, dialect));
        }
        let call = Call::new(dialect, Endpoint::CountTokens, &parts.headers);
        let served = upstream::serve(&gateway, &mut flight, &request, &call, &model, plan).await?;
        flight.served_by(&served.channel_id, served.protocol, served.upstream_latency_ms);
        match served.answer {
            Answer::Whole { body, .. } => Ok(body),
            Answer::Stream { .. } | Answer::Local { .. } => Err(GatewayError::Internal),
        }
    }
    .await;
    respond(flight, answered)
}

/// The gateway's own count, in the client's dialect.
fn counted_here(request: &ClientRequest, dialect: Dialect) -> Bytes {
    let total = tokens::count_body_texts(request.raw());
    let body = match dialect {
        Dialect::Gemini => gemini::count_tokens_response(total),
        _ => json!({"input_tokens": total}),
    };
    Bytes::from(body.to_string())
}

fn respond(flight: Flight, answered: Result<Bytes, GatewayError>) -> Response {
    match answered {
        Ok(body) => {
            flight.land(200);
            ([(header::CONTENT_TYPE, HeaderValue::from_static("application/json"))], body).into_response()
        }
        Err(error) => flight.reject(&error),
    }
}
