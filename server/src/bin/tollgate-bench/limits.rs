//! The rows with limits (`BENCH_REDIS=1`): a key with RPM, TPM and a concurrency cap set
//! (`setup::LIMITS`, never reached) through two Tollgates alike but for where they count
//! them: in their own process, or in Redis (one script call to admit a request on its
//! path, one in the background to settle it). Each runs on a fresh database of its own and
//! gets the same requests, so what they differ by is what Redis adds: CPU per request
//! (Tollgate's own, and the Redis server's beside it) and latency at the same offered
//! rates against the same direct run.

use crate::database::Databases;
use crate::error::BenchError;
use crate::gateway::{self, Gateway};
use crate::load::{self, Target};
use crate::redis_server::RedisServer;
use crate::report::{median, per_request_us, triple, FullSpeed, Mode, Percentiles, RateRow, Run};
use crate::settings::Settings;
use crate::setup::{KeyLimits, LIMITS};
use crate::{chat_url, closed_run, gateway_open_run, target, warm_up, Stack, BETWEEN_RUNS, UPSTREAM_KEY};
use serde::Serialize;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

/// Where a gateway counts its key's limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Engine {
    /// In its own process: no `TOLLGATE_REDIS_URL`.
    InProcess,
    /// In Redis, under the run's prefix.
    Redis,
}

/// The two Tollgates behind the limited key.
pub struct Limited {
    pub in_process: Gateway,
    pub redis: Gateway,
}

impl Limited {
    pub async fn start(
        settings: &Settings,
        scratch: &Path,
        databases: &mut Databases,
        upstream: &str,
    ) -> Result<Limited, BenchError> {
        let in_process = gateway::start(settings, scratch, databases, upstream, Some(Engine::InProcess)).await?;
        let redis = gateway::start(settings, scratch, databases, upstream, Some(Engine::Redis)).await?;
        Ok(Limited { in_process, redis })
    }

    /// Both gateways' targets for `mode`: in-process, then Redis.
    fn targets(&self, mode: Mode) -> (Arc<Target>, Arc<Target>) {
        let through = |gateway: &Gateway| target(chat_url(&gateway.base), &gateway.configured.secret, mode);
        (through(&self.in_process), through(&self.redis))
    }
}

/// Open loop at every rate, then closed-loop rounds, both modes, as for the rows without
/// limits; the in-process gateway then the Redis one, back to back.
pub async fn measure(
    settings: &Settings,
    stack: &Stack,
    limited: &mut Limited,
    redis: &RedisServer,
) -> Result<Report, BenchError> {
    let client = load::client();
    let mut rates = Vec::new();
    for mode in [Mode::NonStreaming, Mode::Streaming] {
        let direct = target(chat_url(&stack.upstream), UPSTREAM_KEY, mode);
        let (in_process, shared) = limited.targets(mode);
        for warmed in [&direct, &in_process, &shared] {
            warm_up(&client, warmed).await;
        }
        for &rate in &settings.rates {
            eprintln!("{mode:?} at {rate} rps, limits in-process and in Redis ...");
            let direct_run = load::open_loop(&client, &direct, rate, settings.run_time).await;
            tokio::time::sleep(BETWEEN_RUNS).await;
            let in_process = gateway_open_run(&client, &in_process, rate, settings, &mut limited.in_process.process);
            let (in_process, in_process_peak) = in_process.await?;
            let (shared, shared_peak) =
                gateway_open_run(&client, &shared, rate, settings, &mut limited.redis.process).await?;
            rates.push(RatePair::new(
                RateRow::new(mode, rate, &direct_run, &in_process, in_process_peak),
                RateRow::new(mode, rate, &direct_run, &shared, shared_peak),
            ));
        }
    }
    let mut throughput = Vec::new();
    for mode in [Mode::NonStreaming, Mode::Streaming] {
        let (in_process, shared) = limited.targets(mode);
        for round in 1..=settings.rounds {
            eprintln!("{mode:?} at full speed with limits, concurrency {}, round {round} ...", settings.concurrency);
            let in_process = closed_run(stack, &client, settings, &in_process, Some(&limited.in_process.process)).await;
            let before = redis.cpu_time().await?;
            let shared = closed_run(stack, &client, settings, &shared, Some(&limited.redis.process)).await;
            // Read after the pause that follows the run: the background settles are in it.
            let redis_cpu = redis.cpu_time().await?.saturating_sub(before);
            throughput.push(RoundPair::new(mode, settings.concurrency, &in_process, &shared, redis_cpu));
        }
    }
    limited.in_process.process.ensure_running()?;
    limited.redis.process.ensure_running()?;
    let medians = [Mode::NonStreaming, Mode::Streaming].map(|mode| Medians::of(mode, &throughput)).into();
    Ok(Report { key: LIMITS, rates, throughput, medians })
}

