use serde::{Deserialize, Serialize};

use crate::{InvalidParam, dense::DenseParams, ml::MlParams, pi::PiParams, video::VideoParams};

/// The benchmark functions, named as their HTTP endpoints are.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Function {
    Ml,
    Pi,
    Dense,
    Video,
}

impl Function {
    pub const ALL: [Function; 4] = [Function::Ml, Function::Pi, Function::Dense, Function::Video];

    /// The allowed values of one of this function's payload fields, for error messages.
    pub fn allowed(self, field: &str) -> Option<String> {
        match self {
            Function::Ml => MlParams::allowed(field),
            Function::Pi => PiParams::allowed(field),
            Function::Dense => DenseParams::allowed(field),
            Function::Video => VideoParams::allowed(field),
        }
    }

    /// The payload fields this function accepts.
    pub fn fields(self) -> &'static [&'static str] {
        match self {
            Function::Ml => &["input", "seed"],
            Function::Pi => &["num_samples", "seed"],
            Function::Dense => &[
                "num_samples",
                "epochs",
                "batch_size",
                "num_layers",
                "units",
                "seed",
            ],
            Function::Video => &["profile", "seconds", "seed"],
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Function::Ml => "ml",
            Function::Pi => "pi",
            Function::Dense => "dense",
            Function::Video => "video",
        }
    }
}

impl std::fmt::Display for Function {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// One request's parameters, tagged by function.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "function", rename_all = "lowercase")]
pub enum Payload {
    Ml(MlParams),
    Pi(PiParams),
    Dense(DenseParams),
    Video(VideoParams),
}

impl Payload {
    pub fn function(&self) -> Function {
        match self {
            Payload::Ml(_) => Function::Ml,
            Payload::Pi(_) => Function::Pi,
            Payload::Dense(_) => Function::Dense,
            Payload::Video(_) => Function::Video,
        }
    }

    pub fn validate(&self) -> Result<(), InvalidParam> {
        match self {
            Payload::Ml(p) => p.validate(),
            Payload::Pi(p) => p.validate(),
            Payload::Dense(p) => p.validate(),
            Payload::Video(p) => p.validate(),
        }
    }

    /// The request body: the parameters without the `function` tag (the endpoint says which).
    /// Also how the server logs the payload, so the two compare equal.
    pub fn body(&self) -> serde_json::Value {
        let mut value = serde_json::to_value(self).unwrap_or_default();
        if let Some(map) = value.as_object_mut() {
            map.remove("function");
        }
        value
    }

    pub fn seed(&self) -> Option<u64> {
        match self {
            Payload::Ml(p) => p.seed,
            Payload::Pi(p) => p.seed,
            Payload::Dense(p) => p.seed,
            Payload::Video(p) => p.seed,
        }
    }
}

/// What a kernel may use of the machine: derived from the pod's CPU quota, never from the host's
/// core count (libtorch, OpenMP and x264 would otherwise start one busy thread per host core and
/// fight over a 100m budget).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct ExecEnv {
    /// Worker threads a kernel may start: the CPU quota in whole cores, at least 1.
    pub threads: usize,
}

impl ExecEnv {
    /// Threads for a CPU quota of `quota_us` per `period_us` (`None` = unlimited, fall back to
    /// `host_cores`).
    pub fn from_quota(quota_us: Option<u64>, period_us: u64, host_cores: usize) -> Self {
        let threads = match quota_us {
            Some(quota) if period_us > 0 => (quota / period_us) as usize,
            _ => host_cores,
        };
        Self {
            threads: threads.max(1),
        }
    }
}

impl Default for ExecEnv {
    fn default() -> Self {
        Self { threads: 1 }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn threads_follow_the_quota_not_the_host() {
        assert_eq!(ExecEnv::from_quota(Some(10_000), 100_000, 2).threads, 1);
        assert_eq!(ExecEnv::from_quota(Some(50_000), 100_000, 2).threads, 1);
        assert_eq!(ExecEnv::from_quota(Some(250_000), 100_000, 8).threads, 2);
        assert_eq!(ExecEnv::from_quota(None, 100_000, 2).threads, 2);
    }

    #[test]
    fn every_field_has_an_allowed_range() {
        for function in Function::ALL {
            for field in function.fields() {
                assert!(function.allowed(field).is_some(), "{function}.{field}");
            }
            assert_eq!(function.allowed("nonsense"), None);
        }
    }

    #[test]
    fn payload_is_tagged_by_function() {
        let p: Payload = serde_json::from_str(r#"{"function":"pi","num_samples":1000}"#).unwrap();
        assert_eq!(p.function(), Function::Pi);
        assert_eq!(
            p,
            Payload::Pi(PiParams {
                num_samples: 1000,
                seed: None
            })
        );
    }
}
