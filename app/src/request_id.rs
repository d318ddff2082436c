//! The gateway's own request id: a UUIDv7, fresh for every request.
//!
//! The HTTP middleware runs each request inside [`scope`], so code deep in a handler
//! (error bodies, log rows) can read it without threading it through every call.

use std::future::Future;
use uuid::Uuid;

tokio::task_local! {
    static REQUEST_ID: String;
}

pub fn generate() -> String {
    Uuid::now_v7().to_string()
}

/// Runs `future` with `id` as the current request id.
pub async fn scope<F: Future>(id: String, future: F) -> F::Output {
    REQUEST_ID.scope(id, future).await
}

/// The id of the request being served, or `None` outside a request.
pub fn current() -> Option<String> {
    REQUEST_ID.try_with(Clone::clone).ok()
}
