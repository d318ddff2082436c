//! The data plane: the routes of four dialects (OpenAI Chat Completions and Responses,
//! Anthropic Messages, Google Gemini), embeddings, token counting and model lists.
//!
//! `request → identity → permission → quota → rate_limit → routing → upstream → settle → log`:
//! each layer passes the request on or answers with the contract's error naming itself.
//! Keys, models and channels are read from memory, money is held in memory against a
//! lease and charged in batches, and the usage row leaves through a batch writer: a
//! request touches the database only when the lease runs short (`app::billing::reservations`).

pub mod catalog;
mod client_ip;
mod counting;
pub mod dialect;
mod echo;
mod embeddings;
pub mod error;
mod flight;
mod identity;
mod limits;
pub mod metrics;
pub mod probe;
mod redact;
mod request;
mod routing;
mod scan;
mod stream;
pub mod tokens;
mod upstream;
pub mod usage_writer;

use crate::http::client::HttpClient;
use crate::http::request_id::ClientRequestId;
use app::billing::pricing::{self, Prices};
use app::billing::reservations::{Purse, ReserveError};
use app::clock::now_ms;
use app::models::ModelStatus;
use app::state::AppState;
use axum::body::Body;
use axum::extract::{ConnectInfo, OriginalUri, Path, Request, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, HeaderValue, Method};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use catalog::{Catalog, CatalogModel, Endpoint, GatewayKey};
use dialect::conversation::{StreamEvent, StreamStart, Usage};
use dialect::Dialect;
use error::GatewayError;
use flight::Charge;
use flight::Flight;
use ipnet::IpNet;
pub use request::BodyLimits;
use request::{ClientRequest, Envelope};
use routing::Health;
use serde_json::{json, Value};
use std::net::{IpAddr, SocketAddr};
use std::ops::Deref;
use std::sync::Arc;
use upstream::{Answer, Call, Served};
use usage_writer::UsageWriter;

/// Upstream channels tried per request before giving up.
const MAX_ATTEMPTS: usize = 3;
/// What an `overloaded` refusal asks clients to wait: a few of the writers' flush intervals.
const OVERLOADED_RETRY_AFTER_SECS: u64 = 1;

pub struct Inner {
    pub app: AppState,
    pub catalog: Arc<Catalog>,
    pub usage: UsageWriter,
    pub purse: Purse,
    health: Health,
    http: HttpClient,
    trusted_proxies: Vec<IpNet>,
    body_limits: BodyLimits,
    write_queue_limit: usize,
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
    pub body_limits: BodyLimits,
    /// Usage rows, and charges, that may wait for the database before requests are refused.
    pub write_queue_limit: usize,
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
            health: Health::default(),
            http: HttpClient::default(),
            trusted_proxies: settings.trusted_proxies,
            body_limits: settings.body_limits,
            write_queue_limit: settings.write_queue_limit,
        }))
    }
}

pub fn router(gateway: Gateway) -> Router {
    let v1 = Router::new()
        .route("/chat/completions", post(chat_completions))
        .route("/responses", post(responses))
        .route("/messages", post(messages))
        .route("/messages/count_tokens", post(count_tokens))
        .route("/embeddings", post(create_embeddings))
        .route("/models", get(models))
        .route("/models/{*action}", post(gemini))
        .fallback(unknown_route)
        .method_not_allowed_fallback(method_not_allowed);
    let v1beta = Router::new()
        .route("/models", get(gemini_models))
        .route("/models/{*action}", post(gemini))
        .fallback(unknown_route)
        .method_not_allowed_fallback(method_not_allowed);
    Router::new().nest("/v1", v1).nest("/v1beta", v1beta).route("/metrics", get(metrics_page)).with_state(gateway)
}

async fn metrics_page(State(gateway): State<Gateway>) -> String {
    metrics::render(gateway.usage.backlog(), gateway.purse.unwritten_charges())
}

/// The start of every data-plane request: its flight (and so its usage row), or the
/// refusal when the gateway is overloaded (boxed: a response is large, and this is rare).
fn board(
    gateway: &Gateway,
    peer: SocketAddr,
    parts: &Parts,
    route: &str,
    dialect: Dialect,
) -> Result<(Flight, IpAddr), Box<Response>> {
    let ip = client_ip::canonical(client_ip::resolve(peer.ip(), &parts.headers, &gateway.trusted_proxies));
    let client_request_id = parts.extensions.get::<ClientRequestId>().map(|id| id.0.clone());
    let flight = Flight::begin(gateway.usage.clone(), route, dialect, ip.to_string(), client_request_id);
    match check_backlog(gateway) {
        Ok(()) => Ok((flight, ip)),
        Err(error) => Err(Box::new(flight.shed(&error))),
    }
}

