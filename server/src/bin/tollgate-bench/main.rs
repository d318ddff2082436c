//! `tollgate-bench`: Tollgate's overhead measured side by side with the upstream it
//! fronts. Starts a mock upstream and a release Tollgate on loopback, configures
//! Tollgate through its management API, drives both at fixed rates (open loop) and at
//! full speed (closed loop), prints a table and writes it as JSON (`make bench`); with
//! `BENCH_REDIS=1`, the same for a key with limits, counted in-process and in Redis.
//! `tollgate-bench control` times the management API's usage queries over seeded rows
//! (`make bench-control`); `tollgate-bench memory` reads Tollgate's peak memory under
//! many large bodies at once (`make bench-memory`).

mod control;
mod database;
mod error;
mod forward;
mod gateway;
mod limits;
mod load;
mod memory;
mod mock;
mod process;
mod redis_server;
mod report;
mod settings;
mod setup;

use clap::{Parser, Subcommand};
use database::Databases;
use error::BenchError;
use gateway::Gateway;
use limits::Limited;
use load::{OpenLoop, Target};
use process::{free_port, wait_until, Child, CpuUse};
use report::{Medians, Mode, RateRow, Report, Run, Throughput, TranslatedRoute};
use settings::Settings;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::sync::Arc;
use std::time::Duration;

/// The key the direct runs send, so both sides carry the same headers.
const UPSTREAM_KEY: &str = "sk-bench-upstream";
/// A pause between runs: the last run's connections and usage rows settle first.
const BETWEEN_RUNS: Duration = Duration::from_millis(300);
/// How long each target is driven before anything is measured.
const WARM_UP: Duration = Duration::from_millis(500);

#[derive(Parser)]
#[command(name = "tollgate-bench", about = "Tollgate's latency overhead and throughput against a mock upstream")]
struct Cli {
    #[command(subcommand)]
    command: Option<Cmd>,
}

#[derive(Subcommand)]
enum Cmd {
    /// Run the whole benchmark (the default); settings come from BENCH_* variables.
    Run,
    /// The control-plane benchmark: BENCH_ROWS usage rows (default 200,000), then
    /// request-id lookups and pages through the management API.
    Control,
    /// The memory benchmark: 32 concurrent bodies of 100,000 messages; Tollgate's peak
    /// resident memory against its resting one (BENCH_MESSAGE_CAP raises its message cap).
    Memory,
    /// Serve the mock upstream (the benchmark starts it as a process of its own).
    Mock {
        #[arg(long)]
        listen: SocketAddr,
    },
    /// Serve the bare forwarder to `upstream` (the benchmark's baseline proxy).
    Forward {
        #[arg(long)]
        listen: SocketAddr,
        #[arg(long)]
        upstream: hyper::Uri,
    },
}

#[tokio::main]
async fn main() -> ExitCode {
    let outcome = match Cli::parse().command.unwrap_or(Cmd::Run) {
        Cmd::Mock { listen } => mock::serve(listen).await.map_err(BenchError::io(listen.to_string())),
        Cmd::Forward { listen, upstream } => {
            forward::serve(listen, upstream).await.map_err(BenchError::io(listen.to_string()))
        }
        Cmd::Run => run(Plane::Data).await,
        Cmd::Control => run(Plane::Control).await,
        Cmd::Memory => run(Plane::Memory).await,
    };
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("tollgate-bench: {err}");
            ExitCode::FAILURE
        }
    }
}

#[derive(Clone, Copy)]
enum Plane {
    Data,
    Control,
    Memory,
}

async fn run(plane: Plane) -> Result<(), BenchError> {
    let settings = Settings::from_env()?;
    let scratch = Scratch::create(&settings.out_dir)?;
    let mut databases = Databases::new(settings.backend, &settings.postgres_admin_url);
    let measured = match plane {
        Plane::Data => measure(&settings, &scratch.0, &mut databases).await.map(|report| {
            report.print();
            report.write_json(&settings.out_dir.join("results.json"))
        }),
        Plane::Control => control(&settings, &scratch.0, &mut databases).await.map(|report| {
            report.print();
            report.write_json(&settings.out_dir.join("control.json"))
        }),
        Plane::Memory => memory(&settings, &scratch.0, &mut databases).await.map(|report| {
            report.print();
            report.write_json(&settings.out_dir.join("memory.json"))
        }),
    };
    // The children are gone by now (dropped with the stack): clean up either way.
    if let Err(err) = databases.remove().await {
        eprintln!("tollgate-bench: could not drop the benchmark databases: {err}");
    }
    if let (Plane::Data, Some(redis)) = (plane, &settings.redis) {
        match redis.remove_keys().await {
            Ok(count) => eprintln!("deleted the run's {count} Redis keys (prefix {})", redis.prefix),
            Err(err) => eprintln!("tollgate-bench: could not delete the Redis keys under {}: {err}", redis.prefix),
        }
    }
    drop(scratch);
    measured?
}

