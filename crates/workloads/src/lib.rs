//! The benchmark workloads' contract: what each of the four functions accepts, how its
//! parameters are validated, and what it returns.
//!
//! The two pure-Rust kernels live here too ([`ml`] and [`pi`]); the native ones live in their
//! own crates (`workload-dense` over libtorch, `workload-video` over FFmpeg/x264) so that anything
//! needing only the parameter types (the harness, the model) does not link native libraries.
//!
//! Architecture invariant: nothing here does I/O or knows about HTTP. All randomness comes from a
//! caller-supplied `seed` through `rand_pcg`.

mod error;
mod function;
pub mod dense;
pub mod ml;
pub mod pi;
pub mod video;

pub use error::InvalidParam;
pub use function::{ExecEnv, Function, Payload};

/// The seed used when a request does not carry one. Fixed so that a request without a seed is
/// still reproducible; experiment schedules always pass their own.
pub const DEFAULT_SEED: u64 = 0x00C0_FFEE;

/// Checks `min <= value <= max`, naming `field` and the allowed range when it is not.
pub fn check_range<T>(field: &'static str, value: T, min: T, max: T) -> Result<(), InvalidParam>
where
    T: PartialOrd + std::fmt::Display,
{
    if value < min || value > max {
        return Err(InvalidParam::new(
            field,
            format!("{min}..={max}"),
            value.to_string(),
        ));
    }
    Ok(())
}
