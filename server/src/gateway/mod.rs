//! The data plane: `/v1/chat/completions`, `/v1/messages`, `/v1/models`.
//!
//! `request → identity → permission → quota → rate_limit → routing → upstream → settle → log`:
//! each layer passes the request on or answers with the contract's error naming itself.
//! Keys, models and channels are read from memory, money is held in memory against a
//! lease and charged in batches, and the usage row leaves through a batch writer: a
//! request touches the database only when the lease runs short (`app::billing::reservations`).

pub mod catalog;
mod client_ip;
pub mod dialect;
pub mod error;
mod flight;
mod identity;
mod limits;
pub mod metrics;
pub mod probe;
pub mod protocol;
mod request;
mod routing;
mod stream;
mod upstream;
pub mod usage_writer;

use crate::http::client::HttpClient;
use crate::http::request_id::ClientRequestId;
use app::billing::pricing;
use app::billing::reservations::{Purse, ReserveError};
use app::clock::now_ms;
use app::models::ModelStatus;
use app::state::AppState;
use axum::body::Body;
use axum::extract::{ConnectInfo, OriginalUri, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, Method};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use catalog::{Catalog, CatalogModel, GatewayKey};
use error::GatewayError;
use flight::Charge;
use flight::Flight;
use ipnet::IpNet;
use limits::{Limits, Slot};
use protocol::{estimate_tokens, Dialect};
use request::ClientRequest;
use routing::Health;
use serde_json::json;
use std::net::{IpAddr, SocketAddr};
use std::ops::Deref;
use std::sync::Arc;
use upstream::{Answer, Served};
use usage_writer::UsageWriter;

/// Upstream channels tried per request before giving up.
const MAX_ATTEMPTS: usize = 3;

pub struct Inner {
    pub app: AppState,
    pub catalog: Arc<Catalog>,
    pub usage: UsageWriter,
    pub purse: Purse,
    limits: Limits,
    health: Health,
    http: HttpClient,
    trusted_proxies: Vec<IpNet>,
    max_request_bytes: usize,
}

#[derive(Clone)]
pub struct Gateway(Arc<Inner>);

impl Deref for Gateway {
    type Target = Inner;

    fn deref(&self) -> &Inner {
        &self.0
    }
}

pub struct Settings {
    pub trusted_proxies: Vec<IpNet>,
    pub max_request_bytes: usize,
}

impl Gateway {
    pub fn new(app: AppState, catalog: Arc<Catalog>, usage: UsageWriter, purse: Purse, settings: Settings) -> Gateway {
        // Install the recorder before the first request, or its metrics would be lost.
        metrics::handle();
        Gateway(Arc::new(Inner {
            app,
            catalog,
            usage,
            purse,
            limits: Limits::default(),
            health: Health::default(),
            http: HttpClient::default(),
            trusted_proxies: settings.trusted_proxies,
            max_request_bytes: settings.max_request_bytes,
        }))
    }
}

pub fn router(gateway: Gateway) -> Router {
    let v1 = Router::new()
        .route("/chat/completions", post(chat_completions))
        .route("/messages", post(messages))
        .route("/models", get(models))
        .fallback(unknown_route)
        .method_not_allowed_fallback(method_not_allowed);
    Router::new().nest("/v1", v1).route("/metrics", get(metrics::render)).with_state(gateway)
}

/// The start of every data-plane request: its flight (and so its usage row).
fn board(
    gateway: &Gateway,
    peer: SocketAddr,
    headers: &HeaderMap,
    extensions: &axum::http::Extensions,
    route: &str,
    dialect: Dialect,
) -> (Flight, IpAddr) {
    let ip = client_ip::canonical(client_ip::resolve(peer.ip(), headers, &gateway.trusted_proxies));
    let client_request_id = extensions.get::<ClientRequestId>().map(|id| id.0.clone());
    (Flight::begin(gateway.usage.clone(), route, dialect, ip.to_string(), client_request_id), ip)
}

async fn chat_completions(state: State<Gateway>, peer: ConnectInfo<SocketAddr>, request: Request) -> Response {
    complete(state, peer, request, "/v1/chat/completions", Dialect::OpenAi).await
}

async fn messages(state: State<Gateway>, peer: ConnectInfo<SocketAddr>, request: Request) -> Response {
    complete(state, peer, request, "/v1/messages", Dialect::Anthropic).await
}

