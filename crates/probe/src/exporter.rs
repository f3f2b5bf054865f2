//! Prometheus registry and text exposition of [`Sample`]s.

use std::collections::HashMap;

use prometheus::{Encoder, Gauge, GaugeVec, Opts, Registry, TextEncoder};

use crate::{Error, METRICS, Sample};

/// A registry with one gauge per entry of [`METRICS`] plus the info metric
/// `process{pid,name,cmdline} 1`. Metrics a sample lacks are exported as NaN (absent data, not
/// zero).
pub struct Exporter {
    registry: Registry,
    gauges: Vec<Gauge>,
    info: GaugeVec,
}

impl Exporter {
    /// `const_labels` (e.g. `size`, `pod`) are attached to every metric.
    pub fn new(const_labels: HashMap<String, String>) -> Result<Self, Error> {
        let registry = Registry::new();
        let mut gauges = Vec::with_capacity(METRICS.len());
        for def in METRICS {
            let gauge =
                Gauge::with_opts(Opts::new(def.name, def.help).const_labels(const_labels.clone()))?;
            gauge.set(f64::NAN);
            registry.register(Box::new(gauge.clone()))?;
            gauges.push(gauge);
        }
        let info = GaugeVec::new(
            Opts::new("process", "Process information").const_labels(const_labels),
            &["pid", "name", "cmdline"],
        )?;
        registry.register(Box::new(info.clone()))?;
        Ok(Exporter {
            registry,
            gauges,
            info,
        })
    }

    /// Sets every gauge from `sample`.
    pub fn update(&self, sample: &Sample) {
        for (def, gauge) in METRICS.iter().zip(&self.gauges) {
            gauge.set(def.value(sample).unwrap_or(f64::NAN));
        }
    }

    /// Replaces the info metric's labels.
    pub fn set_info(&self, pid: i32, name: &str, cmdline: &str) {
        self.info.reset();
        self.info
            .with_label_values(&[pid.to_string().as_str(), name, cmdline])
            .set(1.0);
    }

    /// The text exposition format 0.0.4 of everything registered.
    pub fn encode(&self) -> Result<String, Error> {
        let mut out = Vec::with_capacity(8192);
        TextEncoder::new().encode(&self.registry.gather(), &mut out)?;
        String::from_utf8(out).map_err(|e| Error::Prometheus(prometheus::Error::Msg(e.to_string())))
    }

    /// The content type of [`Exporter::encode`]'s output, for an HTTP response.
    pub fn content_type(&self) -> &'static str {
        prometheus::TEXT_FORMAT
    }

    /// The registry, for the caller's own metrics (e.g. build info).
    pub fn registry(&self) -> &Registry {
        &self.registry
    }
}
