//! The spec types as written in TOML, and the checks a spec must pass before it is scheduled.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::de::{self, MapAccess, SeqAccess, Visitor, value::MapAccessDeserializer};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use workloads::Function;

use crate::error::SpecError;
use crate::grid::{self, MAX_GRID_POINTS};
use crate::locate::{FieldPath, SpannedSource, position_at};
use crate::prices::{DEFAULT_PRICE_PER_CORE_SECOND, DEFAULT_PRICE_PER_GIB_SECOND};

/// Most requests one schedule may hold, so that a typo in `repetitions` cannot exhaust memory.
pub const MAX_SCHEDULE_LEN: u64 = 1_000_000;
/// Scrape interval bounds, in milliseconds.
pub const SCRAPE_INTERVAL_MS: (u64, u64) = (100, 60_000);
/// CPU limit bounds, in millicores.
pub const CPU_MILLICORES: (u32, u32) = (1, 64_000);
/// Smallest memory limit a target can start in.
pub const MIN_MEMORY_BYTES: u64 = 64 << 20;
/// Longest request timeout, in seconds.
pub const MAX_TIMEOUT_S: u64 = 86_400;

/// One experiment: which pod sizes run which requests, how often, in what order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Spec {
    /// Names the experiment and its run directories: letters, digits, '.', '_' and '-'.
    pub name: String,
    #[serde(default)]
    pub description: String,
    /// The root of all randomness: payload seeds and per-size request orders derive from it.
    pub seed: u64,
    /// How often each grid point runs on each size.
    #[serde(default = "one")]
    #[schemars(range(min = 1))]
    pub repetitions: u32,
    /// Warm-up requests per size and function, run before the measured ones and flagged.
    #[serde(default = "one")]
    pub warmup: u32,
    #[serde(default)]
    pub order: Order,
    /// Drive every size at the same time (each size still runs one request at a time).
    #[serde(default)]
    pub concurrent_sizes: bool,
    /// How often the sampler reads each target's counters.
    #[serde(default = "default_scrape_interval_ms")]
    #[schemars(range(min = 100, max = 60000))]
    pub scrape_interval_ms: u64,
    /// Per-request timeout unless a function sets its own.
    #[serde(default = "default_request_timeout_s")]
    #[schemars(range(min = 1, max = 86400))]
    pub request_timeout_s: u64,
    #[serde(default)]
    pub backend: BackendKind,
    /// The pod sizes compared; every size runs the same requests.
    pub sizes: Vec<SizeSpec>,
    /// The functions called and the payload grids they sweep.
    pub functions: Vec<FunctionSpec>,
}

fn one() -> u32 {
    1
}
fn default_scrape_interval_ms() -> u64 {
    1_000
}
fn default_request_timeout_s() -> u64 {
    300
}

/// The order each size runs its measured requests in.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Order {
    /// A seeded permutation per size, so that slow drifts (thermal, neighbours) do not line up
    /// with one function or one payload.
    #[default]
    Shuffled,
    /// Function entry, then grid point, then repetition, as written.
    Grouped,
}

/// Where the targets run.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum BackendKind {
    /// Processes on this machine, limited by cgroups.
    #[default]
    Local,
    /// Pods on a Kubernetes cluster.
    Kube,
}

/// A pod size: its CPU and memory limits and what they cost.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SizeSpec {
    /// A DNS label (lowercase letters, digits, '-'), since it names pods and cgroups.
    pub name: String,
    /// CPU limit: 1000 = one core.
    #[schemars(range(min = 1, max = 64000))]
    pub cpu_millicores: u32,
    /// Memory limit, e.g. "1Gi", "512Mi", "2G" or a number of bytes.
    pub memory: Memory,
    /// US dollars per core-second of CPU limit (default: AWS Fargate us-east-1,
    /// $0.04048 per vCPU-hour).
    #[serde(default = "default_price_per_core_second")]
    pub price_per_core_second: f64,
    /// US dollars per GiB-second of memory limit (default: AWS Fargate us-east-1,
    /// $0.004445 per GB-hour).
    #[serde(default = "default_price_per_gib_second")]
    pub price_per_gib_second: f64,
}

fn default_price_per_core_second() -> f64 {
    DEFAULT_PRICE_PER_CORE_SECOND
}
fn default_price_per_gib_second() -> f64 {
    DEFAULT_PRICE_PER_GIB_SECOND
}

