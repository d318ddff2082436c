//! Building and running the application; tests call the same code on port 0.

use crate::bootstrap::{self, AdminCredentials, BootstrapError};
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
use app::clock::now_ms;
use app::db::{Db, DbError, SessionStore};
use app::error::AppError;
use app::state::AppState;
use app::usage::retention;
use axum::routing::get;
use axum::Router;
use leptos::config::{Env, LeptosOptions};
use leptos_axum::{generate_route_list, LeptosRoutes};
use std::future::Future;
use std::net::SocketAddr;
use std::num::NonZeroU32;
use std::sync::Arc;
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
        let db = Db::connect(&config.database_url(), config.database_max_connections).await?;
        db.migrate().await?;
        retention::prepare(&db, now_ms()).await.map_err(StartupError::UsagePartitions)?;
        let listener = TcpListener::bind(config.listen)
            .await
            .map_err(|source| StartupError::Listen { addr: config.listen, source })?;
        let local_addr =
            listener.local_addr().map_err(|source| StartupError::Listen { addr: config.listen, source })?;
        let limit = |attempts| NonZeroU32::new(attempts).ok_or(StartupError::ZeroAttemptLimit);
        let throttle = SignInThrottle::new(SignInLimits {
            per_email_and_ip: limit(config.sign_in_attempts_per_email_and_ip)?,
            per_email: limit(config.sign_in_attempts_per_email)?,
            per_ip: limit(config.sign_in_attempts_per_ip)?,
        });
        let state = AppState {
            db,
            leptos_options: leptos_options(&config, local_addr),
            throttle: Arc::new(throttle),
            credentials: Arc::new(bootstrap::credential_cipher(&config)?),
            catalog_changes: Arc::default(),
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
        let flush_every = Duration::from_millis(config.usage_flush_ms);
        let (usage, usage_task) = UsageWriter::spawn(state.db.clone(), flush_every);
        let retention_days = config.usage_retention_days.map(NonZeroU32::get);
        let usage_upkeep = tokio::spawn(retention::keep(state.db.clone(), retention_days));
        // Requests in flight when the last run died will never settle: their money goes back.
        let instance_id = bootstrap::instance_id(&config)?;
        let (purse, reclaimed) =
            Purse::open(state.db.clone(), instance_id).await.map_err(StartupError::ReclaimLeases)?;
        if reclaimed > 0 {
            tracing::warn!(reclaimed, "gave back the leases of money left by the last run");
        }
        let purse_task = tokio::spawn(purse.clone().keep_books(flush_every));
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
        self.usage.flush().await;
        drop(self.usage);
        let _ = self.usage_task.await;
        sweeper.abort();
        self.usage_upkeep.abort();
        self.refresher.abort();
        self.histograms.abort();
        self.state.db.close().await;
        Ok(())
    }
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

fn session_layer(state: &AppState, config: &Config) -> SessionManagerLayer<SessionStore> {
    SessionManagerLayer::new(SessionStore::new(state.db.clone()))
        .with_name(SESSION_COOKIE)
        .with_http_only(true)
        .with_same_site(SameSite::Lax)
        .with_secure(config.secure_cookies)
        .with_expiry(Expiry::OnInactivity(time::Duration::minutes(config.session_idle_minutes)))
}

fn router(state: AppState, gateway: Gateway, config: &Config) -> Router {
    let routes = generate_route_list(App);
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
