//! Prometheus metrics: requests by route, status, code and model; latency of the whole
//! request, of the upstream, and the gateway's own overhead; upstream failovers.

use app::usage::UsageRecord;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use std::sync::OnceLock;

const LATENCY_BUCKETS: &[f64] = &[
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
];

/// The process-wide recorder (one per process, however many servers tests start).
pub fn handle() -> &'static PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE.get_or_init(|| {
        PrometheusBuilder::new()
            .set_buckets_for_metric(Matcher::Suffix("seconds".into()), LATENCY_BUCKETS)
            .expect("static buckets are valid")
            .install_recorder()
            .expect("no other metrics recorder is installed")
    })
}

/// Histogram samples pile up in the recorder until something drains them. A scrape does,
/// but a gateway nobody scrapes would hold every request's samples for ever: this drains
/// them on an interval, as the exporter's own server would.
pub async fn drain_histograms(every: std::time::Duration) {
    let mut ticker = tokio::time::interval(every);
    loop {
        ticker.tick().await;
        handle().run_upkeep();
    }
}

/// The process's metrics, then this server's write queues: how many usage rows and charges
/// wait for the database. The queues are the server's own, not the process recorder's (tests
/// run many servers in one process), so their gauges are written here as the exporter would.
pub fn render(usage_rows: usize, charges: usize) -> String {
    use std::fmt::Write;
    let mut text = handle().render();
    for (name, help, value) in [
        ("tollgate_usage_queue_rows", "Usage rows waiting to be written.", usage_rows),
        ("tollgate_charge_queue_rows", "Charges waiting to be written.", charges),
    ] {
        write!(text, "# HELP {name} {help}\n# TYPE {name} gauge\n{name} {value}\n").expect("writing to a String");
    }
    text
}

/// A label for what the client sent must come from a bounded set, or every new path or
/// model name a stranger sends is a new time series kept for ever.
const UNKNOWN: &str = "unknown";

fn route_label(record: &UsageRecord) -> String {
    match record.error_code.as_deref() {
        // An overloaded refusal is shed before anything is checked, the route included.
        Some("unknown_route" | "method_not_allowed" | "overloaded") => UNKNOWN.to_owned(),
        _ => record.route.clone(),
    }
}

fn model_label(record: &UsageRecord) -> String {
    match record.error_code.as_deref() {
        Some("model_not_found") => UNKNOWN.to_owned(),
        _ => record.model.clone().unwrap_or_default(),
    }
}

pub fn request_finished(record: &UsageRecord) {
    let route = route_label(record);
    let labels = [
        ("route", route.clone()),
        ("status", record.status.to_string()),
        ("code", record.error_code.clone().unwrap_or_default()),
        ("model", model_label(record)),
    ];
    metrics::counter!("tollgate_requests_total", &labels).increment(1);
    let total = record.latency_ms as f64 / 1000.0;
    metrics::histogram!("tollgate_request_duration_seconds", "route" => route.clone()).record(total);
    if let Some(upstream_ms) = record.upstream_latency_ms {
        let upstream = upstream_ms as f64 / 1000.0;
        metrics::histogram!("tollgate_upstream_duration_seconds", "route" => route.clone()).record(upstream);
        metrics::histogram!("tollgate_gateway_overhead_seconds", "route" => route).record((total - upstream).max(0.0));
    }
    for attempt in &record.attempts {
        let outcome = match attempt.status {
            Some(status) if status < 500 => "answered".to_owned(),
            Some(_) => "server_error".to_owned(),
            None => attempt.error.clone().unwrap_or_else(|| "failed".into()),
        };
        metrics::counter!("tollgate_upstream_attempts_total", "channel" => attempt.channel_id.clone(), "outcome" => outcome)
            .increment(1);
    }
}

pub fn failover(channel_id: &str) {
    metrics::counter!("tollgate_upstream_failovers_total", "channel" => channel_id.to_owned()).increment(1);
}

/// An upstream reported more usage than the request held: the excess is not charged.
pub fn charge_overrun(micro: i64) {
    metrics::counter!("tollgate_charge_overruns_total").increment(1);
    metrics::counter!("tollgate_charge_overrun_micro_total").increment(micro.max(0) as u64);
}