impl SizeSpec {
    pub fn memory_bytes(&self) -> u64 {
        self.memory.bytes()
    }

    /// The CPU limit in cores, e.g. 0.1 for 100m.
    pub fn cores(&self) -> f64 {
        f64::from(self.cpu_millicores) / 1000.0
    }

    /// What one second of this size costs, in US dollars, at its limits.
    pub fn price_per_second(&self) -> f64 {
        self.cores() * self.price_per_core_second
            + self.memory_bytes() as f64 / f64::from(1u32 << 30) * self.price_per_gib_second
    }
}

/// One function and the payload grid it is called with.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(extend("allOf" = grid::payload_field_rules()))]
pub struct FunctionSpec {
    #[schemars(schema_with = "function_schema")]
    pub function: Function,
    /// Payload fields to sweep; fields not listed keep the workload's defaults. `seed` is
    /// assigned by the schedule and may not be listed.
    #[serde(default)]
    pub payload: BTreeMap<String, Values>,
    /// Per-request timeout for this function, overriding the spec's `request_timeout_s`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 86400))]
    pub timeout_s: Option<u64>,
}

fn function_schema(_: &mut SchemaGenerator) -> Schema {
    let names: Vec<&str> = Function::ALL.iter().map(|f| f.name()).collect();
    json_schema!({
        "description": "The benchmark function, named as its HTTP endpoint.",
        "type": "string",
        "enum": names,
    })
}

/// The values one payload field takes: a number, a list, or a range.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum Values {
    /// `input = [1, 10, 100]` (a single number `input = 5` is a list of one).
    List(Vec<f64>),
    /// `{ from = 1, to = 9, step = 2 }`: from, from + step, … up to and including `to`.
    Linear { from: f64, to: f64, step: f64 },
    /// `{ from = 1, to = 1e8, log_steps = 9 }`: `log_steps` points spaced evenly in log scale
    /// from `from` to `to`, both included.
    Log { from: f64, to: f64, log_steps: u32 },
}

/// The table form before it is known to be linear or logarithmic.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RangeTable {
    from: f64,
    to: f64,
    step: Option<f64>,
    log_steps: Option<u32>,
}

impl<'de> Deserialize<'de> for Values {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct ValuesVisitor;

        impl<'de> Visitor<'de> for ValuesVisitor {
            type Value = Values;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(
                    "a number, a list of numbers, { from, to, step } or { from, to, log_steps }",
                )
            }

            fn visit_i64<E: de::Error>(self, value: i64) -> Result<Values, E> {
                Ok(Values::List(vec![value as f64]))
            }

            fn visit_u64<E: de::Error>(self, value: u64) -> Result<Values, E> {
                Ok(Values::List(vec![value as f64]))
            }

            fn visit_f64<E: de::Error>(self, value: f64) -> Result<Values, E> {
                Ok(Values::List(vec![value]))
            }

            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Values, A::Error> {
                let mut values = Vec::new();
                while let Some(value) = seq.next_element::<f64>()? {
                    values.push(value);
                }
                if values.is_empty() {
                    return Err(de::Error::invalid_length(0, &"at least one value"));
                }
                Ok(Values::List(values))
            }

            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Values, A::Error> {
                let range = RangeTable::deserialize(MapAccessDeserializer::new(map))?;
                match (range.step, range.log_steps) {
                    (Some(step), None) => Ok(Values::Linear {
                        from: range.from,
                        to: range.to,
                        step,
                    }),
                    (None, Some(log_steps)) => Ok(Values::Log {
                        from: range.from,
                        to: range.to,
                        log_steps,
                    }),
                    _ => Err(de::Error::custom(
                        "a range needs exactly one of `step` (linear) or `log_steps` (logarithmic)",
                    )),
                }
            }
        }

        deserializer.deserialize_any(ValuesVisitor)
    }
}

