//! The real `cl-aggregator` binary on an ephemeral loopback port, for the integration tests.

#![allow(dead_code)] // each test binary uses a different part

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

use aggregator::ErrorBody;

/// A running `cl-aggregator`, killed when dropped.
pub struct Aggregator {
    child: Child,
    pub base: String,
    pub http: reqwest::blocking::Client,
}

impl Aggregator {
    /// Starts the binary with `args` (the source flags) on a free port; returns once it listens.
    pub fn start(args: &[&str]) -> Aggregator {
        let mut child = Command::new(env!("CARGO_BIN_EXE_cl-aggregator"))
            .args(["--listen", "127.0.0.1:0"])
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let address = line
            .trim()
            .strip_prefix("listening on ")
            .unwrap()
            .to_owned();
        Aggregator {
            child,
            base: format!("http://{address}"),
            http: reqwest::blocking::Client::new(),
        }
    }

    pub fn get(&self, path_and_query: &str) -> reqwest::blocking::Response {
        self.http
            .get(format!("{}{path_and_query}", self.base))
            .send()
            .unwrap()
    }

    pub fn post(
        &self,
        path: &str,
        body: impl Into<reqwest::blocking::Body>,
    ) -> reqwest::blocking::Response {
        self.http
            .post(format!("{}{path}", self.base))
            .header("content-type", "application/json")
            .body(body)
            .send()
            .unwrap()
    }

    /// Status and JSON error body of a request expected to fail.
    pub fn error(&self, path_and_query: &str) -> (u16, ErrorBody) {
        Self::status_and_error(self.get(path_and_query))
    }

    /// Status and JSON error body of a `POST` expected to fail.
    pub fn post_error(
        &self,
        path: &str,
        body: impl Into<reqwest::blocking::Body>,
    ) -> (u16, ErrorBody) {
        Self::status_and_error(self.post(path, body))
    }

    fn status_and_error(response: reqwest::blocking::Response) -> (u16, ErrorBody) {
        let status = response.status().as_u16();
        (status, response.json().unwrap())
    }
}

impl Drop for Aggregator {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
