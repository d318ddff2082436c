//! First-start set-up: an admin to sign in with, and (for the demo) the echo catalog.

use crate::config::Config;
use app::accounts::service as accounts;
use app::billing::service as billing;
use app::error::AppError;
use app::models::credential::{CredentialCipher, CredentialError};
use app::models::store as catalog;
use app::state::AppState;
use app::users::{service as users, store as users_store, NewUser, PlatformRole};
use rand::distributions::Alphanumeric;
use rand::Rng;
use secrecy::ExposeSecret;
use std::path::{Path, PathBuf};

const ADMIN_PASSWORD_FILE: &str = "admin-password";
const DEMO_ACCOUNT: &str = "Demo";
/// 100 credits: a few hundred thousand echo requests.
const DEMO_CREDIT: i64 = 100 * app::money::MICROS_PER_CREDIT;
const CREDENTIAL_KEY_FILE: &str = "credential.key";
const INSTANCE_ID_FILE: &str = "instance-id";
/// Instances that may run at once on one data dir, each with an id file of its own.
const INSTANCE_ID_FILES: u32 = 64;

#[derive(Debug, thiserror::Error)]
pub enum BootstrapError {
    #[error("could not create the first admin: {0}")]
    Admin(AppError),
    #[error("could not read or write {path}: {source}")]
    DataFile { path: PathBuf, source: std::io::Error },
    #[error("credential key: {0}")]
    CredentialKey(CredentialError),
    #[error("all {INSTANCE_ID_FILES} instance ids kept in {0} are in use by running instances; give this one its own TOLLGATE_DATA_DIR or TOLLGATE_INSTANCE_ID")]
    InstanceIdsInUse(PathBuf),
}

/// Where the first admin's credentials came from, for the start-up banner.
#[derive(Debug)]
pub enum AdminCredentials {
    AlreadyPresent,
    FromConfiguration { email: String },
    Generated { email: String, password_file: PathBuf },
}

/// Creates the first admin when no active admin exists.
pub async fn ensure_admin(state: &AppState, config: &Config) -> Result<AdminCredentials, BootstrapError> {
    if users_store::active_admin_exists(&state.db).await.map_err(BootstrapError::Admin)? {
        return Ok(AdminCredentials::AlreadyPresent);
    }
    let email = config.admin_email.clone();
    let (password, credentials) = match &config.admin_password {
        Some(password) => {
            (password.expose_secret().to_owned(), AdminCredentials::FromConfiguration { email: email.clone() })
        }
        None => {
            let password: String = rand::thread_rng().sample_iter(&Alphanumeric).take(24).map(char::from).collect();
            let password_file = write_private_file(&config.data_dir, ADMIN_PASSWORD_FILE, &password)?;
            (password, AdminCredentials::Generated { email: email.clone(), password_file })
        }
    };
    let admin = NewUser { email, password, role: PlatformRole::Admin };
    users::create_unchecked(&state.db, &admin).await.map_err(BootstrapError::Admin)?;
    Ok(credentials)
}

/// The demo set-up of `make run`: the echo channel and model, and an account the admin owns.
pub async fn seed_demo(state: &AppState, config: &Config) -> Result<(), AppError> {
    catalog::ensure_demo_echo(&state.db).await?;
    if let Some(admin) = users_store::by_email(&state.db, &config.admin_email).await? {
        let account = accounts::ensure_owned_account(state, DEMO_ACCOUNT, &admin.view.id).await?;
        billing::seed_credit(state, &account.id, DEMO_CREDIT, "demo-seed").await?;
    }
    Ok(())
}

/// The key that encrypts channel credentials: configured, or generated once per data dir.
pub fn credential_cipher(config: &Config) -> Result<CredentialCipher, BootstrapError> {
    let key = match &config.credential_key {
        Some(key) => key.expose_secret().to_owned(),
        None => kept_in_data_dir(&config.data_dir, CREDENTIAL_KEY_FILE, CredentialCipher::generate_key)?,
    };
    CredentialCipher::from_base64(&key).map_err(BootstrapError::CredentialKey)
}

/// This instance's id, kept its own while the process runs.
pub struct InstanceId {
    pub id: String,
    /// The locked id file (none for a configured id); the lock ends with the process.
    _lock: Option<std::fs::File>,
}

/// This instance's id: configured, or generated once per data dir and kept there, so a
/// restart after a crash takes over its previous run (and its leases) at once. Several
/// instances may run on one data dir: each locks the first id file no running process
/// holds (`instance-id`, then `instance-id-2`, ...). Two never share an id, and the file
/// of a crashed instance is free again for its restart.
pub fn instance_id(config: &Config) -> Result<InstanceId, BootstrapError> {
    if let Some(id) = &config.instance_id {
        return Ok(InstanceId { id: id.clone(), _lock: None });
    }
    for slot in 1..=INSTANCE_ID_FILES {
        let name = match slot {
            1 => INSTANCE_ID_FILE.to_owned(),
            slot => format!("{INSTANCE_ID_FILE}-{slot}"),
        };
        if let Some(id) = lock_instance_id(&config.data_dir, &name)? {
            return Ok(id);
        }
    }
    Err(BootstrapError::InstanceIdsInUse(config.data_dir.clone()))
}

/// The id in the file `name`, generated when the file is new, or `None` when a running
/// process holds the file.
fn lock_instance_id(dir: &Path, name: &str) -> Result<Option<InstanceId>, BootstrapError> {
    use std::io::{Read, Seek, Write};
    let path = dir.join(name);
    let fail = |source| BootstrapError::DataFile { path: path.clone(), source };
    std::fs::create_dir_all(dir).map_err(fail)?;
    let mut file = private_file_options().read(true).open(&path).map_err(fail)?;
    match file.try_lock() {
        Ok(()) => {}
        Err(std::fs::TryLockError::WouldBlock) => return Ok(None),
        Err(std::fs::TryLockError::Error(source)) => return Err(fail(source)),
    }
    let mut kept = String::new();
    file.read_to_string(&mut kept).map_err(fail)?;
    let id = match kept.trim() {
        "" => {
            let id = app::clock::new_id();
            file.set_len(0).and_then(|()| file.rewind()).map_err(fail)?;
            file.write_all(format!("{id}\n").as_bytes()).map_err(fail)?;
            id
        }
        kept => kept.to_owned(),
    };
    Ok(Some(InstanceId { id, _lock: Some(file) }))
}

/// A value kept in a private file of the data directory: read, or generated and written once.
fn kept_in_data_dir(dir: &Path, name: &str, generate: impl FnOnce() -> String) -> Result<String, BootstrapError> {
    let path = dir.join(name);
    match std::fs::read_to_string(&path) {
        Ok(existing) => Ok(existing.trim().to_owned()),
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => {
            let generated = generate();
            write_private_file(dir, name, &generated)?;
            Ok(generated)
        }
        Err(source) => Err(BootstrapError::DataFile { path, source }),
    }
}

/// Writes a file only its owner can read (the generated admin password, keys).
fn write_private_file(dir: &Path, name: &str, contents: &str) -> Result<PathBuf, BootstrapError> {
    let path = dir.join(name);
    let fail = |source| BootstrapError::DataFile { path: path.clone(), source };
    std::fs::create_dir_all(dir).map_err(fail)?;
    let mut file = private_file_options().truncate(true).open(&path).map_err(fail)?;
    std::io::Write::write_all(&mut file, format!("{contents}\n").as_bytes()).map_err(fail)?;
    Ok(path)
}

/// Opens for writing, creating the file readable only by its owner.
fn private_file_options() -> std::fs::OpenOptions {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options
}