impl JsonSchema for Values {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Values".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "description": "A number, a list of numbers, a linear range { from, to, step } or a logarithmic range { from, to, log_steps }.",
            "anyOf": [
                { "type": "number" },
                { "type": "array", "items": { "type": "number" }, "minItems": 1 },
                {
                    "type": "object",
                    "properties": {
                        "from": { "type": "number" },
                        "to": { "type": "number" },
                        "step": { "type": "number", "exclusiveMinimum": 0 }
                    },
                    "required": ["from", "to", "step"],
                    "additionalProperties": false
                },
                {
                    "type": "object",
                    "properties": {
                        "from": { "type": "number", "exclusiveMinimum": 0 },
                        "to": { "type": "number", "exclusiveMinimum": 0 },
                        "log_steps": { "type": "integer", "minimum": 1 }
                    },
                    "required": ["from", "to", "log_steps"],
                    "additionalProperties": false
                }
            ]
        })
    }
}

/// A memory quantity as Kubernetes writes it (`1Gi`, `512Mi`, `2G`, `1.5Gi`, `1073741824`),
/// kept verbatim together with its value in bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Memory {
    text: String,
    bytes: u64,
}

impl Memory {
    pub fn parse(text: &str) -> Result<Self, String> {
        parse_quantity(text).map(|bytes| Self {
            text: text.to_owned(),
            bytes,
        })
    }

    pub fn bytes(&self) -> u64 {
        self.bytes
    }

    pub fn as_str(&self) -> &str {
        &self.text
    }
}

impl fmt::Display for Memory {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

const BINARY_SUFFIXES: [(&str, u32); 6] = [
    ("Ki", 10),
    ("Mi", 20),
    ("Gi", 30),
    ("Ti", 40),
    ("Pi", 50),
    ("Ei", 60),
];
const DECIMAL_SUFFIXES: [(&str, u32); 6] = [
    ("k", 3),
    ("M", 6),
    ("G", 9),
    ("T", 12),
    ("P", 15),
    ("E", 18),
];

/// Bytes in a Kubernetes quantity, rounded up to a whole byte as Kubernetes does.
fn parse_quantity(text: &str) -> Result<u64, String> {
    let invalid = || {
        format!(
            "`{text}` is not a memory quantity (a number with an optional suffix Ki, Mi, Gi, Ti, Pi, Ei, k, M, G, T, P or E)"
        )
    };
    let split = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(text.len());
    let (number, suffix) = text.split_at(split);
    let multiplier: u128 = if suffix.is_empty() {
        1
    } else if let Some((_, shift)) = BINARY_SUFFIXES.iter().find(|(s, _)| *s == suffix) {
        1u128 << shift
    } else if let Some((_, exponent)) = DECIMAL_SUFFIXES.iter().find(|(s, _)| *s == suffix) {
        10u128.pow(*exponent)
    } else {
        return Err(invalid());
    };
    let (whole, fraction) = number.split_once('.').unwrap_or((number, ""));
    let all_digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if whole.is_empty() || !all_digits(whole) || !all_digits(fraction) || fraction.len() > 18 {
        return Err(invalid());
    }
    let whole: u128 = whole.parse().map_err(|_| invalid())?;
    let fraction_scale = 10u128.pow(fraction.len() as u32);
    let fraction: u128 = if fraction.is_empty() {
        0
    } else {
        fraction.parse().map_err(|_| invalid())?
    };
    let bytes = whole
        .checked_mul(multiplier)
        .and_then(|bytes| bytes.checked_add((fraction * multiplier).div_ceil(fraction_scale)))
        .and_then(|bytes| u64::try_from(bytes).ok())
        .ok_or_else(|| format!("`{text}` is more memory than 2^64 bytes"))?;
    Ok(bytes)
}

impl Serialize for Memory {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.text)
    }
}

impl<'de> Deserialize<'de> for Memory {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct MemoryVisitor;

        impl Visitor<'_> for MemoryVisitor {
            type Value = Memory;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a memory quantity such as \"1Gi\" or a number of bytes")
            }

            fn visit_str<E: de::Error>(self, text: &str) -> Result<Memory, E> {
                Memory::parse(text).map_err(E::custom)
            }

            fn visit_u64<E: de::Error>(self, bytes: u64) -> Result<Memory, E> {
                Ok(Memory {
                    text: bytes.to_string(),
                    bytes,
                })
            }

            fn visit_i64<E: de::Error>(self, bytes: i64) -> Result<Memory, E> {
                u64::try_from(bytes)
                    .map_err(|_| E::custom(format!("memory cannot be negative, got {bytes}")))
                    .and_then(|bytes| self.visit_u64(bytes))
            }
        }

        deserializer.deserialize_any(MemoryVisitor)
    }
}

