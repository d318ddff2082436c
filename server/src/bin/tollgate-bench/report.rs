//! The results: one table on standard output and the same figures as JSON.

use crate::database::Backend;
use crate::error::BenchError;
use crate::load::{ClosedLoop, OpenLoop};
use crate::process::CpuUse;
use hdrhistogram::Histogram;
use serde::Serialize;
use std::path::Path;

/// A row whose target delivered less than this share of the offered rate measures
/// queueing, not overhead.
const DELIVERED_THRESHOLD: f64 = 0.95;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Mode {
    NonStreaming,
    Streaming,
}

impl Mode {
    fn label(self) -> &'static str {
        match self {
            Mode::NonStreaming => "whole",
            Mode::Streaming => "stream",
        }
    }
}

#[derive(Debug, Clone, Copy, Serialize)]
pub struct Percentiles {
    pub p50_ms: f64,
    pub p90_ms: f64,
    pub p99_ms: f64,
}

impl Percentiles {
    pub fn of(histogram: &Histogram<u64>) -> Percentiles {
        let ms = |quantile| histogram.value_at_quantile(quantile) as f64 / 1000.0;
        Percentiles { p50_ms: ms(0.50), p90_ms: ms(0.90), p99_ms: ms(0.99) }
    }

    fn minus(&self, other: &Percentiles) -> Percentiles {
        Percentiles {
            p50_ms: self.p50_ms - other.p50_ms,
            p90_ms: self.p90_ms - other.p90_ms,
            p99_ms: self.p99_ms - other.p99_ms,
        }
    }
}

#[derive(Debug, Serialize)]
pub struct Side {
    pub latency: Percentiles,
    pub ok: u64,
    pub errors: u64,
    pub achieved_rps: f64,
}

impl Side {
    fn of(run: &OpenLoop) -> Side {
        Side {
            latency: Percentiles::of(&run.latency),
            ok: run.ok,
            errors: run.errors,
            achieved_rps: run.achieved_rps(),
        }
    }
}

#[derive(Debug, Serialize)]
pub struct RateRow {
    pub mode: Mode,
    pub offered_rps: u32,
    pub direct: Side,
    pub gateway: Side,
    /// Gateway minus direct, percentile by percentile.
    pub overhead: Percentiles,
    /// Either side delivered under 95 % of the offered rate.
    pub queueing: bool,
    /// Tollgate's peak resident memory during its run at this rate.
    pub gateway_peak_rss_mib: Option<f64>,
}

impl RateRow {
    pub fn new(
        mode: Mode,
        offered_rps: u32,
        direct: &OpenLoop,
        gateway: &OpenLoop,
        gateway_peak_rss_mib: Option<f64>,
    ) -> RateRow {
        let (direct, gateway) = (Side::of(direct), Side::of(gateway));
        let floor = f64::from(offered_rps) * DELIVERED_THRESHOLD;
        let queueing = direct.achieved_rps < floor || gateway.achieved_rps < floor;
        let overhead = gateway.latency.minus(&direct.latency);
        RateRow { mode, offered_rps, overhead, direct, gateway, queueing, gateway_peak_rss_mib }
    }
}

/// One closed-loop run and the CPU time each process spent during it.
pub struct Run<'a> {
    pub outcome: &'a ClosedLoop,
    pub cpu: CpuUse,
}

/// CPU microseconds per request answered, by process: unlike the RPS ratio, this does
/// not depend on how the scheduler shared the cores between the three processes.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct CpuPerRequest {
    pub generator_us: f64,
    pub mock_us: f64,
    pub gateway_us: f64,
}

impl CpuPerRequest {
    fn of(run: &Run) -> CpuPerRequest {
        let requests = (run.outcome.ok + run.outcome.errors).max(1) as f64;
        let us = |spent: std::time::Duration| spent.as_secs_f64() * 1e6 / requests;
        CpuPerRequest { generator_us: us(run.cpu.generator), mock_us: us(run.cpu.mock), gateway_us: us(run.cpu.gateway) }
    }
}

#[derive(Debug, Serialize)]
pub struct Throughput {
    pub mode: Mode,
    pub concurrency: usize,
    pub direct_rps: f64,
    pub direct_error_rate: f64,
    pub gateway_rps: f64,
    pub gateway_error_rate: f64,
    /// Gateway RPS over direct RPS.
    pub ratio: f64,
    pub direct_cpu: CpuPerRequest,
    pub gateway_cpu: CpuPerRequest,
}

impl Throughput {
    pub fn new(mode: Mode, concurrency: usize, direct: Run, gateway: Run) -> Throughput {
        let (direct_rps, gateway_rps) = (direct.outcome.rps(), gateway.outcome.rps());
        Throughput {
            mode,
            concurrency,
            direct_rps,
            direct_error_rate: direct.outcome.error_rate(),
            gateway_rps,
            gateway_error_rate: gateway.outcome.error_rate(),
            ratio: gateway_rps / direct_rps.max(f64::EPSILON),
            direct_cpu: CpuPerRequest::of(&direct),
            gateway_cpu: CpuPerRequest::of(&gateway),
        }
    }
}

