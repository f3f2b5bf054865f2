//! A Prometheus server of our own on loopback: its config, its targets file, its process.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::net::{Ipv4Addr, SocketAddr, TcpListener};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::client::PrometheusClient;
use crate::error::CollectError;

/// The scrape job's name, and so the `job` label of every sample it scrapes.
pub const JOB_NAME: &str = "computelocator";

const CONFIG_FILE: &str = "prometheus.yml";
const TARGETS_FILE: &str = "targets.json";
const LOG_FILE: &str = "prometheus.log";
const STORAGE_DIR: &str = "tsdb";
const LOG_TAIL_BYTES: u64 = 4096;
const READY_POLL: Duration = Duration::from_millis(50);
/// How long a SIGTERM gets (head compaction and WAL close) before SIGKILL.
const STOP_GRACE: Duration = Duration::from_secs(10);
/// A port picked free can be taken before Prometheus binds it: try a few fresh ones.
const PORT_ATTEMPTS: usize = 3;

#[derive(Debug, Clone)]
pub struct ServerOptions {
    /// The `prometheus` executable; a bare name is looked up on `PATH`.
    pub binary: PathBuf,
    /// Holds the config, the targets file, the TSDB and the log. Created if missing.
    pub data_dir: PathBuf,
    pub scrape_interval: Duration,
    /// `None`: a free loopback port.
    pub listen: Option<SocketAddr>,
    /// How long to wait for `/-/ready`.
    pub ready_timeout: Duration,
}

impl ServerOptions {
    /// `prometheus` from `PATH`, 1 s scrapes, a free loopback port, 30 s to become ready.
    pub fn new(data_dir: impl Into<PathBuf>) -> Self {
        Self {
            binary: PathBuf::from("prometheus"),
            data_dir: data_dir.into(),
            scrape_interval: Duration::from_secs(1),
            listen: None,
            ready_timeout: Duration::from_secs(30),
        }
    }
}

/// One endpoint to scrape: `host:port` of its metrics listener and labels to attach. The
/// target's own labels win over these (`honor_labels`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScrapeTarget {
    pub address: String,
    pub labels: BTreeMap<String, String>,
}

/// A running Prometheus. [`stop`](Self::stop) ends it gracefully; dropping it kills it.
#[derive(Debug)]
pub struct PrometheusServer {
    child: Option<Child>,
    pid: u32,
    url: String,
    data_dir: PathBuf,
}

impl PrometheusServer {
    /// Writes the config and an empty targets file, starts Prometheus and waits until it is
    /// ready. Fails with the log's tail if it exits or stays unready.
    pub fn start(options: ServerOptions) -> Result<Self, CollectError> {
        let interval = prometheus_duration(options.scrape_interval)?;
        std::fs::create_dir_all(&options.data_dir)
            .map_err(|e| CollectError::io(format!("create {}", options.data_dir.display()), e))?;
        // Absolute paths: the config names the targets file and Prometheus resolves it itself.
        let data_dir = std::path::absolute(&options.data_dir)
            .map_err(|e| CollectError::io(format!("resolve {}", options.data_dir.display()), e))?;
        let targets_path = data_dir.join(TARGETS_FILE);
        write_atomically(&targets_path, b"[]\n")?;
        let config_path = data_dir.join(CONFIG_FILE);
        write_atomically(
            &config_path,
            render_config(&interval, &targets_path).as_bytes(),
        )?;

        let attempts = if options.listen.is_some() {
            1
        } else {
            PORT_ATTEMPTS
        };
        let mut last_error = None;
        for _ in 0..attempts {
            let listen = match options.listen {
                Some(addr) => addr,
                None => free_loopback_port()?,
            };
            match Self::launch(&options, &data_dir, &config_path, listen) {
                Ok(server) => return Ok(server),
                Err(CollectError::ServerExited { status, log_tail })
                    if options.listen.is_none() && log_tail.contains("address already in use") =>
                {
                    last_error = Some(CollectError::ServerExited { status, log_tail });
                }
                Err(e) => return Err(e),
            }
        }
        Err(last_error.expect("at least one attempt"))
    }