impl JsonSchema for Memory {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Memory".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "description": "A memory quantity as Kubernetes writes it (\"1Gi\", \"512Mi\", \"2G\") or a number of bytes; at least 64Mi.",
            "anyOf": [
                { "type": "string", "pattern": "^[0-9]+(\\.[0-9]+)?(Ki|Mi|Gi|Ti|Pi|Ei|k|M|G|T|P|E)?$" },
                { "type": "integer", "minimum": MIN_MEMORY_BYTES }
            ]
        })
    }
}

/// A field the spec gets wrong, before it is placed in the source text.
#[derive(Debug)]
pub(crate) struct Violation {
    pub(crate) path: FieldPath,
    /// The list element at fault, when the field is a list.
    pub(crate) element: Option<usize>,
    pub(crate) message: String,
}

impl Violation {
    pub(crate) fn new(path: FieldPath, message: impl Into<String>) -> Self {
        Self {
            path,
            element: None,
            message: message.into(),
        }
    }

    fn into_error(self, text: Option<&str>, file: &str) -> SpecError {
        let position = text.and_then(|text| {
            let located = match self.element {
                Some(element) => self.path.index(element),
                None => self.path.clone(),
            };
            SpannedSource::new(text).position_of(&located)
        });
        SpecError::Invalid {
            file: file.to_owned(),
            position,
            path: self.path.to_string(),
            message: self.message,
        }
    }
}

impl Spec {
    /// Parses and checks a spec. `file` names it in errors, e.g. `experiments/smoke.toml`.
    pub fn from_toml(text: &str, file: &str) -> Result<Self, SpecError> {
        let spec: Spec = toml::from_str(text).map_err(|err| {
            let span = err.span();
            let source = SpannedSource::new(text);
            SpecError::Invalid {
                file: file.to_owned(),
                position: span.as_ref().map(|span| position_at(text, span.start)),
                path: span
                    .map(|span| source.path_at(&span))
                    .filter(|path| !path.is_root())
                    .map(|path| path.to_string())
                    .unwrap_or_default(),
                message: err.message().trim().to_owned(),
            }
        })?;
        spec.check()
            .map_err(|violation| violation.into_error(Some(text), file))?;
        Ok(spec)
    }

    /// Checks a spec built in code; parsed specs are checked already.
    pub fn validate(&self) -> Result<(), SpecError> {
        self.check()
            .map_err(|violation| violation.into_error(None, &self.name))
    }

    /// The same experiment under another seed (the CLI's `--seed`).
    pub fn with_seed(self, seed: u64) -> Self {
        Self { seed, ..self }
    }

    /// The timeout of one function entry's requests, in seconds.
    pub fn timeout_s(&self, function: &FunctionSpec) -> u64 {
        function.timeout_s.unwrap_or(self.request_timeout_s)
    }

    fn check(&self) -> Result<(), Violation> {
        let root = FieldPath::root();
        check_name(&self.name).map_err(|msg| Violation::new(root.key("name"), msg))?;
        if self.repetitions == 0 {
            return Err(Violation::new(
                root.key("repetitions"),
                "must be at least 1",
            ));
        }
        check_range(
            root.key("scrape_interval_ms"),
            self.scrape_interval_ms,
            SCRAPE_INTERVAL_MS,
        )?;
        check_range(
            root.key("request_timeout_s"),
            self.request_timeout_s,
            (1, MAX_TIMEOUT_S),
        )?;
        self.check_sizes()?;
        self.check_functions()
    }

    fn check_sizes(&self) -> Result<(), Violation> {
        let sizes = FieldPath::root().key("sizes");
        if self.sizes.is_empty() {
            return Err(Violation::new(sizes, "at least one size is needed"));
        }
        let mut seen = BTreeSet::new();
        for (index, size) in self.sizes.iter().enumerate() {
            let at = sizes.index(index);
            check_dns_label(&size.name).map_err(|msg| Violation::new(at.key("name"), msg))?;
            if !seen.insert(size.name.as_str()) {
                return Err(Violation::new(
                    at.key("name"),
                    format!("size `{}` is listed twice", size.name),
                ));
            }
            check_range(
                at.key("cpu_millicores"),
                size.cpu_millicores,
                CPU_MILLICORES,
            )?;
            if size.memory_bytes() < MIN_MEMORY_BYTES {
                return Err(Violation::new(
                    at.key("memory"),
                    format!("{} is below the minimum of 64Mi", size.memory),
                ));
            }
            for (field, price) in [
                ("price_per_core_second", size.price_per_core_second),
                ("price_per_gib_second", size.price_per_gib_second),
            ] {
                if !(price.is_finite() && price >= 0.0) {
                    return Err(Violation::new(
                        at.key(field),
                        format!("a price must be a finite number ≥ 0, got {price}"),
                    ));
                }
            }
        }
        Ok(())
    }

