//! Configuration: defaults, then an optional TOML file, then `TOLLGATE_*` variables.

use app::limits::WhenRedisFails;
use figment::providers::{Env, Format, Serialized, Toml};
use figment::Figment;
use ipnet::IpNet;
use secrecy::SecretString;
use serde::{Deserialize, Serialize};
use std::net::SocketAddr;
use std::num::{NonZeroU32, NonZeroUsize};
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default)]
pub struct Config {
    /// `sqlite://...` or `postgres://...`; defaults to `tollgate.db` in the data directory.
    pub database_url: Option<String>,
    pub database_max_connections: u32,
    pub listen: SocketAddr,
    pub data_dir: PathBuf,
    /// The admin created at start when no active admin exists.
    pub admin_email: String,
    #[serde(skip_serializing)]
    pub admin_password: Option<SecretString>,
    /// Peers whose `X-Forwarded-For` is believed (CIDRs); comma-separated in the environment.
    #[serde(deserialize_with = "cidr_list")]
    pub trusted_proxies: Vec<IpNet>,
    /// Mark session cookies `Secure` and send HSTS (set when the console is served over HTTPS).
    pub secure_cookies: bool,
    /// The console's public origin (`https://gateway.example.com`), when a proxy in front
    /// rewrites `Host`; changes made with the session cookie must come from it. By default
    /// the request's `Host` is the console's origin.
    pub console_origin: Option<String>,
    pub session_idle_minutes: i64,
    /// Wrong passwords a minute for one email from one client IP (tight), for one email
    /// from anywhere (loose, so others cannot lock its owner out quickly), and from one IP.
    pub sign_in_attempts_per_email_and_ip: u32,
    pub sign_in_attempts_per_email: u32,
    pub sign_in_attempts_per_ip: u32,
    /// Where the compiled console (`pkg/` with wasm, JS and CSS) is served from.
    pub site_root: PathBuf,
    /// Seed the demo `echo` channel, the `echo-1` model and a demo account.
    pub seed_demo: bool,
    /// Base64 of 32 bytes encrypting channel credentials at rest. Without it, a key is
    /// generated into `<data dir>/credential.key` (fine for one embedded instance; set
    /// it explicitly when several instances share PostgreSQL).
    #[serde(skip_serializing)]
    pub credential_key: Option<SecretString>,
    /// How often the gateway reloads keys, models and channels anyway: the backstop for a
    /// change made through another instance whose notification was lost.
    pub catalog_refresh_ms: u64,
    /// Largest data-plane request body.
    pub max_request_bytes: usize,
    /// Items in a request's conversation list (`messages`, `input`, `contents`).
    pub max_request_messages: usize,
    /// Content parts in one of those items (`content`, `parts`).
    pub max_message_parts: usize,
    /// Nesting of a request body (the body itself is level 1); at most 128.
    pub max_json_depth: usize,
    /// A connection must send a whole request head within this long of its first byte
    /// (of being accepted, for its first request).
    pub header_read_timeout_ms: u64,
    /// A keep-alive connection with no new request for this long is closed.
    pub idle_timeout_ms: u64,
    /// Connections open at once; a further one is closed as soon as it is accepted.
    pub max_connections: NonZeroU32,
    /// Usage-log rows are written in batches at least this often.
    pub usage_flush_ms: u64,
    /// Usage rows older than this many days are removed (on PostgreSQL a month at a time,
    /// once all of it is older); unset keeps them for ever.
    pub usage_retention_days: Option<NonZeroU32>,
    /// Usage rows, and charges, waiting to be written: while either queue holds this many,
    /// new data-plane requests are refused with 503 `overloaded` instead of growing memory.
    pub write_queue_limit: NonZeroUsize,
    /// Micro-units credited to every account an admin creates; 0 turns trial credit off.
    pub trial_credit: i64,
    /// Names this instance among those sharing the database (its registration, its leases
    /// of money). Unset: generated into `<data dir>/instance-id` (`instance-id-2`, ... for
    /// further instances running on the same data dir). Instances need distinct ids.
    pub instance_id: Option<String>,
    /// An instance whose heartbeat is older than this is presumed dead: it no longer
    /// counts as live and its leases of money go back.
    pub instance_stale_ms: u64,
    /// `redis://host:port/db`: rate limits, concurrency and sign-in throttles are then
    /// shared by every instance. Unset: counted in this process (one instance).
    #[serde(skip_serializing)]
    pub redis_url: Option<String>,
    /// Put before every Redis key, so several deployments can share one Redis.
    pub redis_prefix: String,
    /// While Redis cannot be reached: `refuse` limited requests (503
    /// `rate_limiter_unavailable`), or `split` every limit among the live instances.
    pub redis_fallback: WhenRedisFails,
    /// A request's concurrency slot held by an instance that stopped (killed) is free
    /// again after this long; live instances refresh theirs.
    pub concurrency_expiry_seconds: u64,
    pub log_format: LogFormat,
}