async fn control(
    settings: &Settings,
    scratch: &Path,
    databases: &mut Databases,
) -> Result<control::Report, BenchError> {
    let stack = start(settings, scratch, databases).await?;
    let gateway = &stack.gateway;
    control::measure(settings, &gateway.database_url, &gateway.base, &gateway.configured).await
}

async fn memory(settings: &Settings, scratch: &Path, databases: &mut Databases) -> Result<memory::Report, BenchError> {
    let mut stack = start(settings, scratch, databases).await?;
    let gateway = &mut stack.gateway;
    memory::measure(&mut gateway.process, &gateway.base, &gateway.configured.secret, settings.message_cap).await
}

/// The run's data directory, removed when the run ends.
struct Scratch(PathBuf);

impl Scratch {
    fn create(out_dir: &Path) -> Result<Scratch, BenchError> {
        let dir = out_dir.join(format!("run-{}", uuid::Uuid::now_v7().simple()));
        std::fs::create_dir_all(&dir).map_err(BenchError::io(&dir))?;
        Ok(Scratch(dir))
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The mock upstream, the bare forwarder and a configured Tollgate, all killed when
/// this is dropped.
struct Stack {
    upstream: String,
    forwarder: String,
    gateway: Gateway,
    mock: Child,
    forwarder_process: Child,
}

impl Stack {
    /// CPU used so far by the generator, the mock and `proxy` (none for direct runs).
    fn cpu(&self, proxy: Option<&Child>) -> CpuUse {
        CpuUse::now(&self.mock, proxy)
    }
}

async fn start(settings: &Settings, scratch: &Path, databases: &mut Databases) -> Result<Stack, BenchError> {
    let client = load::client();
    let (upstream_port, forwarder_port) = (free_port()?, free_port()?);
    let upstream = format!("http://127.0.0.1:{upstream_port}");
    let forwarder = format!("http://127.0.0.1:{forwarder_port}");
    let exe = std::env::current_exe().map_err(BenchError::io("current executable"))?;
    let mut mock_command = Command::new(&exe);
    mock_command.args(["mock", "--listen", &format!("127.0.0.1:{upstream_port}")]);
    let mut mock = Child::spawn("mock upstream", mock_command, settings.out_dir.join("mock.log"))?;
    let mut forwarder_command = Command::new(&exe);
    forwarder_command.args(["forward", "--listen", &format!("127.0.0.1:{forwarder_port}"), "--upstream"]);
    forwarder_command.arg(chat_url(&upstream));
    let forwarder_log = settings.out_dir.join("forwarder.log");
    let mut forwarder_process = Child::spawn("bare forwarder", forwarder_command, forwarder_log)?;

    let probe = target(chat_url(&upstream), UPSTREAM_KEY, Mode::NonStreaming);
    let (client_ref, probe) = (&client, &probe);
    wait_until("the mock upstream", &mut mock, Duration::from_secs(10), move || probe.send(client_ref)).await?;
    let probe = &target(chat_url(&forwarder), UPSTREAM_KEY, Mode::NonStreaming);
    let forwarder_up = move || probe.send(client_ref);
    wait_until("the bare forwarder", &mut forwarder_process, Duration::from_secs(10), forwarder_up).await?;
    let gateway = gateway::start(settings, scratch, databases, &upstream, None).await?;
    Ok(Stack { upstream, forwarder, gateway, mock, forwarder_process })
}

async fn measure(settings: &Settings, scratch: &Path, databases: &mut Databases) -> Result<Report, BenchError> {
    let mut stack = start(settings, scratch, databases).await?;
    // Started before the long part, so a Redis that does not answer fails the run at once.
    let mut limited = match &settings.redis {
        Some(_) => Some(Limited::start(settings, scratch, databases, &stack.upstream).await?),
        None => None,
    };
    let client = load::client();
    let (direct_url, gateway_url) = (chat_url(&stack.upstream), chat_url(&stack.gateway.base));
    let forwarder_url = chat_url(&stack.forwarder);
    let secret = stack.gateway.configured.secret.clone();
    let direct = |mode| target(direct_url.clone(), UPSTREAM_KEY, mode);
    let forwarded = |mode| target(forwarder_url.clone(), UPSTREAM_KEY, mode);
    let through = |mode| target(gateway_url.clone(), &secret, mode);
    let gateway_base = stack.gateway.base.clone();
    let translated = |route, mode| translated_target(&gateway_base, route, &secret, mode);

    let mut rates = Vec::new();
    let mut throughput = Vec::new();
    for mode in [Mode::NonStreaming, Mode::Streaming] {
        let (direct, gateway) = (direct(mode), through(mode));
        // Fill the connection pools and caches before anything is measured.
        for warmed in [&direct, &gateway, &forwarded(mode)] {
            warm_up(&client, warmed).await;
        }
        for &rate in &settings.rates {
            eprintln!("{mode:?} at {rate} rps ...");
            let direct_run = load::open_loop(&client, &direct, rate, settings.run_time).await;
            tokio::time::sleep(BETWEEN_RUNS).await;
            let tollgate = &mut stack.gateway.process;
            let (gateway_run, peak_mib) = gateway_open_run(&client, &gateway, rate, settings, tollgate).await?;
            rates.push(RateRow::new(mode, rate, &direct_run, &gateway_run, peak_mib));
        }
    }
    // The maximum runs come last: the memory they leave resident would otherwise count
    // as the peak of every rate measured after them.
    let tollgate = Some(&stack.gateway.process);
    for mode in [Mode::NonStreaming, Mode::Streaming] {
        for round in 1..=settings.rounds {
            eprintln!("{mode:?} at full speed, concurrency {}, round {round} ...", settings.concurrency);
            let direct = closed_run(&stack, &client, settings, &direct(mode), None).await;
            let forwarder =
                closed_run(&stack, &client, settings, &forwarded(mode), Some(&stack.forwarder_process)).await;
            let gateway = closed_run(&stack, &client, settings, &through(mode), tollgate).await;
            let mut round = Throughput::new(mode, settings.concurrency, &direct, &forwarder, &gateway);
            for route in TranslatedRoute::ALL {
                let run = closed_run(&stack, &client, settings, &translated(route, mode), tollgate).await;
                round.add_translated(route, &run);
            }
            throughput.push(round);
        }
    }
    stack.gateway.process.ensure_running()?;
    let limits = match (&mut limited, &settings.redis) {
        (Some(limited), Some(redis)) => Some(limits::measure(settings, &stack, limited, redis).await?),
        _ => None,
    };
    Ok(Report {
        database: settings.backend,
        cores: std::thread::available_parallelism().map_or(1, |n| n.get()),
        seconds_per_run: settings.run_time.as_secs(),
        rates,
        medians: [Mode::NonStreaming, Mode::Streaming].map(|mode| Medians::of(mode, &throughput)).into(),
        throughput,
        tollgate_peak_rss_mib: stack.gateway.process.whole_run_peak_rss_kib().map(|kib| kib as f64 / 1024.0),
        limits,
    })
}

/// Drives `target` briefly: connection pools and caches filled before anything is measured.
async fn warm_up(client: &reqwest::Client, target: &Arc<Target>) {
    load::closed_loop(client, target, 16, WARM_UP).await;
}

/// One open-loop run through a Tollgate, with its peak resident memory during the run
/// (the kernel's peak is reset before it), in MiB.
async fn gateway_open_run(
    client: &reqwest::Client,
    target: &Arc<Target>,
    rate: u32,
    settings: &Settings,
    tollgate: &mut Child,
) -> Result<(OpenLoop, Option<f64>), BenchError> {
    tollgate.reset_peak_rss();
    let run = load::open_loop(client, target, rate, settings.run_time).await;
    let peak_mib = tollgate.peak_rss_kib().map(|kib| kib as f64 / 1024.0);
    tokio::time::sleep(BETWEEN_RUNS).await;
    tollgate.ensure_running()?;
    Ok((run, peak_mib))
}

/// One closed-loop run at full speed against `target`, with the CPU each process spent.
async fn closed_run(
    stack: &Stack,
    client: &reqwest::Client,
    settings: &Settings,
    target: &Arc<Target>,
    proxy: Option<&Child>,
) -> Run {
    let before = stack.cpu(proxy);
    let outcome = load::closed_loop(client, target, settings.concurrency, settings.run_time).await;
    let cpu = stack.cpu(proxy).since(&before);
    tokio::time::sleep(BETWEEN_RUNS).await;
    Run { outcome, cpu }
}

fn chat_url(base: &str) -> String {
    format!("{base}/v1/chat/completions")
}

/// A client of another dialect on the same OpenAI channel: the gateway translates both ways.
fn translated_target(gateway: &str, route: TranslatedRoute, key: &str, mode: Mode) -> Arc<Target> {
    let stream = mode == Mode::Streaming;
    let (path, body) = match route {
        TranslatedRoute::Responses => (
            "/v1/responses",
            serde_json::json!({"model": setup::MODEL, "input": "Say hello in five words.", "max_output_tokens": 16,
                               "stream": stream}),
        ),
        TranslatedRoute::Messages => (
            "/v1/messages",
            serde_json::json!({"model": setup::MODEL, "max_tokens": 16, "stream": stream,
                               "messages": [{"role": "user", "content": "Say hello in five words."}]}),
        ),
    };
    Arc::new(Target { url: format!("{gateway}{path}"), key: key.to_owned(), body: body.to_string().into() })
}

fn target(url: String, key: &str, mode: Mode) -> Arc<Target> {
    let body = serde_json::json!({
        "model": setup::MODEL,
        "messages": [{"role": "user", "content": "Say hello in five words."}],
        "max_tokens": 16,
        "stream": mode == Mode::Streaming,
    });
    Arc::new(Target { url, key: key.to_owned(), body: body.to_string().into() })
}
