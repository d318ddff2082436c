//! `tollgate`: serve (the default), migrate, and operator commands.

use app::users::{service as users, NewUser, PlatformRole};
use clap::{Parser, Subcommand};
use server::bootstrap::AdminCredentials;
use server::config::Config;
use server::startup::Application;
use std::path::PathBuf;
use std::process::ExitCode;

/// jemalloc returns freed memory to the system (glibc kept a load burst's peak resident
/// in its per-thread arenas) and allocates faster under the gateway's many small buffers.
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

#[derive(Parser)]
#[command(name = "tollgate", version, about = "Multi-tenant AI API gateway with an admin console")]
struct Cli {
    /// A TOML configuration file (default: ./tollgate.toml when it exists).
    #[arg(long, global = true, env = "TOLLGATE_CONFIG")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Start the gateway and the console (the default).
    Serve,
    /// Apply database migrations and exit.
    Migrate,
    /// Manage console users.
    User {
        #[command(subcommand)]
        command: UserCommand,
    },
}

#[derive(Subcommand)]
enum UserCommand {
    /// Create a user; the password is read from standard input.
    Create {
        #[arg(long)]
        email: String,
        #[arg(long, value_parser = parse_role, default_value = "user")]
        role: PlatformRole,
    },
}

fn parse_role(text: &str) -> Result<PlatformRole, String> {
    PlatformRole::parse(text).ok_or_else(|| format!("`{text}` is not one of admin, support, user"))
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let config = match Config::load(cli.config.as_deref()) {
        Ok(config) => config,
        Err(err) => {
            eprintln!("tollgate: {err}");
            return ExitCode::FAILURE;
        }
    };
    server::telemetry::init(config.log_format);
    let outcome = match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => serve(config).await,
        Command::Migrate => migrate(config).await,
        Command::User { command: UserCommand::Create { email, role } } => create_user(config, email, role).await,
    };
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("tollgate: {err}");
            ExitCode::FAILURE
        }
    }
}

type Outcome = Result<(), Box<dyn std::error::Error>>;

async fn serve(config: Config) -> Outcome {
    let shutdown = shutdown_signal()?;
    let application = Application::build(config).await?;
    let address = application.local_addr();
    announce(&format!("Tollgate console: http://{address}/"));
    match application.admin_credentials() {
        AdminCredentials::Generated { email, password_file } => {
            announce(&format!("First admin: {email}; password in {} (readable only by you)", password_file.display()))
        }
        AdminCredentials::FromConfiguration { email } => {
            announce(&format!("First admin: {email}; password from TOLLGATE_ADMIN_PASSWORD"))
        }
        AdminCredentials::AlreadyPresent => {}
    }
    tracing::info!(%address, "listening");
    application.run_until(shutdown).await?;
    tracing::info!("stopped");
    Ok(())
}

/// A line for the operator on standard output; a closed stdout must not stop the server.
fn announce(line: &str) {
    use std::io::Write;
    let mut stdout = std::io::stdout().lock();
    let _ = writeln!(stdout, "{line}").and_then(|()| stdout.flush());
}

async fn migrate(config: Config) -> Outcome {
    let db = app::db::Db::connect(&config.database_url(), 1).await?;
    db.migrate().await?;
    println!("migrations applied");
    Ok(())
}

async fn create_user(config: Config, email: String, role: PlatformRole) -> Outcome {
    let mut password = String::new();
    std::io::stdin().read_line(&mut password)?;
    let password = password.trim_end_matches(['\r', '\n']).to_owned();
    let db = app::db::Db::connect(&config.database_url(), 1).await?;
    db.migrate().await?;
    let user = users::create_unchecked(&db, &NewUser { email, password, role }).await?;
    println!("created {} ({})", user.email, user.role);
    Ok(())
}

/// Completes on SIGTERM or Ctrl-C: stop accepting, finish what is in flight.
///
/// The handlers are installed when this is called, not when the future is first polled:
/// a SIGTERM arriving just after the start-up banner must already mean "shut down".
#[cfg(unix)]
fn shutdown_signal() -> std::io::Result<impl std::future::Future<Output = ()>> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut terminate = signal(SignalKind::terminate())?;
    let mut interrupt = signal(SignalKind::interrupt())?;
    Ok(async move {
        tokio::select! {
            _ = terminate.recv() => {},
            _ = interrupt.recv() => {},
        }
        tracing::info!("shutting down: finishing in-flight requests");
    })
}

#[cfg(not(unix))]
fn shutdown_signal() -> std::io::Result<impl std::future::Future<Output = ()>> {
    Ok(async {
        let _ = tokio::signal::ctrl_c().await;
        tracing::info!("shutting down: finishing in-flight requests");
    })
}
