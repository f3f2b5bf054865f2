//! The benchmark workloads' contract: what each of the four functions accepts, how its
//! parameters are validated, and what it returns.
//!
//! The two pure-Rust kernels live here too ([`ml`] and [`pi`]); the native ones live in their
//! own crates (`workload-dense` over libtorch, `workload-video` over FFmpeg/x264) so that anything
//! needing only the parameter types (the harness, the model) does not link native libraries.
//!
//! Architecture invariant: nothing here does I/O or knows about HTTP. All randomness comes from a
//! caller-supplied `seed` through `rand_pcg`.

pub mod dense;
mod error;
mod function;
pub mod ml;
pub mod pi;
mod record;
pub mod video;

pub use error::InvalidParam;
pub use function::{ExecEnv, Function, Payload};
pub use record::{Outcome, Usage};

/// Every workload's optional `seed` takes any u64.
pub const SEED_ALLOWED: &str = "0..=18446744073709551615";

/// The seed used when a request does not carry one. Fixed so that a request without a seed is
/// still reproducible; experiment schedules always pass their own.
pub const DEFAULT_SEED: u64 = 0x00C0_FFEE;

/// The inclusive range a numeric payload field accepts. Validation and error messages read the
/// same constant, so the documented range and the enforced one cannot drift apart.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Bound<T> {
    pub field: &'static str,
    pub min: T,
    pub max: T,
}

impl<T: PartialOrd + std::fmt::Display + Copy> Bound<T> {
    pub const fn new(field: &'static str, min: T, max: T) -> Self {
        Self { field, min, max }
    }

    /// The allowed values as users read them, e.g. `1..=100`.
    pub fn allowed(&self) -> String {
        format!("{}..={}", self.min, self.max)
    }

    /// Checks `min <= value <= max` (false for NaN), naming the field and range when not.
    pub fn check(&self, value: T) -> Result<(), InvalidParam> {
        if value >= self.min && value <= self.max {
            Ok(())
        } else {
            Err(InvalidParam::new(
                self.field,
                self.allowed(),
                value.to_string(),
            ))
        }
    }
}