#[derive(Debug, Serialize)]
pub struct Report {
    pub database: Backend,
    pub cores: usize,
    pub seconds_per_run: u64,
    pub rates: Vec<RateRow>,
    pub throughput: Vec<Throughput>,
    pub tollgate_peak_rss_mib: Option<f64>,
}

impl Report {
    pub fn print(&self) {
        println!(
            "\nTollgate benchmark: {:?}, {} cores shared by generator, mock and gateway, {} s per run",
            self.database, self.cores, self.seconds_per_run
        );
        println!("latency in ms from the intended send time to the last byte (open loop, corrected)\n");
        println!(
            "{:<7}{:>6} | {:>23} | {:>23} | {:>23} | {:>15} | {:>9} | {:>7}",
            "mode",
            "rps",
            "direct p50/p90/p99",
            "gateway p50/p90/p99",
            "overhead p50/p90/p99",
            "achieved d/g",
            "errors",
            "gw MiB"
        );
        for row in &self.rates {
            let flag = if row.queueing { "  queueing" } else { "" };
            println!(
                "{:<7}{:>6} | {} | {} | {} | {:>7.0}/{:<7.0} | {:>4}/{:<4} | {:>7}{flag}",
                row.mode.label(),
                row.offered_rps,
                triple(&row.direct.latency),
                triple(&row.gateway.latency),
                triple(&row.overhead),
                row.direct.achieved_rps,
                row.gateway.achieved_rps,
                row.direct.errors,
                row.gateway.errors,
                row.gateway_peak_rss_mib.map_or("-".to_owned(), |mib| format!("{mib:.1}")),
            );
        }
        println!("\nmaximum throughput (closed loop)");
        for run in &self.throughput {
            println!(
                "{:<7} concurrency {:>3}: direct {:>7.0} rps ({:.2} % errors), gateway {:>7.0} rps ({:.2} % errors), \
                 ratio {:.2}",
                run.mode.label(),
                run.concurrency,
                run.direct_rps,
                run.direct_error_rate * 100.0,
                run.gateway_rps,
                run.gateway_error_rate * 100.0,
                run.ratio,
            );
            let (d, g) = (&run.direct_cpu, &run.gateway_cpu);
            println!(
                "        CPU us per request: direct generator {:.1} + mock {:.1}; through Tollgate generator {:.1} \
                 + mock {:.1} + gateway {:.1}",
                d.generator_us, d.mock_us, g.generator_us, g.mock_us, g.gateway_us,
            );
        }
        match self.tollgate_peak_rss_mib {
            Some(mib) => println!("\nTollgate peak resident memory over the whole run (VmHWM): {mib:.1} MiB"),
            None => println!("\nTollgate peak resident memory: not available (no /proc)"),
        }
    }

    pub fn write_json(&self, path: &Path) -> Result<(), BenchError> {
        write_json(self, path)
    }
}

/// Writes `report` as pretty JSON and says where.
pub fn write_json(report: &impl Serialize, path: &Path) -> Result<(), BenchError> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(BenchError::io(dir))?;
    }
    std::fs::write(path, serde_json::to_vec_pretty(report)?).map_err(BenchError::io(path))?;
    println!("JSON: {}", path.display());
    Ok(())
}

pub fn triple(p: &Percentiles) -> String {
    format!("{:>7.2}/{:>7.2}/{:>7.2}", p.p50_ms, p.p90_ms, p.p99_ms)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::load::histogram;
    use std::time::Duration;

    fn run(latencies_us: &[u64], elapsed_ms: u64) -> OpenLoop {
        let mut latency = histogram();
        latencies_us.iter().for_each(|&us| latency.record(us).unwrap());
        OpenLoop { latency, ok: latencies_us.len() as u64, errors: 0, elapsed: Duration::from_millis(elapsed_ms) }
    }

    #[test]
    fn overhead_is_the_gateway_minus_direct_per_percentile() {
        let direct = run(&[1000; 100], 1000);
        let gateway = run(&[1500; 100], 1000);
        let row = RateRow::new(Mode::NonStreaming, 100, &direct, &gateway, None);
        assert!((row.overhead.p50_ms - 0.5).abs() < 0.01, "{:?}", row.overhead);
        assert!(!row.queueing);
    }

    #[test]
    fn a_target_that_fell_behind_the_offered_rate_is_flagged_as_queueing() {
        // 100 requests offered over one second, the last answered after 1.2 s: 83 per second.
        let direct = run(&[1000; 100], 1000);
        let gateway = run(&[1000; 100], 1200);
        assert!(RateRow::new(Mode::Streaming, 100, &direct, &gateway, None).queueing);
    }
}
