//! A `cl-target` process for integration tests: started on ephemeral loopback ports, its stdout
//! (the request log) collected line by line, killed when dropped.

#![allow(dead_code)] // each test binary uses a different part

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;

pub struct Target {
    child: Child,
    lines: Arc<Mutex<Vec<Value>>>,
    pub api: String,
    pub metrics: String,
}

impl Target {
    pub fn start(extra_args: &[&str]) -> Self {
        Self::start_with(Command::new(env!("CARGO_BIN_EXE_cl-target")), extra_args)
    }

    /// Starts from a prepared command (e.g. one that joins a cgroup before exec).
    pub fn start_with(mut command: Command, extra_args: &[&str]) -> Self {
        command
            .args(["--listen", "127.0.0.1:0", "--metrics-listen", "127.0.0.1:0"])
            .args(extra_args)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        let mut child = command.spawn().expect("spawn cl-target");
        let stdout = child.stdout.take().unwrap();
        let lines = Arc::new(Mutex::new(Vec::new()));
        let sink = Arc::clone(&lines);
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                let value: Value = serde_json::from_str(&line)
                    .unwrap_or_else(|e| panic!("stdout line is not JSON ({e}): {line}"));
                sink.lock().unwrap().push(value);
            }
        });
        let mut target = Self {
            child,
            lines,
            api: String::new(),
            metrics: String::new(),
        };
        let listening = target.wait_for(|v| v["type"] == "listening", Duration::from_secs(60));
        target.api = format!("http://{}", listening["api"].as_str().unwrap());
        target.metrics = format!("http://{}/metrics", listening["metrics"].as_str().unwrap());
        target
    }

    pub fn pid(&self) -> i32 {
        self.child.id() as i32
    }

    /// The current `/metrics` exposition.
    pub fn metrics_text(&self) -> String {
        client().get(&self.metrics).send().unwrap().text().unwrap()
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.api)
    }

    /// Waits for a stdout record matching `pred` and returns it.
    pub fn wait_for(&self, pred: impl Fn(&Value) -> bool, timeout: Duration) -> Value {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(v) = self.lines.lock().unwrap().iter().find(|v| pred(v)) {
                return v.clone();
            }
            assert!(
                Instant::now() < deadline,
                "no matching stdout record within {timeout:?}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The request records logged so far.
    pub fn requests(&self) -> Vec<Value> {
        self.lines
            .lock()
            .unwrap()
            .iter()
            .filter(|v| v["type"] == "prev_request_history")
            .cloned()
            .collect()
    }

    /// Waits until `n` request records are logged and returns them.
    pub fn wait_for_requests(&self, n: usize) -> Vec<Value> {
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            let records = self.requests();
            if records.len() >= n {
                return records;
            }
            assert!(
                Instant::now() < deadline,
                "only {} of {n} request records",
                records.len()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn terminate(&mut self) -> std::process::ExitStatus {
        // SAFETY: plain kill(2) on our own child.
        unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) };
        self.child.wait().unwrap()
    }
}

impl Drop for Target {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn client() -> reqwest::blocking::Client {
    reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(300))
        .build()
        .unwrap()
}

/// utime + stime of a process in clock ticks, from /proc/<pid>/stat.
pub fn proc_cpu_ticks(pid: i32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    // Fields after the command name (which may hold spaces) start at ") ".
    let rest = &stat[stat.rfind(')').unwrap() + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of the whole line, 12 and 13 after the name.
    fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap()
}

pub fn ticks_per_second() -> u64 {
    // SAFETY: sysconf has no preconditions.
    unsafe { libc::sysconf(libc::_SC_CLK_TCK) as u64 }
}
