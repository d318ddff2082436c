//! The results: one table on standard output and the same figures as JSON.

use crate::database::Backend;
use crate::error::BenchError;
use crate::limits;
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
    pub fn label(self) -> &'static str {
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

    pub fn minus(&self, other: &Percentiles) -> Percentiles {
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
pub struct Run {
    pub outcome: ClosedLoop,
    pub cpu: CpuUse,
}

/// A closed-loop run's figures. CPU is in microseconds per request answered, by
/// process: unlike requests per second, it does not depend on how the scheduler shared
/// the cores between the three processes.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct FullSpeed {
    pub rps: f64,
    pub error_rate: f64,
    pub generator_cpu_us: f64,
    pub mock_cpu_us: f64,
    /// The proxy's: zero for the direct run.
    pub proxy_cpu_us: f64,
}

impl FullSpeed {
    pub fn of(run: &Run) -> FullSpeed {
        FullSpeed {
            rps: run.outcome.rps(),
            error_rate: run.outcome.error_rate(),
            generator_cpu_us: per_request_us(run, run.cpu.generator),
            mock_cpu_us: per_request_us(run, run.cpu.mock),
            proxy_cpu_us: per_request_us(run, run.cpu.proxy),
        }
    }
}

/// `spent` during `run`, in microseconds per request it sent (answered or not).
pub fn per_request_us(run: &Run, spent: std::time::Duration) -> f64 {
    spent.as_secs_f64() * 1e6 / (run.outcome.ok + run.outcome.errors).max(1) as f64
}

/// A client route whose requests the gateway translates for the OpenAI channel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum TranslatedRoute {
    /// A Responses API client.
    Responses,
    /// An Anthropic Messages client.
    Messages,
}

impl TranslatedRoute {
    pub const ALL: [TranslatedRoute; 2] = [TranslatedRoute::Responses, TranslatedRoute::Messages];

    fn label(self) -> &'static str {
        match self {
            TranslatedRoute::Responses => "responses on openai",
            TranslatedRoute::Messages => "messages on openai",
        }
    }
}

/// A translated route's run beside the same round's pass-through.
#[derive(Debug, Serialize)]
pub struct Translated {
    pub route: TranslatedRoute,
    pub gateway: FullSpeed,
    /// Tollgate's CPU per request over the bare forwarder's: the figure that survives
    /// noisy shared cores.
    pub cpu_over_forwarder: f64,
}

#[derive(Debug, Serialize)]
pub struct Throughput {
    pub mode: Mode,
    pub concurrency: usize,
    pub direct: FullSpeed,
    /// The bare forwarder: the same HTTP parts as Tollgate and nothing else.
    pub forwarder: FullSpeed,
    /// Pass-through: an OpenAI client on the OpenAI channel.
    pub gateway: FullSpeed,
    /// Gateway RPS over direct RPS: the measure.
    pub ratio: f64,
    /// Forwarder RPS over direct RPS: what a second HTTP hop alone leaves.
    pub forwarder_ratio: f64,
    /// Pass-through CPU per request over the bare forwarder's.
    pub cpu_over_forwarder: f64,
    pub translated: Vec<Translated>,
}

impl Throughput {
    pub fn new(mode: Mode, concurrency: usize, direct: &Run, forwarder: &Run, gateway: &Run) -> Throughput {
        let (direct, forwarder, gateway) = (FullSpeed::of(direct), FullSpeed::of(forwarder), FullSpeed::of(gateway));
        Throughput {
            mode,
            concurrency,
            ratio: gateway.rps / direct.rps.max(f64::EPSILON),
            forwarder_ratio: forwarder.rps / direct.rps.max(f64::EPSILON),
            cpu_over_forwarder: gateway.proxy_cpu_us / forwarder.proxy_cpu_us.max(f64::EPSILON),
            direct,
            forwarder,
            gateway,
            translated: Vec::new(),
        }
    }

    pub fn add_translated(&mut self, route: TranslatedRoute, run: &Run) {
        let gateway = FullSpeed::of(run);
        let cpu_over_forwarder = gateway.proxy_cpu_us / self.forwarder.proxy_cpu_us.max(f64::EPSILON);
        self.translated.push(Translated { route, gateway, cpu_over_forwarder });
    }
}

