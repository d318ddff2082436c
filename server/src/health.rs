//! Liveness and readiness probes.

use app::state::AppState;
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde_json::{json, Value};

/// The process is up and serving.
pub async fn live() -> Json<Value> {
    Json(json!({ "status": "ok" }))
}

/// The process can do its job: the database answers. Says which instance answered and
/// how many share the database (live ones, as of this instance's last heartbeat).
pub async fn ready(State(state): State<AppState>) -> (StatusCode, Json<Value>) {
    match state.db.ping().await {
        Ok(()) => {
            let (instance, live_instances) = (state.instance.id(), state.instance.live_instances());
            let body =
                json!({ "status": "ready", "database": "ok", "instance": instance, "live_instances": live_instances });
            (StatusCode::OK, Json(body))
        }
        Err(err) => {
            tracing::warn!(error = %err, "readiness check failed");
            (StatusCode::SERVICE_UNAVAILABLE, Json(json!({ "status": "unavailable", "database": "unreachable" })))
        }
    }
}