    fn check_functions(&self) -> Result<(), Violation> {
        let functions = FieldPath::root().key("functions");
        if self.functions.is_empty() {
            return Err(Violation::new(functions, "at least one function is needed"));
        }
        let mut requests_per_size: u64 = 0;
        for (index, function) in self.functions.iter().enumerate() {
            let at = functions.index(index);
            if let Some(timeout) = function.timeout_s {
                check_range(at.key("timeout_s"), timeout, (1, MAX_TIMEOUT_S))?;
            }
            let grid = grid::Grid::new(function, &at.key("payload"))?;
            grid.check_points(&at.key("payload"))?;
            requests_per_size = requests_per_size
                .saturating_add((grid.len() as u64).saturating_mul(u64::from(self.repetitions)));
        }
        let distinct_functions = self
            .functions
            .iter()
            .map(|f| f.function)
            .collect::<BTreeSet<_>>()
            .len() as u64;
        let total = requests_per_size
            .saturating_add(distinct_functions.saturating_mul(u64::from(self.warmup)))
            .saturating_mul(self.sizes.len() as u64);
        if total > MAX_SCHEDULE_LEN {
            return Err(Violation::new(
                FieldPath::root(),
                format!(
                    "the schedule would hold {total} requests, more than the {MAX_SCHEDULE_LEN} allowed (at most {MAX_GRID_POINTS} grid points per function entry)"
                ),
            ));
        }
        Ok(())
    }
}

fn check_range<T: PartialOrd + fmt::Display>(
    path: FieldPath,
    value: T,
    (min, max): (T, T),
) -> Result<(), Violation> {
    if value >= min && value <= max {
        Ok(())
    } else {
        Err(Violation::new(
            path,
            format!("value {value} not in {min}..={max}"),
        ))
    }
}

fn check_name(name: &str) -> Result<(), String> {
    let allowed = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-');
    if name.is_empty() || name.starts_with('.') || !name.chars().all(allowed) {
        Err(format!(
            "`{name}` must be non-empty, not start with '.', and use only letters, digits, '.', '_' and '-' (it names directories)"
        ))
    } else {
        Ok(())
    }
}

fn check_dns_label(name: &str) -> Result<(), String> {
    let allowed = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-';
    let valid = !name.is_empty()
        && name.len() <= 63
        && name.chars().all(allowed)
        && !name.starts_with('-')
        && !name.ends_with('-');
    if valid {
        Ok(())
    } else {
        Err(format!(
            "`{name}` must be a DNS label: 1 to 63 lowercase letters, digits or '-', not starting or ending with '-' (it names pods and cgroups)"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memory_quantities_parse_as_kubernetes_does() {
        let cases = [
            ("1Gi", 1 << 30),
            ("512Mi", 512 << 20),
            ("2G", 2_000_000_000),
            ("1.5Gi", 3 << 29),
            ("64Mi", 64 << 20),
            ("1073741824", 1 << 30),
            ("1k", 1000),
            ("0.5", 1),
        ];
        for (text, bytes) in cases {
            assert_eq!(Memory::parse(text).map(|m| m.bytes()), Ok(bytes), "{text}");
        }
        for bad in [
            "",
            "Gi",
            "1GB",
            "1K",
            "-1Gi",
            "1..5Gi",
            "1 Gi",
            "99999999999Ei",
        ] {
            assert!(Memory::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn names_and_labels() {
        assert!(check_name("sized-sweep").is_ok());
        assert!(check_name("a/b").is_err());
        assert!(check_name(".hidden").is_err());
        assert!(check_dns_label("small").is_ok());
        assert!(check_dns_label("Small").is_err());
        assert!(check_dns_label("-x").is_err());
        assert!(check_dns_label(&"a".repeat(64)).is_err());
    }
}