    fn launch(
        options: &ServerOptions,
        data_dir: &Path,
        config_path: &Path,
        listen: SocketAddr,
    ) -> Result<Self, CollectError> {
        let log_path = data_dir.join(LOG_FILE);
        let log = File::create(&log_path)
            .map_err(|e| CollectError::io(format!("create {}", log_path.display()), e))?;
        let log_for_stderr = log
            .try_clone()
            .map_err(|e| CollectError::io(format!("reopen {}", log_path.display()), e))?;
        let mut command = Command::new(&options.binary);
        command
            .arg(format!("--config.file={}", config_path.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                data_dir.join(STORAGE_DIR).display()
            ))
            .arg(format!("--web.listen-address={listen}"))
            .current_dir(data_dir)
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(log_for_stderr)
            // Its own process group: a Ctrl-C at the terminal reaches the harness, which still
            // needs this server to read the run's samples back before stopping it.
            .process_group(0);
        // If the harness dies without stopping it, Prometheus dies too instead of scraping on.
        // The signal follows the spawning thread, so start the server on a long-lived thread.
        // SAFETY: prctl is async-signal-safe and changes only the child's own state.
        unsafe {
            command.pre_exec(|| {
                if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) == -1 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let child = command.spawn().map_err(|source| CollectError::Spawn {
            binary: options.binary.clone(),
            source,
        })?;
        let mut server = Self {
            pid: child.id(),
            child: Some(child),
            url: format!("http://{listen}"),
            data_dir: data_dir.to_owned(),
        };
        let started = Instant::now();
        server.wait_ready(options.ready_timeout)?;
        tracing::info!(
            url = server.url,
            pid = server.pid,
            ready_after_ms = started.elapsed().as_millis() as u64,
            "Prometheus ready"
        );
        Ok(server)
    }

    fn wait_ready(&mut self, timeout: Duration) -> Result<(), CollectError> {
        let client = PrometheusClient::new(&self.url, Duration::from_secs(1))?;
        let started = Instant::now();
        loop {
            if let Some(status) = self.try_wait()? {
                self.child = None;
                return Err(CollectError::ServerExited {
                    status,
                    log_tail: self.log_tail(),
                });
            }
            if matches!(client.is_ready(), Ok(true)) {
                return Ok(());
            }
            if started.elapsed() >= timeout {
                return Err(CollectError::NotReady {
                    url: self.url.clone(),
                    waited: started.elapsed(),
                    log_tail: self.log_tail(),
                });
            }
            std::thread::sleep(READY_POLL);
        }
    }

    /// `http://127.0.0.1:PORT`, for [`PrometheusClient::new`].
    pub fn url(&self) -> &str {
        &self.url
    }

    pub fn pid(&self) -> u32 {
        self.pid
    }

    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    pub fn log_path(&self) -> PathBuf {
        self.data_dir.join(LOG_FILE)
    }

    /// Replaces the scrape targets. Prometheus watches the file and applies the change without a
    /// restart or reload, but batches discovery updates: new targets are scraped ~5 s later
    /// (5–10 s with 2.42), so follow with [`wait_for_scrapes`](crate::wait_for_scrapes).
    /// Written to a temporary file and renamed, so Prometheus never reads a half-written list.
    pub fn set_targets(&self, targets: &[ScrapeTarget]) -> Result<(), CollectError> {
        let groups: Vec<TargetGroup<'_>> = targets
            .iter()
            .map(|t| TargetGroup {
                targets: [t.address.as_str()],
                labels: &t.labels,
            })
            .collect();
        let mut json = serde_json::to_vec_pretty(&groups)
            .map_err(|e| CollectError::io("encode targets", std::io::Error::other(e)))?;
        json.push(b'\n');
        write_atomically(&self.data_dir.join(TARGETS_FILE), &json)
    }

    /// SIGTERM, then SIGKILL if it has not exited within 10 s. Returns its exit status.
    pub fn stop(mut self) -> Result<ExitStatus, CollectError> {
        let Some(mut child) = self.child.take() else {
            return Err(CollectError::io(
                "stop Prometheus",
                std::io::Error::other("it already exited"),
            ));
        };
        // SAFETY: plain syscall on our own child, which is not yet reaped (so the pid is ours).
        unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGTERM) };
        let deadline = Instant::now() + STOP_GRACE;
        loop {
            if let Some(status) = child
                .try_wait()
                .map_err(|e| CollectError::io("wait for Prometheus", e))?
            {
                return Ok(status);
            }
            if Instant::now() >= deadline {
                tracing::warn!(pid = self.pid, "Prometheus ignored SIGTERM; killing it");
                let _ = child.kill();
                return child
                    .wait()
                    .map_err(|e| CollectError::io("wait for Prometheus", e));
            }
            std::thread::sleep(READY_POLL);
        }
    }