/// Back-pressure: while the database cannot keep up, the usage rows and charges waiting
/// for it are held in memory. A request admitted adds one row and at most one charge, so
/// refusing new ones once either queue reaches the limit bounds both by the limit plus
/// the requests in flight, and nothing answered is ever dropped.
fn check_backlog(gateway: &Gateway) -> Result<(), GatewayError> {
    let waiting = gateway.usage.backlog().max(gateway.purse.unwritten_charges());
    if waiting >= gateway.write_queue_limit {
        return Err(GatewayError::Overloaded { retry_after: OVERLOADED_RETRY_AFTER_SECS });
    }
    Ok(())
}

async fn chat_completions(state: State<Gateway>, peer: ConnectInfo<SocketAddr>, request: Request) -> Response {
    let envelope = Envelope::Generate { dialect: Dialect::Chat, path_model: None, path_stream: false };
    complete(state, peer, request, "/v1/chat/completions", Dialect::Chat, envelope).await
}

async fn responses(state: State<Gateway>, peer: ConnectInfo<SocketAddr>, request: Request) -> Response {
    let envelope = Envelope::Generate { dialect: Dialect::Responses, path_model: None, path_stream: false };
    complete(state, peer, request, "/v1/responses", Dialect::Responses, envelope).await
}

async fn messages(state: State<Gateway>, peer: ConnectInfo<SocketAddr>, request: Request) -> Response {
    let envelope = Envelope::Generate { dialect: Dialect::Anthropic, path_model: None, path_stream: false };
    complete(state, peer, request, "/v1/messages", Dialect::Anthropic, envelope).await
}

async fn create_embeddings(state: State<Gateway>, peer: ConnectInfo<SocketAddr>, request: Request) -> Response {
    complete(state, peer, request, "/v1/embeddings", Dialect::Chat, Envelope::Embeddings).await
}

async fn count_tokens(state: State<Gateway>, peer: ConnectInfo<SocketAddr>, request: Request) -> Response {
    counting::count(state.0, peer.0, request, "/v1/messages/count_tokens", Dialect::Anthropic, None).await
}

/// `POST /{v1beta|v1}/models/{model}:{method}`: the model and the method share the last
/// path segment, and a model code may itself contain `/`.
async fn gemini(
    state: State<Gateway>,
    peer: ConnectInfo<SocketAddr>,
    Path(action): Path<String>,
    request: Request,
) -> Response {
    // The route is the template, not the path: the model is in the row's own column.
    let version = if request.uri().path().starts_with("/v1beta/") { "/v1beta" } else { "/v1" };
    let (model, method) = action.rsplit_once(':').unwrap_or((action.as_str(), ""));
    let route = format!("{version}/models/{{model}}:{method}");
    let path_model = Some(model.to_owned());
    match method {
        "generateContent" | "streamGenerateContent" => {
            let path_stream = method == "streamGenerateContent";
            let envelope = Envelope::Generate { dialect: Dialect::Gemini, path_model, path_stream };
            complete(state, peer, request, &route, Dialect::Gemini, envelope).await
        }
        "countTokens" => counting::count(state.0, peer.0, request, &route, Dialect::Gemini, path_model).await,
        _ => {
            let path = request.uri().path().to_owned();
            let error = GatewayError::UnknownRoute { method: Method::POST.to_string(), path };
            refuse_route(state.0, peer.0, request, error).await
        }
    }
}

/// Identity and permission: the key, and the client's address against its allowlist.
fn admit_key(
    gateway: &Gateway,
    flight: &mut Flight,
    parts: &Parts,
    ip: IpAddr,
) -> Result<Arc<GatewayKey>, GatewayError> {
    let key = identity::authenticate(&gateway.catalog.current(), &parts.headers, parts.uri.query(), flight.dialect())?;
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
    let prices = Prices::of(&model.view);
    let amount = pricing::worst_case(prompt_estimate, max_tokens, &prices);
    let hold = gateway.purse.reserve(&key.id, &key.account_id, amount).await.map_err(|err| match err {
        ReserveError::KeyQuotaExhausted => GatewayError::KeyQuotaExhausted { prefix: key.prefix.clone() },
        ReserveError::InsufficientBalance => GatewayError::InsufficientBalance { needed: amount },
        ReserveError::Database(cause) | ReserveError::Unregistered(cause) => {
            tracing::error!(%cause, request_id = %flight.request_id(), "reserving failed");
            GatewayError::Internal
        }
    })?;
    flight.hold(Charge { hold, prices });
    Ok(())
}

/// The most one answer may generate: the client's cap, or the model's default, and never
/// more than the model's context window.
fn output_cap(request: &ClientRequest, model: &CatalogModel) -> u64 {
    let context_window = model.view.context_window.max(1) as u64;
    request.max_tokens.unwrap_or(model.view.default_max_tokens.max(1) as u64).min(context_window)
}

