//! The child processes (mock upstream, Tollgate): started, watched, always killed.

use crate::error::BenchError;
use std::future::Future;
use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

/// A child process that is killed and reaped when dropped, however the run ends.
pub struct Child {
    name: &'static str,
    log: PathBuf,
    inner: std::process::Child,
    /// The highest peak seen before the last reset.
    earlier_peak_kib: Option<u64>,
}

impl Child {
    /// Starts `command` with its standard error going to `log`.
    pub fn spawn(name: &'static str, mut command: Command, log: PathBuf) -> Result<Child, BenchError> {
        let file = std::fs::File::create(&log).map_err(BenchError::io(&log))?;
        let inner = command
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(file)
            .spawn()
            .map_err(|source| BenchError::Spawn { name, source })?;
        Ok(Child { name, log, inner, earlier_peak_kib: None })
    }

    /// Fails if the child has died (a crash would otherwise read as a wall of errors).
    pub fn ensure_running(&mut self) -> Result<(), BenchError> {
        match self.inner.try_wait() {
            Ok(Some(status)) => {
                Err(BenchError::Exited { name: self.name, status, log: self.log.display().to_string() })
            }
            _ => Ok(()),
        }
    }

    /// Starts a new peak: the kernel sets `VmHWM` back to what is resident now.
    pub fn reset_peak_rss(&mut self) {
        self.earlier_peak_kib = self.whole_run_peak_rss_kib();
        // Best effort: without /proc the peak is simply not reported.
        let _ = std::fs::write(format!("/proc/{}/clear_refs", self.inner.id()), "5");
    }

    /// The most memory the child has held resident since it started, in KiB.
    pub fn whole_run_peak_rss_kib(&self) -> Option<u64> {
        self.peak_rss_kib().max(self.earlier_peak_kib)
    }

    /// CPU time the child has used so far, all its threads, user and system.
    pub fn cpu_time(&self) -> Option<Duration> {
        cpu_time_of(&self.inner.id().to_string())
    }

    /// The most memory the child has held resident since the last reset (`VmHWM`), in KiB.
    pub fn peak_rss_kib(&self) -> Option<u64> {
        self.status_kib("VmHWM:")
    }

    /// The memory the child holds resident now (`VmRSS`), in KiB.
    pub fn rss_kib(&self) -> Option<u64> {
        self.status_kib("VmRSS:")
    }

    fn status_kib(&self, field: &str) -> Option<u64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.inner.id())).ok()?;
        let line = status.lines().find(|line| line.starts_with(field))?;
        line.split_whitespace().nth(1)?.parse().ok()
    }
}

impl Drop for Child {
    fn drop(&mut self) {
        let _ = self.inner.kill();
        let _ = self.inner.wait();
    }
}

/// CPU time used so far by each of the three processes of a run.
#[derive(Debug, Clone, Copy, Default)]
pub struct CpuUse {
    pub generator: Duration,
    pub mock: Duration,
    /// The proxy in front of the mock: the bare forwarder or Tollgate (zero when direct).
    pub proxy: Duration,
}

impl CpuUse {
    /// Reads all three now; a process whose figure cannot be read counts as zero.
    pub fn now(mock: &Child, proxy: Option<&Child>) -> CpuUse {
        CpuUse {
            generator: own_cpu_time().unwrap_or_default(),
            mock: mock.cpu_time().unwrap_or_default(),
            proxy: proxy.and_then(Child::cpu_time).unwrap_or_default(),
        }
    }

    pub fn since(&self, earlier: &CpuUse) -> CpuUse {
        CpuUse {
            generator: self.generator.saturating_sub(earlier.generator),
            mock: self.mock.saturating_sub(earlier.mock),
            proxy: self.proxy.saturating_sub(earlier.proxy),
        }
    }
}

/// CPU time this process (the load generator) has used so far.
pub fn own_cpu_time() -> Option<Duration> {
    cpu_time_of("self")
}

/// `utime + stime` from `/proc/<pid>/stat`: fields 14 and 15, counted after the command
/// name (which may hold spaces, hence the split at its closing parenthesis).
fn cpu_time_of(pid: &str) -> Option<Duration> {
    /// The kernel reports these in USER_HZ, which Linux fixes at 100 for user space.
    const TICKS_PER_SECOND: u64 = 100;
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after_name = &stat[stat.rfind(')')? + 2..];
    let mut fields = after_name.split_whitespace().skip(11);
    let ticks: u64 = fields.next()?.parse::<u64>().ok()? + fields.next()?.parse::<u64>().ok()?;
    Some(Duration::from_millis(ticks * 1000 / TICKS_PER_SECOND))
}

/// A loopback port nobody listens on right now, for a child to bind.
pub fn free_port() -> Result<u16, BenchError> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").map_err(BenchError::io("127.0.0.1:0"))?;
    listener.local_addr().map(|addr| addr.port()).map_err(BenchError::io("127.0.0.1:0"))
}

/// Polls `ready` until it answers true, the child dies, or `timeout` passes.
pub async fn wait_until<F, Fut>(
    what: &'static str,
    child: &mut Child,
    timeout: Duration,
    ready: F,
) -> Result<(), BenchError>
where
    F: Fn() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = Instant::now() + timeout;
    loop {
        child.ensure_running()?;
        if ready().await {
            return Ok(());
        }
        if Instant::now() > deadline {
            return Err(BenchError::NotReady { what, seconds: timeout.as_secs() });
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
