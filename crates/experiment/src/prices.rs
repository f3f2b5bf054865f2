//! Default resource prices, so that cost comparisons between sizes use published numbers.
//!
//! Source: AWS Fargate on-demand pricing, Linux/x86, region us-east-1
//! (<https://aws.amazon.com/fargate/pricing/>): $0.04048 per vCPU-hour and $0.004445 per
//! GB-hour. Fargate bills memory in GB of its own GiB-sized allocations, so the GB-hour price is
//! used per GiB here. A spec may override both per size.

/// US dollars per core (vCPU) per second: $0.04048 per vCPU-hour / 3600.
pub const DEFAULT_PRICE_PER_CORE_SECOND: f64 = 0.04048 / 3600.0;

/// US dollars per GiB of memory limit per second: $0.004445 per GB-hour / 3600.
pub const DEFAULT_PRICE_PER_GIB_SECOND: f64 = 0.004445 / 3600.0;
