//! Structured logs: `RUST_LOG`-style filtering, text or JSON lines.

use crate::config::LogFormat;
use tracing_subscriber::{fmt, EnvFilter};

pub fn init(format: LogFormat) {
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn,tower_sessions=warn"));
    // Logs on stderr; stdout carries only the operator's start-up lines.
    let builder = fmt().with_env_filter(filter).with_target(false).with_writer(std::io::stderr);
    // A second initialisation (tests start many servers) is harmless: keep the first.
    let _ = match format {
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
        LogFormat::Text => builder.try_init(),
    };
}
