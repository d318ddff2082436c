//! The client that calls upstreams: hyper's pooled connections, over rustls for `https`.
//!
//! Not reqwest, which wraps this same client: the gateway follows no redirects and sets a
//! handful of headers, yet reqwest re-parses every request's URL for its redirect policy
//! and copies its header map per request, about 5 % of the gateway's CPU under load.

use bytes::Bytes;
use futures_util::{Stream, TryStreamExt};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::header::{HeaderValue, CONTENT_TYPE};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioTimer};
use std::time::Duration;

pub type Request = hyper::Request<Full<Bytes>>;
pub type Response = hyper::Response<Incoming>;

/// Why a call or the reading of its answer failed, in words safe to show: never the URL,
/// which may carry credentials.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum CallError {
    #[error("timeout")]
    Timeout,
    #[error("connection failed")]
    Connect,
    #[error("transport error")]
    Transport,
    #[error("the channel's base URL or credential cannot be sent over HTTP")]
    UnusableChannel,
}

#[derive(Clone)]
pub struct HttpClient {
    client: Client<HttpsConnector<HttpConnector>, Full<Bytes>>,
}

impl Default for HttpClient {
    fn default() -> Self {
        let mut http = HttpConnector::new();
        http.set_nodelay(true);
        http.set_connect_timeout(Some(Duration::from_secs(10)));
        // The TLS layer below decides between http and https.
        http.enforce_http(false);
        let connector = hyper_rustls::HttpsConnectorBuilder::new()
            .with_webpki_roots()
            .https_or_http()
            .enable_http1()
            .wrap_connector(http);
        let client = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(Duration::from_secs(90))
            // Without a timer the pool never expires idle connections.
            .pool_timer(TokioTimer::new())
            .build(connector);
        HttpClient { client }
    }
}

impl HttpClient {
    pub async fn send(&self, request: Request) -> Result<Response, CallError> {
        self.client.request(request).await.map_err(|err| {
            if !err.is_connect() {
                CallError::Transport
            } else if caused_by_timeout(&err) {
                CallError::Timeout
            } else {
                CallError::Connect
            }
        })
    }
}

/// A POST of `body` as JSON to `uri`; the caller adds its credentials to the headers.
pub fn post_json(uri: hyper::Uri, body: impl Into<Bytes>) -> Request {
    let mut request = hyper::Request::new(Full::new(body.into()));
    *request.method_mut() = hyper::Method::POST;
    *request.uri_mut() = uri;
    request.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    request
}

/// The whole answer body.
pub async fn read_body(response: Response) -> Result<Bytes, CallError> {
    let collected = response.into_body().collect().await.map_err(|_| CallError::Transport)?;
    Ok(collected.to_bytes())
}

/// The answer body as it arrives, read by read.
pub fn body_stream(response: Response) -> impl Stream<Item = Result<Bytes, CallError>> {
    response.into_body().into_data_stream().map_err(|_| CallError::Transport)
}

fn caused_by_timeout(err: &(dyn std::error::Error + 'static)) -> bool {
    let mut source = Some(err);
    while let Some(err) = source {
        if err.downcast_ref::<std::io::Error>().is_some_and(|io| io.kind() == std::io::ErrorKind::TimedOut) {
            return true;
        }
        source = err.source();
    }
    false
}