/// Identity and permission: the key, and the client's address against its allowlist.
fn admit_key(
    gateway: &Gateway,
    flight: &mut Flight,
    headers: &HeaderMap,
    ip: IpAddr,
) -> Result<Arc<GatewayKey>, GatewayError> {
    let key = identity::authenticate(&gateway.catalog.current(), headers, flight.dialect())?;
    // Known from here on, so the owner finds even a refused request in their usage logs.
    flight.identify(&key);
    identity::check_usable(&key, now_ms())?;
    identity::check_ip(&key, ip)?;
    Ok(key)
}

/// The model checks: in the catalog, active, allowed for this key.
fn admit_model(gateway: &Gateway, key: &GatewayKey, code: &str) -> Result<Arc<CatalogModel>, GatewayError> {
    let model =
        gateway.catalog.current().model(code).cloned().ok_or_else(|| GatewayError::ModelNotFound(code.to_owned()))?;
    if model.view.status == ModelStatus::Disabled {
        return Err(GatewayError::ModelDisabled(code.to_owned()));
    }
    let whitelist = &key.policy.model_whitelist;
    if !whitelist.is_empty() && !whitelist.iter().any(|allowed| allowed == code) {
        return Err(GatewayError::ModelNotAllowed { model: code.to_owned(), prefix: key.prefix.clone() });
    }
    Ok(model)
}

/// The quota layer: the key's spend cap, then the account's balance, for the worst case.
async fn reserve(
    gateway: &Gateway,
    flight: &mut Flight,
    key: &GatewayKey,
    model: &CatalogModel,
    prompt_estimate: u64,
    max_tokens: u64,
) -> Result<(), GatewayError> {
    let (input_price, output_price) = (model.view.input_price, model.view.output_price);
    let amount = pricing::worst_case(prompt_estimate, max_tokens, input_price, output_price);
    let hold = gateway.purse.reserve(&key.id, &key.account_id, amount).await.map_err(|err| match err {
        ReserveError::KeyQuotaExhausted => GatewayError::KeyQuotaExhausted { prefix: key.prefix.clone() },
        ReserveError::InsufficientBalance => GatewayError::InsufficientBalance { needed: amount },
        ReserveError::Database(cause) => {
            tracing::error!(%cause, request_id = %flight.request_id(), "reserving failed");
            GatewayError::Internal
        }
    })?;
    flight.hold(Charge { hold, input_price, output_price });
    Ok(())
}

struct Admitted {
    request: ClientRequest,
    model: Arc<CatalogModel>,
    slot: Slot,
    served: Served,
}

async fn run_pipeline(
    gateway: &Gateway,
    flight: &mut Flight,
    headers: &HeaderMap,
    body: Body,
    ip: IpAddr,
) -> Result<Admitted, GatewayError> {
    let key = admit_key(gateway, flight, headers, ip)?;
    let request = request::read(headers, body, gateway.max_request_bytes).await?;
    flight.set_model(&request.model);
    flight.set_stream(request.stream);
    let model = admit_model(gateway, &key, &request.model)?;
    // No answer is longer than the model's context window, so no reservation is either.
    let context_window = model.view.context_window.max(1) as u64;
    let max_tokens = request.max_tokens.unwrap_or(model.view.default_max_tokens.max(1) as u64).min(context_window);
    reserve(gateway, flight, &key, &model, request.prompt_estimate, max_tokens).await?;
    let slot = gateway.limits.admit(&key, request.prompt_estimate + max_tokens)?;
    let plan = routing::plan(&model, &gateway.health, MAX_ATTEMPTS);
    if plan.is_empty() {
        return Err(GatewayError::NoAvailableChannel(model.view.code.clone()));
    }
    let served = upstream::serve(gateway, flight, &request, &model, plan).await?;
    Ok(Admitted { request, model, slot, served })
}

async fn complete(
    State(gateway): State<Gateway>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    request: Request,
    route: &str,
    dialect: Dialect,
) -> Response {
    let (parts, body) = request.into_parts();
    let (mut flight, ip) = board(&gateway, peer, &parts.headers, &parts.extensions, route, dialect);
    let admitted = match run_pipeline(&gateway, &mut flight, &parts.headers, body, ip).await {
        Ok(admitted) => admitted,
        Err(error) => return flight.reject(&error),
    };
    let Admitted { request, model, slot, served } = admitted;
    flight.served_by(&served.channel_id, served.upstream_latency_ms);
    match served.answer {
        Answer::Whole { body, usage } => {
            let usage = usage.unwrap_or_else(|| protocol::Usage {
                prompt_tokens: counted_prompt_tokens(&request),
                completion_tokens: 0,
            });
            flight.set_usage(usage);
            flight.land(200);
            drop(slot);
            ([(header::CONTENT_TYPE, HeaderValue::from_static("application/json"))], body).into_response()
        }
        Answer::Stream { response, protocol } => stream_response(&flight, request, &model)
            .body(stream::Source::Upstream { response, protocol }, flight, slot)
            .into_sse(),
        Answer::Local { events } => {
            stream_response(&flight, request, &model).body(stream::Source::Local { events }, flight, slot).into_sse()
        }
    }
}