/// A mode's closed-loop rounds summed up: the median of each figure across rounds, and
/// the range of the ratios.
#[derive(Debug, Serialize)]
pub struct Medians {
    pub mode: Mode,
    pub rounds: usize,
    pub ratio: f64,
    pub ratio_range: (f64, f64),
    pub forwarder_ratio: f64,
    pub forwarder_ratio_range: (f64, f64),
    pub direct_rps: f64,
    pub gateway_rps: f64,
    /// CPU in microseconds per request: the generator's and the mock's in the direct runs,
    /// the forwarder's and Tollgate's own.
    pub generator_and_mock_cpu_us: f64,
    pub forwarder_cpu_us: f64,
    pub gateway_cpu_us: f64,
    /// Pass-through CPU over the forwarder's, and each translated route's.
    pub gateway_cpu_over_forwarder: f64,
    pub translated_cpu_over_forwarder: Vec<(TranslatedRoute, f64)>,
}

impl Medians {
    pub fn of(mode: Mode, throughput: &[Throughput]) -> Medians {
        let rounds: Vec<&Throughput> = throughput.iter().filter(|run| run.mode == mode).collect();
        let figure = |of: fn(&Throughput) -> f64| rounds.iter().map(|run| of(run)).collect::<Vec<f64>>();
        let (ratios, forwarder_ratios) = (figure(|run| run.ratio), figure(|run| run.forwarder_ratio));
        Medians {
            mode,
            rounds: rounds.len(),
            ratio_range: range(&ratios),
            ratio: median(ratios),
            forwarder_ratio_range: range(&forwarder_ratios),
            forwarder_ratio: median(forwarder_ratios),
            direct_rps: median(figure(|run| run.direct.rps)),
            gateway_rps: median(figure(|run| run.gateway.rps)),
            generator_and_mock_cpu_us: median(figure(|run| run.direct.generator_cpu_us + run.direct.mock_cpu_us)),
            forwarder_cpu_us: median(figure(|run| run.forwarder.proxy_cpu_us)),
            gateway_cpu_us: median(figure(|run| run.gateway.proxy_cpu_us)),
            gateway_cpu_over_forwarder: median(figure(|run| run.cpu_over_forwarder)),
            translated_cpu_over_forwarder: TranslatedRoute::ALL
                .iter()
                .map(|route| {
                    let ratios = rounds
                        .iter()
                        .flat_map(|run| run.translated.iter().filter(|t| t.route == *route))
                        .map(|t| t.cpu_over_forwarder)
                        .collect();
                    (*route, median(ratios))
                })
                .collect(),
        }
    }
}

/// The middle value (the mean of the two middle ones for an even count); 0 for none.
pub fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    match values.len() {
        0 => 0.0,
        n if n % 2 == 1 => values[n / 2],
        n => (values[n / 2 - 1] + values[n / 2]) / 2.0,
    }
}

fn range(values: &[f64]) -> (f64, f64) {
    let low = values.iter().copied().fold(f64::INFINITY, f64::min);
    let high = values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    (low, high)
}