    fn try_wait(&mut self) -> Result<Option<ExitStatus>, CollectError> {
        match &mut self.child {
            Some(child) => child
                .try_wait()
                .map_err(|e| CollectError::io("wait for Prometheus", e)),
            None => Ok(None),
        }
    }

    fn log_tail(&self) -> String {
        read_tail(&self.log_path(), LOG_TAIL_BYTES)
            .unwrap_or_else(|e| format!("(log unreadable: {e})"))
    }
}

impl Drop for PrometheusServer {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// One file_sd group: the target and its labels.
#[derive(Serialize)]
struct TargetGroup<'a> {
    targets: [&'a str; 1],
    labels: &'a BTreeMap<String, String>,
}

fn render_config(interval: &str, targets_path: &Path) -> String {
    // serde_json's string quoting is valid YAML (JSON is a subset of YAML 1.2).
    let targets_file = serde_json::Value::from(targets_path.display().to_string());
    format!(
        "# Generated at every start; edits are overwritten.
global:
  scrape_interval: {interval}
  scrape_timeout: {interval}
scrape_configs:
  - job_name: {JOB_NAME}
    # Targets label their own samples instance=<size>#<n>: that name must win over the
    # host:port Prometheus would set, or a restarted target on a new port would look like a
    # different one and samples could not be joined to requests.
    honor_labels: true
    scrape_interval: {interval}
    scrape_timeout: {interval}
    metrics_path: /metrics
    file_sd_configs:
      # Watched for changes: restarted targets come back on new ports.
      - files: [{targets_file}]
        refresh_interval: {interval}
"
    )
}

/// A Go-style duration Prometheus accepts, at millisecond resolution.
fn prometheus_duration(duration: Duration) -> Result<String, CollectError> {
    let ms = duration.as_millis();
    if ms == 0 {
        return Err(CollectError::InvalidInterval(duration));
    }
    Ok(if ms.is_multiple_of(1000) {
        format!("{}s", ms / 1000)
    } else {
        format!("{ms}ms")
    })
}

fn free_loopback_port() -> Result<SocketAddr, CollectError> {
    TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .and_then(|listener| listener.local_addr())
        .map_err(|e| CollectError::io("pick a free loopback port", e))
}

fn write_atomically(path: &Path, contents: &[u8]) -> Result<(), CollectError> {
    let mut temp_name = path.file_name().unwrap_or_default().to_os_string();
    temp_name.push(".tmp");
    let temp = path.with_file_name(temp_name);
    std::fs::write(&temp, contents)
        .map_err(|e| CollectError::io(format!("write {}", temp.display()), e))?;
    std::fs::rename(&temp, path)
        .map_err(|e| CollectError::io(format!("rename to {}", path.display()), e))
}

fn read_tail(path: &Path, max_bytes: u64) -> std::io::Result<String> {
    let mut file = File::open(path)?;
    let length = file.metadata()?.len();
    file.seek(SeekFrom::Start(length.saturating_sub(max_bytes)))?;
    let mut bytes = Vec::new();
    file.read_to_end(&mut bytes)?;
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_render_as_prometheus_accepts_them() {
        assert_eq!(prometheus_duration(Duration::from_secs(1)).unwrap(), "1s");
        assert_eq!(
            prometheus_duration(Duration::from_millis(1500)).unwrap(),
            "1500ms"
        );
        assert!(matches!(
            prometheus_duration(Duration::from_micros(10)),
            Err(CollectError::InvalidInterval(_))
        ));
    }

    #[test]
    fn config_keeps_target_labels_and_watches_the_targets_file() {
        let config = render_config("2s", Path::new("/data/targets.json"));
        assert!(config.contains("honor_labels: true"));
        assert!(config.contains(r#"files: ["/data/targets.json"]"#));
        assert!(config.contains("scrape_timeout: 2s"));
        assert!(config.contains(&format!("job_name: {JOB_NAME}")));
    }
}