#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Text,
    Json,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            database_url: None,
            database_max_connections: 16,
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            data_dir: PathBuf::from("./data"),
            admin_email: "admin@tollgate.local".to_owned(),
            admin_password: None,
            trusted_proxies: Vec::new(),
            secure_cookies: false,
            console_origin: None,
            session_idle_minutes: 12 * 60,
            sign_in_attempts_per_email_and_ip: 5,
            sign_in_attempts_per_email: 50,
            sign_in_attempts_per_ip: 30,
            site_root: PathBuf::from("target/site"),
            seed_demo: false,
            credential_key: None,
            catalog_refresh_ms: 1000,
            max_request_bytes: 4 * 1024 * 1024,
            max_request_messages: 10_000,
            max_message_parts: 1_000,
            max_json_depth: 64,
            header_read_timeout_ms: 10_000,
            idle_timeout_ms: 60_000,
            max_connections: const { NonZeroU32::new(10_000).unwrap() },
            usage_flush_ms: 200,
            usage_retention_days: None,
            write_queue_limit: const { NonZeroUsize::new(100_000).unwrap() },
            trial_credit: 0,
            instance_id: None,
            instance_stale_ms: 30_000,
            redis_url: None,
            redis_prefix: "tollgate".to_owned(),
            redis_fallback: WhenRedisFails::Split,
            concurrency_expiry_seconds: 30,
            log_format: LogFormat::Text,
        }
    }
}

#[derive(Debug, thiserror::Error)]
#[error("invalid configuration: {0}")]
pub struct ConfigError(#[from] Box<figment::Error>);

impl Config {
    /// Loads the configuration; `file` is read when given or when `tollgate.toml` exists.
    pub fn load(file: Option<&Path>) -> Result<Config, ConfigError> {
        let mut figment = Figment::from(Serialized::defaults(Config::default()));
        let default_file = Path::new("tollgate.toml");
        match file {
            Some(file) => figment = figment.merge(Toml::file_exact(file)),
            None if default_file.exists() => figment = figment.merge(Toml::file(default_file)),
            None => {}
        }
        figment.merge(Env::prefixed("TOLLGATE_")).extract().map_err(|err| ConfigError(Box::new(err)))
    }

    pub fn database_url(&self) -> String {
        self.database_url.clone().unwrap_or_else(|| format!("sqlite://{}", self.data_dir.join("tollgate.db").display()))
    }
}

/// Accepts a list of CIDRs (TOML) or one comma-separated string (environment).
fn cidr_list<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<Vec<IpNet>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Cidrs {
        List(Vec<String>),
        Csv(String),
    }
    let entries = match Cidrs::deserialize(deserializer)? {
        Cidrs::List(list) => list,
        Cidrs::Csv(text) => text.split(',').map(str::to_owned).collect(),
    };
    entries
        .iter()
        .map(|entry| entry.trim())
        .filter(|entry| !entry.is_empty())
        .map(|entry| {
            entry
                .parse::<IpNet>()
                .or_else(|_| entry.parse::<std::net::IpAddr>().map(IpNet::from))
                .map_err(|_| serde::de::Error::custom(format!("`{entry}` is not an IP address or CIDR")))
        })
        .collect()
}
