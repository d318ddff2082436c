//! Building and running the application; tests call the same code on port 0.

use crate::bootstrap::{self, AdminCredentials, BootstrapError, InstanceId};
use crate::config::Config;
use crate::gateway::catalog::Catalog;
use crate::gateway::probe::UpstreamProbe;
use crate::gateway::usage_writer::UsageWriter;
use crate::gateway::{self, BodyLimits, Gateway, Settings};
use crate::http::csrf::{self, ConsoleOrigin};
use crate::http::security_headers::{self, Https};
use crate::http::serve::{self, ConnectionLimits};
use crate::http::{request_id, session_cookie, unknown_route};
use crate::{api, health};
use app::app::{shell, App};
use app::auth::throttle::{SignInLimits, SignInThrottle};
use app::billing::reservations::Purse;
use app::catalog_changes::CatalogChanges;
use app::clock::now_ms;
use app::db::{Backend, Db, DbError, SessionStore};
use app::error::AppError;
use app::instances::{Instance, Peer};
use app::limits::{Limiter, SharedConfig};
use app::state::AppState;
use app::usage::retention;
use axum::routing::get;
use axum::Router;
use leptos::config::{Env, LeptosOptions};
use leptos_axum::{generate_route_list, AxumRouteListing, LeptosRoutes};
use std::future::Future;
use std::net::SocketAddr;
use std::num::NonZeroU32;
use std::sync::{Arc, OnceLock};
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tower_http::compression::CompressionLayer;
use tower_sessions::cookie::SameSite;
use tower_sessions::session_store::ExpiredDeletion;
use tower_sessions::{Expiry, SessionManagerLayer};

pub const SESSION_COOKIE: &str = "tollgate_session";
const EXPIRED_SESSION_SWEEP: Duration = Duration::from_secs(3600);
/// As often as metrics-exporter-prometheus's own server drains its histograms.
const HISTOGRAM_DRAIN: Duration = Duration::from_secs(5);
/// Heartbeats come six times per stale time; more often than every 100 ms is no use.
const MIN_STALE_MS: u64 = 600;

#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    #[error("database: {0}")]
    Database(#[from] DbError),
    #[error(transparent)]
    Bootstrap(#[from] BootstrapError),
    #[error("seeding or loading the catalog failed: {0}")]
    Seed(AppError),
    #[error("cannot listen on {addr}: {source}")]
    Listen { addr: SocketAddr, source: std::io::Error },
    #[error("the sign-in attempt limits must be at least 1")]
    ZeroAttemptLimit,
    #[error("the trial credit cannot be negative")]
    NegativeTrialCredit,
    #[error("giving back the leases of money left by the last run failed: {0}")]
    ReclaimLeases(sqlx::Error),
    #[error("the instance stale time must be at least {MIN_STALE_MS} ms")]
    StaleTimeTooShort,
    #[error("registering this instance failed: {0}")]
    Register(sqlx::Error),
    #[error(
        "another Tollgate instance (id {id}, heartbeat {seconds_ago:.1} s ago) is running on this database; several instances share rate limits only through Redis: set TOLLGATE_REDIS_URL"
    )]
    AnotherInstanceWithoutRedis { id: String, seconds_ago: f64 },
    #[error("TOLLGATE_REDIS_URL is not a Redis URL: {0}")]
    RedisUrl(redis::RedisError),
    #[error("creating the usage log's partitions for this month and the next failed: {0}")]
    UsagePartitions(sqlx::Error),
}

pub struct Application {
    listener: TcpListener,
    router: Router,
    connections: ConnectionLimits,
    state: AppState,
    admin: AdminCredentials,
    usage: UsageWriter,
    usage_task: JoinHandle<()>,
    purse: Purse,
    purse_task: JoinHandle<()>,
    /// Holds the lock on a generated id until the instance has left.
    instance_id: InstanceId,
    heartbeat: JoinHandle<()>,
    /// Hears of changes made through other instances (PostgreSQL).
    changes_elsewhere: Option<JoinHandle<()>>,
    usage_upkeep: JoinHandle<()>,
    refresher: JoinHandle<()>,
    histograms: JoinHandle<()>,
}