#[derive(Debug, Serialize)]
pub struct Report {
    pub database: Backend,
    pub cores: usize,
    pub seconds_per_run: u64,
    pub rates: Vec<RateRow>,
    /// Every closed-loop round, in the order run.
    pub throughput: Vec<Throughput>,
    pub medians: Vec<Medians>,
    pub tollgate_peak_rss_mib: Option<f64>,
    /// The rows with limits, in-process and in Redis (`BENCH_REDIS=1`).
    pub limits: Option<limits::Report>,
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
        println!("\nmaximum throughput (closed loop): requests per second, errors, CPU us per request");
        for run in &self.throughput {
            let (d, f, g) = (&run.direct, &run.forwarder, &run.gateway);
            println!(
                "{:<7} concurrency {:>3}: direct {:>6.0} ({:.2} %) | bare forwarder {:>6.0} ({:.2} %), ratio {:.2} \
                 | Tollgate {:>6.0} ({:.2} %), ratio {:.2}",
                run.mode.label(),
                run.concurrency,
                d.rps,
                d.error_rate * 100.0,
                f.rps,
                f.error_rate * 100.0,
                run.forwarder_ratio,
                g.rps,
                g.error_rate * 100.0,
                run.ratio,
            );
            println!(
                "{:<24} CPU: generator + mock {:.1} | forwarder {:.1} + {:.1} | Tollgate {:.1} + {:.1}",
                "",
                d.generator_cpu_us + d.mock_cpu_us,
                f.proxy_cpu_us,
                f.generator_cpu_us + f.mock_cpu_us,
                g.proxy_cpu_us,
                g.generator_cpu_us + g.mock_cpu_us,
            );
            for t in &run.translated {
                println!(
                    "{:<24} {:<20} Tollgate {:>6.0} ({:.2} %), CPU {:.1} us, {:.2}x the forwarder's (pass-through {:.2}x)",
                    "",
                    t.route.label(),
                    t.gateway.rps,
                    t.gateway.error_rate * 100.0,
                    t.gateway.proxy_cpu_us,
                    t.cpu_over_forwarder,
                    run.cpu_over_forwarder,
                );
            }
        }
        println!("\nmedians over the rounds (ratio range in brackets), CPU us per request");
        for m in &self.medians {
            println!(
                "{:<7} {} rounds: Tollgate ratio {:.2} [{:.2}-{:.2}] | bare forwarder ratio {:.2} [{:.2}-{:.2}] \
                 | CPU: generator + mock {:.1}, forwarder {:.1}, Tollgate {:.1}",
                m.mode.label(),
                m.rounds,
                m.ratio,
                m.ratio_range.0,
                m.ratio_range.1,
                m.forwarder_ratio,
                m.forwarder_ratio_range.0,
                m.forwarder_ratio_range.1,
                m.generator_and_mock_cpu_us,
                m.forwarder_cpu_us,
                m.gateway_cpu_us,
            );
            let translated: Vec<String> = m
                .translated_cpu_over_forwarder
                .iter()
                .map(|(route, ratio)| format!("{} {ratio:.2}x", route.label()))
                .collect();
            println!(
                "{:<7} CPU over the bare forwarder's: pass-through {:.2}x | {}",
                "",
                m.gateway_cpu_over_forwarder,
                translated.join(" | ")
            );
        }
        match self.tollgate_peak_rss_mib {
            Some(mib) => println!("\nTollgate peak resident memory over the whole run (VmHWM): {mib:.1} MiB"),
            None => println!("\nTollgate peak resident memory: not available (no /proc)"),
        }
        if let Some(limits) = &self.limits {
            limits.print();
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

    fn round(mode: Mode, direct_rps: f64, gateway_rps: f64) -> Throughput {
        let speed =
            |rps| FullSpeed { rps, error_rate: 0.0, generator_cpu_us: 1.0, mock_cpu_us: 1.0, proxy_cpu_us: 2.0 };
        Throughput {
            mode,
            concurrency: 64,
            direct: speed(direct_rps),
            forwarder: speed(direct_rps / 2.0),
            gateway: speed(gateway_rps),
            ratio: gateway_rps / direct_rps,
            forwarder_ratio: 0.5,
            cpu_over_forwarder: 1.0,
            translated: Vec::new(),
        }
    }

    #[test]
    fn medians_take_the_middle_round_of_their_own_mode() {
        let rounds = [
            round(Mode::NonStreaming, 100.0, 40.0),
            round(Mode::Streaming, 100.0, 90.0),
            round(Mode::NonStreaming, 100.0, 20.0),
            round(Mode::NonStreaming, 100.0, 30.0),
        ];
        let whole = Medians::of(Mode::NonStreaming, &rounds);
        assert_eq!(whole.rounds, 3);
        assert!((whole.ratio - 0.3).abs() < 1e-9, "{whole:?}");
        assert_eq!(whole.ratio_range, (0.2, 0.4));
        assert!((whole.gateway_rps - 30.0).abs() < 1e-9);
        assert!((median(vec![4.0, 1.0, 3.0, 2.0]) - 2.5).abs() < 1e-9);
    }

    #[test]
    fn a_target_that_fell_behind_the_offered_rate_is_flagged_as_queueing() {
        // 100 requests offered over one second, the last answered after 1.2 s: 83 per second.
        let direct = run(&[1000; 100], 1000);
        let gateway = run(&[1000; 100], 1200);
        assert!(RateRow::new(Mode::Streaming, 100, &direct, &gateway, None).queueing);
    }
}