/// One offered rate: both gateways against the same direct run.
#[derive(Debug, Serialize)]
pub struct RatePair {
    pub in_process: RateRow,
    pub redis: RateRow,
    /// The Redis gateway's latency minus the in-process one's, percentile by percentile.
    pub added_by_redis: Percentiles,
}

impl RatePair {
    fn new(in_process: RateRow, redis: RateRow) -> RatePair {
        let added_by_redis = redis.gateway.latency.minus(&in_process.gateway.latency);
        RatePair { in_process, redis, added_by_redis }
    }
}

/// One closed-loop round: both gateways in turn.
#[derive(Debug, Serialize)]
pub struct RoundPair {
    pub mode: Mode,
    pub concurrency: usize,
    pub in_process: FullSpeed,
    pub redis: FullSpeed,
    /// Tollgate's CPU per request counting in Redis minus counting in-process.
    pub added_cpu_us: f64,
    /// The Redis server's CPU per request of the Redis run (`INFO cpu`; any other client
    /// of that Redis meanwhile is charged to it).
    pub redis_server_cpu_us: f64,
}

impl RoundPair {
    fn new(mode: Mode, concurrency: usize, in_process: &Run, redis: &Run, redis_cpu: Duration) -> RoundPair {
        let (in_process_speed, redis_speed) = (FullSpeed::of(in_process), FullSpeed::of(redis));
        RoundPair {
            mode,
            concurrency,
            added_cpu_us: redis_speed.proxy_cpu_us - in_process_speed.proxy_cpu_us,
            redis_server_cpu_us: per_request_us(redis, redis_cpu),
            in_process: in_process_speed,
            redis: redis_speed,
        }
    }
}

/// A mode's rounds summed up: the median of each figure. What Redis adds is the median of
/// the rounds' differences, each between two runs back to back.
#[derive(Debug, Serialize)]
pub struct Medians {
    pub mode: Mode,
    pub rounds: usize,
    pub in_process_cpu_us: f64,
    pub redis_cpu_us: f64,
    pub added_cpu_us: f64,
    pub redis_server_cpu_us: f64,
}

impl Medians {
    fn of(mode: Mode, throughput: &[RoundPair]) -> Medians {
        let rounds: Vec<&RoundPair> = throughput.iter().filter(|round| round.mode == mode).collect();
        let figure = |of: fn(&RoundPair) -> f64| median(rounds.iter().map(|round| of(round)).collect());
        Medians {
            mode,
            rounds: rounds.len(),
            in_process_cpu_us: figure(|round| round.in_process.proxy_cpu_us),
            redis_cpu_us: figure(|round| round.redis.proxy_cpu_us),
            added_cpu_us: figure(|round| round.added_cpu_us),
            redis_server_cpu_us: figure(|round| round.redis_server_cpu_us),
        }
    }
}

#[derive(Debug, Serialize)]
pub struct Report {
    /// The limited key's limits.
    pub key: KeyLimits,
    pub rates: Vec<RatePair>,
    /// Every closed-loop round, in the order run.
    pub throughput: Vec<RoundPair>,
    pub medians: Vec<Medians>,
}

