//! Liveness and readiness probes.

use app::limits::Engine;
use app::state::AppState;
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde_json::{json, Value};

/// The process is up and serving.
pub async fn live() -> Json<Value> {
    Json(json!({ "status": "ok" }))
}

/// The process can do its job: the database answers. The body also says which instance
/// answered, how many share the database (live ones, as of this instance's last heartbeat)
/// and where rate limits are counted (`local`, `shared` in Redis, or `down` with the policy
/// in force); a Redis outage does not take the instance out of rotation, since every
/// instance shares that Redis and the policy keeps the limits.
pub async fn ready(State(state): State<AppState>) -> (StatusCode, Json<Value>) {
    let (status, mut body) = match state.db.ping().await {
        Ok(()) => (StatusCode::OK, json!({ "status": "ready", "database": "ok" })),
        Err(err) => {
            tracing::warn!(error = %err, "readiness check failed");
            (StatusCode::SERVICE_UNAVAILABLE, json!({ "status": "unavailable", "database": "unreachable" }))
        }
    };
    body["instance"] = state.instance.id().into();
    body["live_instances"] = state.instance.live_instances().into();
    let engine = state.limiter.engine();
    body["rate_limiter"] = engine.as_str().into();
    if let Engine::Down(policy) = engine {
        body["when_redis_fails"] = policy.as_str().into();
    }
    (status, Json(body))
}
