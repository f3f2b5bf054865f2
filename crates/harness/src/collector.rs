//! Where metric samples come from while targets run: the outside probe sampler (default), or a
//! real Prometheus server the harness starts and points at the targets (`--with-prometheus`).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use collect::{PrometheusClient, PrometheusServer, ScrapeTarget};
use dataset::{SampleJournal, SampleRow};
use deploy::{Deployed, PodSize};

use crate::HarnessError;
use crate::sampler::{Sampler, SamplerTarget};

/// How long a new or restarted target may take to show up as scraped (Prometheus 2.42 applies
/// discovery changes every 5 s).
const SCRAPE_WAIT: Duration = Duration::from_secs(30);

pub enum Collector<'a> {
    Probe {
        cgroups: Option<&'a cgroup::Hierarchy>,
        journal: Arc<Mutex<SampleJournal>>,
    },
    Prometheus {
        server: &'a PrometheusServer,
        client: PrometheusClient,
        /// The current instance of each size, as scrape targets.
        targets: Mutex<BTreeMap<String, ScrapeTarget>>,
    },
}

/// Collection for one target instance, ended by [`Watch::finish`].
pub enum Watch {
    Sampler(Sampler),
    Scraped { interval: Duration },
}

impl Collector<'_> {
    pub fn dataset_collector(&self) -> dataset::Collector {
        match self {
            Collector::Probe { .. } => dataset::Collector::Probe,
            Collector::Prometheus { .. } => dataset::Collector::Prometheus,
        }
    }

    /// Starts collecting from a freshly deployed (or restarted) target; returns once the first
    /// sample is in, so every request has a state before it.
    pub fn watch(
        &self,
        target: &dyn Deployed,
        pod: &PodSize,
        interval: Duration,
    ) -> Result<Watch, HarnessError> {
        match self {
            Collector::Probe { cgroups, journal } => {
                let pid = target.pid().ok_or_else(|| {
                    HarnessError::Collector(
                        "this backend exposes no target PID to sample; use --with-prometheus"
                            .into(),
                    )
                })?;
                let sampler_target = SamplerTarget {
                    pid,
                    size: &pod.name,
                    instance: target.instance(),
                    interval,
                };
                Ok(Watch::Sampler(Sampler::start(
                    sampler_target,
                    *cgroups,
                    Arc::clone(journal),
                )?))
            }
            Collector::Prometheus {
                server,
                client,
                targets,
            } => {
                let address = target
                    .metrics_url()
                    .trim_start_matches("http://")
                    .to_owned();
                let labels = BTreeMap::from([
                    ("size".to_owned(), pod.name.clone()),
                    ("instance".to_owned(), target.instance().to_owned()),
                ]);
                let all: Vec<ScrapeTarget> = {
                    let mut targets = targets.lock().unwrap_or_else(|p| p.into_inner());
                    targets.insert(
                        pod.name.clone(),
                        ScrapeTarget {
                            address: address.clone(),
                            labels,
                        },
                    );
                    targets.values().cloned().collect()
                };
                server.set_targets(&all).map_err(collector_error)?;
                collect::wait_for_scrapes(client, &[address.as_str()], SCRAPE_WAIT)
                    .map_err(collector_error)?;
                Ok(Watch::Scraped { interval })
            }
        }
    }

    /// All samples of the run, for the dataset.
    pub fn samples(
        &self,
        journal_path: &std::path::Path,
        from_ns: i64,
        to_ns: i64,
    ) -> Result<Vec<SampleRow>, HarnessError> {
        match self {
            Collector::Probe { journal, .. } => {
                journal.lock().unwrap_or_else(|p| p.into_inner()).flush()?;
                Ok(SampleJournal::read(journal_path)?)
            }
            Collector::Prometheus { client, .. } => client
                .raw_samples(collect::DEFAULT_SELECTOR, from_ns, to_ns)
                .map_err(collector_error),
        }
    }
}

impl Watch {
    /// Ends collection once a sample at or after `after_ns` exists (the last request's closing
    /// state), waiting at most about two intervals.
    pub fn finish(self, after_ns: i64) {
        match self {
            Watch::Sampler(sampler) => sampler.stop_after(after_ns),
            Watch::Scraped { interval } => {
                // Prometheus scrapes on its own clock: one interval (plus slack) after the end
                // guarantees a scrape past it.
                let deadline = Instant::now() + interval + Duration::from_millis(300);
                std::thread::sleep(deadline.saturating_duration_since(Instant::now()));
            }
        }
    }
}

fn collector_error(err: collect::CollectError) -> HarnessError {
    HarnessError::Collector(err.to_string())
}