impl Application {
    /// Connects and migrates the database, creates the first admin, binds the listener.
    pub async fn build(config: Config) -> Result<Application, StartupError> {
        if config.trial_credit < 0 {
            return Err(StartupError::NegativeTrialCredit);
        }
        if config.instance_stale_ms < MIN_STALE_MS {
            return Err(StartupError::StaleTimeTooShort);
        }
        let db = Db::connect(&config.database_url(), config.database_max_connections).await?;
        db.migrate().await?;
        retention::prepare(&db, now_ms()).await.map_err(StartupError::UsagePartitions)?;
        let listener = TcpListener::bind(config.listen)
            .await
            .map_err(|source| StartupError::Listen { addr: config.listen, source })?;
        let local_addr =
            listener.local_addr().map_err(|source| StartupError::Listen { addr: config.listen, source })?;
        let instance_id = bootstrap::instance_id(&config)?;
        let instance = Arc::new(join(&db, &instance_id, local_addr, &config).await?);
        let limit = |attempts| NonZeroU32::new(attempts).ok_or(StartupError::ZeroAttemptLimit);
        let limiter = limiter(&config, &instance).await?;
        let throttle = SignInThrottle::new(
            limiter.clone(),
            SignInLimits {
                per_email_and_ip: limit(config.sign_in_attempts_per_email_and_ip)?,
                per_email: limit(config.sign_in_attempts_per_email)?,
                per_ip: limit(config.sign_in_attempts_per_ip)?,
            },
        );
        let state = AppState {
            db,
            leptos_options: leptos_options(&config, local_addr),
            throttle: Arc::new(throttle),
            limiter,
            credentials: Arc::new(bootstrap::credential_cipher(&config)?),
            catalog_changes: Arc::default(),
            instance: instance.clone(),
            trial_credit: config.trial_credit,
            channel_probe: Arc::new(UpstreamProbe::default()),
        };
        let admin = bootstrap::ensure_admin(&state, &config).await?;
        if config.seed_demo {
            bootstrap::seed_demo(&state, &config).await.map_err(StartupError::Seed)?;
        }
        let catalog = Arc::new(Catalog::load(&state).await.map_err(StartupError::Seed)?);
        let refresher =
            tokio::spawn(catalog.clone().keep_fresh(state.clone(), Duration::from_millis(config.catalog_refresh_ms)));
        let changes_elsewhere = (state.db.backend() == Backend::Postgres).then(|| {
            let follow = CatalogChanges::follow_other_instances(
                state.catalog_changes.clone(),
                config.database_url(),
                instance.id().to_owned(),
            );
            tokio::spawn(follow)
        });
        let flush_every = Duration::from_millis(config.usage_flush_ms);
        let (usage, usage_task) = UsageWriter::spawn(state.db.clone(), flush_every);
        let retention_days = config.usage_retention_days.map(NonZeroU32::get);
        let usage_upkeep = tokio::spawn(retention::keep(state.db.clone(), retention_days));
        // Requests in flight when the last run died will never settle: their money goes back.
        let (purse, reclaimed) =
            Purse::open(state.db.clone(), instance.clone()).await.map_err(StartupError::ReclaimLeases)?;
        if reclaimed > 0 {
            tracing::warn!(reclaimed, "gave back the leases of money left by the last run");
        }
        let purse_task = tokio::spawn(purse.clone().keep_books(flush_every));
        let heartbeat = tokio::spawn(instance.keep_alive());
        let settings = Settings {
            trusted_proxies: config.trusted_proxies.clone(),
            body_limits: BodyLimits::of(&config),
            write_queue_limit: config.write_queue_limit.get(),
        };
        let gateway = Gateway::new(state.clone(), catalog, usage.clone(), purse.clone(), settings);
        let router = router(state.clone(), gateway, &config);
        let histograms = tokio::spawn(gateway::metrics::drain_histograms(HISTOGRAM_DRAIN));
        let connections = ConnectionLimits::of(&config);
        Ok(Application {
            listener,
            router,
            connections,
            state,
            admin,
            usage,
            usage_task,
            purse,
            purse_task,
            instance_id,
            heartbeat,
            changes_elsewhere,
            usage_upkeep,
            refresher,
            histograms,
        })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.listener.local_addr().expect("a bound listener has an address")
    }

    pub fn admin_credentials(&self) -> &AdminCredentials {
        &self.admin
    }

    /// Serves until `shutdown` completes, then finishes in-flight requests and closes the pool.
    pub async fn run_until(self, shutdown: impl Future<Output = ()> + Send + 'static) -> std::io::Result<()> {
        let sweeper = tokio::spawn(sweep_expired_sessions(SessionStore::new(self.state.db.clone())));
        serve::serve(self.listener, self.router, self.connections, shutdown).await;
        // Every request has been answered and settled: write every charge, give the
        // leases back and write every usage row before closing the pool.
        self.purse_task.abort();
        let _ = self.purse_task.await;
        self.purse.close().await;
        // With its leases back, the instance leaves: no heartbeat may register it again.
        self.heartbeat.abort();
        let _ = self.heartbeat.await;
        self.state.instance.leave().await;
        drop(self.instance_id);
        self.usage.flush().await;
        drop(self.usage);
        let _ = self.usage_task.await;
        sweeper.abort();
        if let Some(changes_elsewhere) = self.changes_elsewhere {
            changes_elsewhere.abort();
        }
        self.usage_upkeep.abort();
        self.refresher.abort();
        self.histograms.abort();
        self.state.db.close().await;
        Ok(())
    }
}

