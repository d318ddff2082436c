//! One `tollgate serve` process of a cluster.

use std::io::BufRead;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

pub const START_TIMEOUT: Duration = Duration::from_secs(30);

/// The binary under test: this build's, or `TOLLGATE_CLUSTER_BIN` (another branch's build,
/// to run these tests against it).
fn binary() -> String {
    match std::env::var("TOLLGATE_CLUSTER_BIN") {
        Ok(path) if !path.is_empty() => path,
        _ => env!("CARGO_BIN_EXE_tollgate").to_owned(),
    }
}

/// One `tollgate serve` process; killed when dropped.
pub struct Instance {
    child: Option<Child>,
    pub env: Vec<(String, String)>,
    pub log_path: PathBuf,
    pub base: String,
}

impl Instance {
    /// Starts the binary with `env` and waits for its banner (its address).
    pub async fn spawn(env: Vec<(String, String)>, log_path: PathBuf) -> Instance {
        let log = std::fs::OpenOptions::new().create(true).append(true).open(&log_path).expect("log file");
        let mut command = Command::new(binary());
        command
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .envs(env.iter().map(|(name, value)| (name, value)))
            .arg("serve")
            .stdout(Stdio::piped())
            .stderr(log);
        let mut child = command.spawn().expect("the tollgate binary starts");
        let stdout = child.stdout.take().expect("piped");
        let (address, banner) = tokio::sync::oneshot::channel();
        // Standard output is read to its end, as a terminal would, so the server never blocks on it.
        std::thread::spawn(move || {
            let mut address = Some(address);
            for line in std::io::BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some(url) = line.trim().strip_prefix("Tollgate console: ") {
                    if let Some(address) = address.take() {
                        let _ = address.send(url.trim_end_matches('/').to_owned());
                    }
                }
            }
        });
        let base = match tokio::time::timeout(START_TIMEOUT, banner).await {
            Ok(Ok(base)) => base,
            _ => {
                let _ = child.kill();
                let status = child.wait();
                let logs = std::fs::read_to_string(&log_path).unwrap_or_default();
                panic!("tollgate did not start ({status:?}):\n{logs}");
            }
        };
        Instance { child: Some(child), env, log_path, base }
    }

    pub fn kill9(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Still running (it has not exited, panicked to death or been killed).
    pub fn alive(&mut self) -> bool {
        self.child.as_mut().is_some_and(|child| matches!(child.try_wait(), Ok(None)))
    }
}

impl Drop for Instance {
    fn drop(&mut self) {
        self.kill9();
    }
}