struct Admitted {
    request: ClientRequest,
    model: Arc<CatalogModel>,
    /// The key's `x-ratelimit-*` standing after this request was admitted.
    rate_headers: HeaderMap,
    served: Served,
    /// Tool offers the translation left out, for `x-tollgate-omitted-tools`.
    omitted: Vec<String>,
}

async fn run_pipeline(
    gateway: &Gateway,
    flight: &mut Flight,
    parts: &Parts,
    body: Body,
    ip: IpAddr,
    envelope: Envelope,
) -> Result<Admitted, GatewayError> {
    let key = admit_key(gateway, flight, parts, ip)?;
    let embedding = matches!(envelope, Envelope::Embeddings);
    let request = request::read(&parts.headers, body, &gateway.body_limits, envelope).await?;
    if embedding {
        embeddings::check(&request)?;
    }
    flight.set_model(&request.model);
    flight.set_stream(request.stream);
    let model = admit_model(gateway, &key, &request.model)?;
    // Embeddings generate nothing.
    let max_tokens = match embedding {
        true => 0,
        false => output_cap(&request, &model).saturating_mul(request.choices),
    };
    reserve(gateway, flight, &key, &model, request.prompt_estimate, max_tokens).await?;
    let admission =
        limits::admit(&gateway.app.limiter, &key, flight.request_id(), request.prompt_estimate + max_tokens).await?;
    let rate_headers = admission.headers();
    flight.limited(admission);
    let mut plan = routing::plan(&model, &gateway.health, MAX_ATTEMPTS);
    if embedding {
        plan.retain(embeddings::can_embed);
    }
    if plan.is_empty() {
        return Err(GatewayError::NoAvailableChannel(model.view.code.clone()));
    }
    let endpoint = if embedding { Endpoint::Embeddings } else { Endpoint::Generate { stream: request.stream } };
    let call = Call::new(flight.dialect(), endpoint, &parts.headers);
    let served = upstream::serve(gateway, flight, &request, &call, &model, plan).await?;
    let omitted = call.omitted().to_vec();
    Ok(Admitted { request, model, rate_headers, served, omitted })
}

async fn complete(
    State(gateway): State<Gateway>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    request: Request,
    route: &str,
    dialect: Dialect,
    envelope: Envelope,
) -> Response {
    let embedding = matches!(envelope, Envelope::Embeddings);
    let (parts, body) = request.into_parts();
    let (mut flight, ip) = match board(&gateway, peer, &parts, route, dialect) {
        Ok(boarded) => boarded,
        Err(refused) => return *refused,
    };
    let admitted = match run_pipeline(&gateway, &mut flight, &parts, body, ip, envelope).await {
        Ok(admitted) => admitted,
        Err(error) => return flight.reject(&error),
    };
    let Admitted { request, model, rate_headers, served, omitted } = admitted;
    flight.served_by(&served.channel_id, served.protocol, served.upstream_latency_ms);
    let mut response = match served.answer {
        Answer::Whole { body, usage } => {
            let reported = match embedding {
                true => usage.or_else(|| embeddings::usage_in(&body).ok().flatten()),
                false => usage,
            };
            let counted = || Usage { prompt_tokens: tokens::count_body_texts(request.raw()), ..Usage::default() };
            flight.set_usage(reported.unwrap_or_else(counted));
            flight.land(200);
            ([(header::CONTENT_TYPE, HeaderValue::from_static("application/json"))], body).into_response()
        }
        Answer::Stream { response, channel } => {
            let prompt_tokens = announced_prompt_tokens(dialect, channel != dialect, &request, None);
            relay(&flight, request, &model, prompt_tokens)
                .body(stream::Source::Upstream { response, channel }, flight)
                .into_sse()
        }
        Answer::Local { events } => {
            let prompt_tokens = announced_prompt_tokens(dialect, true, &request, Some(&events));
            relay(&flight, request, &model, prompt_tokens).body(stream::Source::Local { events }, flight).into_sse()
        }
    };
    let headers = response.headers_mut();
    headers.extend(served.relayed);
    // The key's own limits are the ones this client is held to: they replace the upstream's.
    headers.extend(rate_headers);
    if let Ok(value) = HeaderValue::try_from(omitted.join(", ")) {
        if !omitted.is_empty() {
            headers.insert(OMITTED_TOOLS_HEADER, value);
        }
    }
    response
}

/// Names the tool offers a translated request left out (api-contract.md: never silently).
const OMITTED_TOOLS_HEADER: &str = "x-tollgate-omitted-tools";

