//! Waiting until freshly deployed targets are being scraped.

use std::time::{Duration, Instant};

use crate::client::{ActiveTarget, PrometheusClient, TargetHealth};
use crate::error::CollectError;

const POLL: Duration = Duration::from_millis(100);

/// Waits until every `host:port` in `addresses` is an active target that was scraped
/// successfully (`up`), so that the first requests of a run already have samples around them.
/// Returns those targets, in the order of `addresses`. API errors are retried until `timeout`
/// (a server that just started, or just got new targets, may answer late).
pub fn wait_for_scrapes(
    client: &PrometheusClient,
    addresses: &[&str],
    timeout: Duration,
) -> Result<Vec<ActiveTarget>, CollectError> {
    let started = Instant::now();
    loop {
        let detail = match client.targets() {
            Ok(targets) => match all_up(&targets, addresses) {
                Ok(found) => return Ok(found),
                Err(pending) => pending,
            },
            Err(e) => e.to_string(),
        };
        if started.elapsed() >= timeout {
            return Err(CollectError::TargetsNotUp {
                url: client.base_url().to_owned(),
                waited: started.elapsed(),
                detail,
            });
        }
        std::thread::sleep(POLL);
    }
}

/// The targets of `addresses` when all are up, else what is still missing.
fn all_up(targets: &[ActiveTarget], addresses: &[&str]) -> Result<Vec<ActiveTarget>, String> {
    let mut found = Vec::with_capacity(addresses.len());
    let mut pending = Vec::new();
    for address in addresses {
        match targets.iter().find(|t| t.address == *address) {
            Some(t) if t.health == TargetHealth::Up => found.push(t.clone()),
            Some(t) if t.last_error.is_empty() => {
                pending.push(format!("{address}: not scraped yet"))
            }
            Some(t) => pending.push(format!("{address}: {}", t.last_error)),
            None => pending.push(format!("{address}: not discovered yet")),
        }
    }
    if pending.is_empty() {
        Ok(found)
    } else {
        Err(pending.join("; "))
    }
}