impl Report {
    pub fn print(&self) {
        let KeyLimits { rpm, tpm, max_concurrency } = self.key;
        println!("\nwith limits on the key (rpm {rpm}, tpm {tpm}, concurrency {max_concurrency}: never reached)");
        println!("latency in ms, open loop as above, against the same direct run\n");
        println!(
            "{:<7}{:>6} | {:>23} | {:>23} | {:>23} | {:>23} | {:>15} | {:>9}",
            "mode",
            "rps",
            "direct p50/p90/p99",
            "in-process p50/p90/p99",
            "Redis p50/p90/p99",
            "added by Redis",
            "achieved i/r",
            "errors i/r"
        );
        for pair in &self.rates {
            let (local, shared) = (&pair.in_process, &pair.redis);
            let flag = if local.queueing || shared.queueing { "  queueing" } else { "" };
            println!(
                "{:<7}{:>6} | {} | {} | {} | {} | {:>7.0}/{:<7.0} | {:>4}/{:<4}{flag}",
                local.mode.label(),
                local.offered_rps,
                triple(&local.direct.latency),
                triple(&local.gateway.latency),
                triple(&shared.gateway.latency),
                triple(&pair.added_by_redis),
                local.gateway.achieved_rps,
                shared.gateway.achieved_rps,
                local.gateway.errors,
                shared.gateway.errors,
            );
        }
        println!("\nmaximum throughput with limits (closed loop): requests per second, errors, CPU us per request");
        for round in &self.throughput {
            let (local, shared) = (&round.in_process, &round.redis);
            println!(
                "{:<7} concurrency {:>3}: in-process {:>6.0} ({:.2} %), CPU {:.1} | Redis {:>6.0} ({:.2} %), CPU {:.1} \
                 + Redis server {:.1} | added by Redis {:.1}",
                round.mode.label(),
                round.concurrency,
                local.rps,
                local.error_rate * 100.0,
                local.proxy_cpu_us,
                shared.rps,
                shared.error_rate * 100.0,
                shared.proxy_cpu_us,
                round.redis_server_cpu_us,
                round.added_cpu_us,
            );
        }
        println!("\nmedians over the rounds with limits, CPU us per request");
        for m in &self.medians {
            println!(
                "{:<7} {} rounds: Tollgate in-process {:.1}, with Redis {:.1}, added by Redis {:.1} \
                 (and the Redis server's own {:.1})",
                m.mode.label(),
                m.rounds,
                m.in_process_cpu_us,
                m.redis_cpu_us,
                m.added_cpu_us,
                m.redis_server_cpu_us,
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::load::{histogram, OpenLoop};

    fn run(latency_us: u64) -> OpenLoop {
        let mut latency = histogram();
        (0..100).for_each(|_| latency.record(latency_us).unwrap());
        OpenLoop { latency, ok: 100, errors: 0, elapsed: Duration::from_secs(1) }
    }

    #[test]
    fn redis_adds_its_gateway_latency_over_the_in_process_one() {
        let direct = run(200);
        let pair = RatePair::new(
            RateRow::new(Mode::NonStreaming, 100, &direct, &run(350), None),
            RateRow::new(Mode::NonStreaming, 100, &direct, &run(420), None),
        );
        assert!((pair.added_by_redis.p50_ms - 0.07).abs() < 0.005, "{:?}", pair.added_by_redis);
    }

    fn round(in_process_cpu_us: f64, redis_cpu_us: f64) -> RoundPair {
        let speed = |proxy_cpu_us| FullSpeed {
            rps: 1.0,
            error_rate: 0.0,
            generator_cpu_us: 1.0,
            mock_cpu_us: 1.0,
            proxy_cpu_us,
        };
        RoundPair {
            mode: Mode::Streaming,
            concurrency: 64,
            in_process: speed(in_process_cpu_us),
            redis: speed(redis_cpu_us),
            added_cpu_us: redis_cpu_us - in_process_cpu_us,
            redis_server_cpu_us: 30.0,
        }
    }

    #[test]
    fn the_cpu_redis_adds_is_the_median_of_each_rounds_difference() {
        // A slow round slows both of its runs: the difference of the medians (70 - 50)
        // would pair runs of different rounds.
        let rounds = [round(50.0, 60.0), round(90.0, 100.0), round(40.0, 70.0)];
        let medians = Medians::of(Mode::Streaming, &rounds);
        assert_eq!((medians.in_process_cpu_us, medians.redis_cpu_us), (50.0, 70.0));
        assert_eq!(medians.added_cpu_us, 10.0);
        assert_eq!(Medians::of(Mode::NonStreaming, &rounds).rounds, 0);
    }
}
