//! Experiment specs and the seeded request schedules they expand to.
//!
//! This crate's one job: read an experiment spec (TOML), check it completely, and expand it into
//! the exact list of requests every pod size will receive. It does no network I/O, starts no
//! processes and touches no cgroups; the harness does that with what this crate hands it.
//!
//! Architecture invariant: a schedule is a pure function of the spec and its seed. The same
//! spec text and seed always give byte-identical [`Schedule::to_canonical_json`], and every
//! scheduled payload passes its workload's own `validate()`.
//!
//! # The spec format
//!
//! ```toml
//! #:schema ./schema.json
//! name = "example"             # [A-Za-z0-9._-], names the run directory
//! description = "what it is for"
//! seed = 42                    # every payload seed and every order derives from it
//! repetitions = 3              # each grid point runs this often per size (default 1)
//! warmup = 1                   # flagged warm-up requests per size and function, first (default 1)
//! order = "shuffled"           # or "grouped": function, then grid point, then repetition
//! concurrent_sizes = true      # drive all sizes at once (default false)
//! scrape_interval_ms = 1000    # 100..=60000 (default 1000)
//! request_timeout_s = 300      # per request unless a function sets `timeout_s` (default 300)
//! backend = "local"            # or "kube" (default "local")
//!
//! [[sizes]]
//! name = "small"               # a DNS label: lowercase letters, digits, '-'
//! cpu_millicores = 100         # 1..=64000
//! memory = "1Gi"               # Ki/Mi/Gi/Ti, K/M/G/T or plain bytes; at least 64Mi
//! # price_per_core_second / price_per_gib_second: default AWS Fargate us-east-1 prices
//!
//! [[functions]]
//! function = "ml"              # ml | pi | dense | video
//! payload.input = { from = 1, to = 1e8, log_steps = 9 }
//!
//! [[functions]]
//! function = "video"
//! timeout_s = 600
//! payload.profile = [0, 1, 2]                          # a list
//! payload.seconds = { from = 0.2, to = 1.0, step = 0.4 } # a linear range
//! ```
//!
//! A payload field takes a number, a list of numbers, a linear range `{ from, to, step }` or a
//! logarithmic range `{ from, to, log_steps }` (`log_steps` points from `from` to `to`). Range
//! points are rounded for integer fields (duplicates after rounding dropped); listed values must
//! already be whole for integer fields (`1e6` is fine). A function entry's grid is the cartesian
//! product of its listed fields, in the workload's field order with the last varying fastest;
//! fields not listed keep the workload's defaults; `seed` is never listed, the schedule assigns
//! it. A function may appear in several entries (e.g. one sweep per dense hyper-parameter).
//!
//! Warm-up requests use the first grid point of the function's first entry.

pub mod cost;
mod error;
mod grid;
mod load;
mod locate;
mod prices;
mod schedule;
mod schema;
mod spec;

pub use cost::{SizePrediction, predict, predicted_run_wall_seconds};
pub use error::{Position, SpecError};
pub use load::{LoadedSpec, Origin, embedded_names, load};
pub use prices::{DEFAULT_PRICE_PER_CORE_SECOND, DEFAULT_PRICE_PER_GIB_SECOND};
pub use schedule::{Schedule, ScheduledRequest, SizeSchedule, schedule};
pub use schema::json_schema;
pub use spec::{
    BackendKind, FunctionSpec, MAX_SCHEDULE_LEN, Memory, Order, SizeSpec, Spec, Values,
};