/// Registers this instance, and refuses to run beside another live instance without Redis:
/// each would enforce the whole of every rate limit, so N instances would admit N times it.
async fn join(
    db: &Db,
    instance_id: &InstanceId,
    address: SocketAddr,
    config: &Config,
) -> Result<Instance, StartupError> {
    let stale_after = Duration::from_millis(config.instance_stale_ms);
    let instance = Instance::join(db.clone(), instance_id.id.clone(), address.to_string(), stale_after)
        .await
        .map_err(StartupError::Register)?;
    // Checked once registered: of two instances starting together, at least one sees the other.
    let peers = instance.peers().await.map_err(StartupError::Register)?;
    if let (Some(peer), None) = (peers.first(), &config.redis_url) {
        instance.leave().await;
        return Err(another_instance(peer));
    }
    Ok(instance)
}

fn another_instance(peer: &Peer) -> StartupError {
    let seconds_ago = (app::clock::now_ms() - peer.heartbeat_at).max(0) as f64 / 1000.0;
    StartupError::AnotherInstanceWithoutRedis { id: peer.instance_id.clone(), seconds_ago }
}

async fn sweep_expired_sessions(sessions: SessionStore) {
    let mut interval = tokio::time::interval(EXPIRED_SESSION_SWEEP);
    loop {
        interval.tick().await;
        if let Err(err) = sessions.delete_expired().await {
            tracing::warn!(error = %err, "could not delete expired sessions");
        }
    }
}

fn leptos_options(config: &Config, site_addr: SocketAddr) -> LeptosOptions {
    LeptosOptions::builder()
        .output_name("tollgate")
        .site_root(config.site_root.to_string_lossy().into_owned())
        .site_pkg_dir("pkg")
        .site_addr(site_addr)
        .env(Env::PROD)
        .build()
}

/// Where limits are counted: in Redis when one is configured, else in this process.
async fn limiter(config: &Config, instance: &Arc<Instance>) -> Result<Limiter, StartupError> {
    let Some(url) = &config.redis_url else {
        return Ok(Limiter::local());
    };
    let shared = SharedConfig {
        url: url.clone(),
        prefix: config.redis_prefix.clone(),
        when_fails: config.redis_fallback,
        slot_expiry: Duration::from_secs(config.concurrency_expiry_seconds.max(1)),
    };
    Limiter::shared(shared, instance.clone()).await.map_err(StartupError::RedisUrl)
}

fn session_layer(state: &AppState, config: &Config) -> SessionManagerLayer<SessionStore> {
    SessionManagerLayer::new(SessionStore::new(state.db.clone()))
        .with_name(SESSION_COOKIE)
        .with_http_only(true)
        .with_same_site(SameSite::Lax)
        .with_secure(config.secure_cookies)
        .with_expiry(Expiry::OnInactivity(time::Duration::minutes(config.session_idle_minutes)))
}

/// The console's routes, listed once per process. Listing them renders the app with
/// resource loading suppressed through a process-wide flag (leptos_server's
/// `SuppressResourceLoad`): a page another `Application` of the same process was rendering
/// at that moment (the tests run many) would wait for its resources for ever.
fn console_routes() -> Vec<AxumRouteListing> {
    static ROUTES: OnceLock<Vec<AxumRouteListing>> = OnceLock::new();
    ROUTES.get_or_init(|| generate_route_list(App)).clone()
}

fn router(state: AppState, gateway: Gateway, config: &Config) -> Router {
    let routes = console_routes();
    let context = {
        let state = state.clone();
        move || app::state::provide_request_context(&state)
    };
    let app_shell = {
        let options = state.leptos_options.clone();
        move || shell(options.clone())
    };
    let console = Router::new()
        .leptos_routes_with_context(&state, routes, context.clone(), app_shell)
        .fallback(leptos_axum::file_and_error_handler_with_context::<AppState, _>(context, shell))
        .layer(CompressionLayer::new());
    Router::new()
        .route("/healthz", get(health::live))
        .route("/readyz", get(health::ready))
        .nest("/api/v1", api::router())
        .route("/api/v1", get(unknown_route))
        .merge(console)
        .layer(session_layer(&state, config))
        .layer(axum::middleware::from_fn_with_state(SessionStore::new(state.db.clone()), session_cookie::drop_unusable))
        .layer(axum::middleware::from_fn_with_state(
            Arc::new(ConsoleOrigin::new(config.console_origin.as_deref())),
            csrf::same_origin_changes,
        ))
        .layer(axum::middleware::from_fn_with_state(Https(config.secure_cookies), security_headers::add))
        .layer(axum::middleware::from_fn(request_id::log_span))
        .with_state(state)
        // The data plane needs no session: it is merged outside the session layer.
        .merge(gateway::router(gateway))
        .layer(axum::middleware::from_fn(request_id::assign))
}