/// A stream's relay. Its prompt count stands in until the upstream reports one (OpenAI
/// reports usage only in the last chunk), so a client hanging up early is still charged.
fn stream_response(flight: &Flight, request: ClientRequest, model: &CatalogModel) -> stream::Relay {
    let client_wants_usage = request
        .body
        .get("stream_options")
        .and_then(|o| o.get("include_usage"))
        .and_then(|v| v.as_bool())
        .unwrap_or(false);
    stream::Relay {
        dialect: flight.dialect(),
        response_id: match flight.dialect() {
            Dialect::OpenAi => format!("chatcmpl-{}", flight.request_id()),
            Dialect::Anthropic => format!("msg_{}", flight.request_id()),
        },
        model: model.view.code.clone(),
        prompt_counted: counted_prompt_tokens(&request),
        client_wants_usage,
    }
}

trait IntoSse {
    fn into_sse(self) -> Response;
}

impl IntoSse for Body {
    fn into_sse(self) -> Response {
        let headers = [
            (header::CONTENT_TYPE, HeaderValue::from_static("text/event-stream")),
            (header::CACHE_CONTROL, HeaderValue::from_static("no-cache")),
        ];
        (headers, self).into_response()
    }
}

/// Prompt tokens counted from the messages' text, for upstreams that report none.
fn counted_prompt_tokens(request: &ClientRequest) -> u64 {
    let messages = request.body.get("messages").and_then(|m| m.as_array()).map(Vec::as_slice).unwrap_or_default();
    let system = request.body.get("system").and_then(|s| s.as_str()).map(estimate_tokens).unwrap_or(0);
    system
        + messages
            .iter()
            .filter_map(|message| message.get("content"))
            .map(|content| protocol::text_content(content, "content").map(|text| estimate_tokens(&text)).unwrap_or(0))
            .sum::<u64>()
}

/// `GET /v1/models`: the active models this key may call, in OpenAI's list shape.
async fn models(
    State(gateway): State<Gateway>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    request: Request,
) -> Response {
    let (parts, _) = request.into_parts();
    let (mut flight, ip) = board(&gateway, peer, &parts.headers, &parts.extensions, "/v1/models", Dialect::OpenAi);
    let key = match admit_key(&gateway, &mut flight, &parts.headers, ip) {
        Ok(key) => key,
        Err(error) => return flight.reject(&error),
    };
    let snapshot = gateway.catalog.current();
    let whitelist = &key.policy.model_whitelist;
    let data: Vec<_> = snapshot
        .models()
        .filter(|model| model.view.status == ModelStatus::Active)
        .filter(|model| whitelist.is_empty() || whitelist.contains(&model.view.code))
        .map(|model| json!({"id": model.view.code, "object": "model", "created": 0, "owned_by": "tollgate"}))
        .collect();
    flight.land(200);
    axum::Json(json!({"object": "list", "data": data})).into_response()
}

async fn unknown_route(
    State(gateway): State<Gateway>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    method: Method,
    OriginalUri(uri): OriginalUri,
    request: Request,
) -> Response {
    refuse_route(
        gateway,
        peer,
        request,
        GatewayError::UnknownRoute { method: method.to_string(), path: uri.path().to_owned() },
    )
    .await
}

async fn method_not_allowed(
    State(gateway): State<Gateway>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    method: Method,
    OriginalUri(uri): OriginalUri,
    request: Request,
) -> Response {
    let error = GatewayError::MethodNotAllowed { method: method.to_string(), path: uri.path().to_owned() };
    refuse_route(gateway, peer, request, error).await
}

async fn refuse_route(gateway: Gateway, peer: SocketAddr, request: Request, error: GatewayError) -> Response {
    let path = request.uri().path().to_owned();
    let dialect = if path.starts_with("/v1/messages") { Dialect::Anthropic } else { Dialect::OpenAi };
    let (flight, _) = board(&gateway, peer, request.headers(), request.extensions(), &path, dialect);
    flight.reject(&error)
}