/// The prompt count a stream announces before its upstream reports one: only Anthropic's
/// `message_start` carries it, and a translated stream must not say zero there.
fn announced_prompt_tokens(
    client: Dialect,
    translated: bool,
    request: &ClientRequest,
    local: Option<&[StreamEvent]>,
) -> u64 {
    if client != Dialect::Anthropic || !translated {
        return 0;
    }
    let reported = local.into_iter().flatten().find_map(|event| match event {
        StreamEvent::Usage(report) => report.prompt_tokens,
        _ => None,
    });
    reported.unwrap_or_else(|| tokens::count_body_texts(request.raw()))
}

fn relay(flight: &Flight, request: ClientRequest, model: &CatalogModel, prompt_tokens: u64) -> stream::Relay {
    let client = flight.dialect();
    stream::Relay {
        client,
        start: StreamStart {
            id: client.answer_id(flight.request_id()),
            model: model.view.code.clone(),
            prompt_tokens,
            include_usage: request.include_usage,
        },
        // The running stand-in for an unreported prompt count: about four bytes a token.
        prompt_estimate: request.prompt_estimate.div_ceil(4),
        body: request.raw().clone(),
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

/// The active models a key may call.
fn callable_models(gateway: &Gateway, key: &GatewayKey) -> Vec<Arc<CatalogModel>> {
    let whitelist = &key.policy.model_whitelist;
    gateway
        .catalog
        .current()
        .models()
        .filter(|model| model.view.status == ModelStatus::Active)
        .filter(|model| whitelist.is_empty() || whitelist.contains(&model.view.code))
        .cloned()
        .collect()
}

/// A model list for a key, or the refusal; one usage row either way.
fn list_models(
    gateway: &Gateway,
    peer: SocketAddr,
    request: Request,
    dialect: Dialect,
    render: impl FnOnce(&[Arc<CatalogModel>]) -> Value,
) -> Response {
    let (parts, _) = request.into_parts();
    let route = parts.uri.path().to_owned();
    let (mut flight, ip) = match board(gateway, peer, &parts, &route, dialect) {
        Ok(boarded) => boarded,
        Err(refused) => return *refused,
    };
    let key = match admit_key(gateway, &mut flight, &parts, ip) {
        Ok(key) => key,
        Err(error) => return flight.reject(&error),
    };
    let body = render(&callable_models(gateway, &key));
    flight.land(200);
    axum::Json(body).into_response()
}

/// `GET /v1/models`: OpenAI's list shape, with the fields Anthropic's list adds
/// (`display_name`, `type`, `has_more`) so Claude Code's model discovery reads it too.
async fn models(
    State(gateway): State<Gateway>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    request: Request,
) -> Response {
    let dialect = if request.headers().contains_key("x-api-key") { Dialect::Anthropic } else { Dialect::Chat };
    list_models(&gateway, peer, request, dialect, |models| {
        let data: Vec<_> = models
            .iter()
            .map(|model| {
                json!({"id": model.view.code, "object": "model", "created": 0, "owned_by": "tollgate",
                       "type": "model", "display_name": model.view.name, "created_at": "1970-01-01T00:00:00Z"})
            })
            .collect();
        let (first, last) = (models.first().map(|m| &m.view.code), models.last().map(|m| &m.view.code));
        json!({"object": "list", "data": data, "has_more": false, "first_id": first, "last_id": last})
    })
}

/// `GET /v1beta/models`: Gemini's list shape.
async fn gemini_models(
    State(gateway): State<Gateway>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    request: Request,
) -> Response {
    list_models(&gateway, peer, request, Dialect::Gemini, |models| {
        let models: Vec<_> = models
            .iter()
            .map(|model| {
                json!({
                    "name": format!("models/{}", model.view.code),
                    "displayName": model.view.name,
                    "inputTokenLimit": model.view.context_window,
                    "outputTokenLimit": model.view.default_max_tokens,
                    "supportedGenerationMethods": ["generateContent", "streamGenerateContent", "countTokens"],
                })
            })
            .collect();
        json!({"models": models})
    })
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

/// The dialect of a path, for the envelope of its refusal.
fn dialect_of_path(path: &str) -> Dialect {
    if path.starts_with("/v1/messages") {
        Dialect::Anthropic
    } else if path.starts_with("/v1beta/") || (path.starts_with("/v1/models/") && path.contains(':')) {
        Dialect::Gemini
    } else if path.starts_with("/v1/responses") {
        Dialect::Responses
    } else {
        Dialect::Chat
    }
}

async fn refuse_route(gateway: Gateway, peer: SocketAddr, request: Request, error: GatewayError) -> Response {
    let path = request.uri().path().to_owned();
    let (parts, _) = request.into_parts();
    match board(&gateway, peer, &parts, &path, dialect_of_path(&path)) {
        Ok((flight, _)) => flight.reject(&error),
        Err(refused) => *refused,
    }
}
