//! `cl-aggregator`: the original aggregation API (`/history`, `/endpoints`) rebuilt over the two
//! places the data lives — finished run directories and a live Prometheus + Loki — behind one
//! [`Source`] interface, served over HTTP in JSON, NDJSON, CSV and Parquet.
//!
//! Sources: [`RunDirSource`] (`cl-aggregator --data DIR`) and [`LiveSource`]
//! (`cl-aggregator --prometheus URL [--loki URL]`: targets from Prometheus's targets API,
//! request records from ONE Loki `query_range` per page, samples from ONE Prometheus raw-sample
//! query per page; see [`live`] for the labels it expects).
//!
//! Invariants: read-only; requests are joined with metric samples only by
//! [`dataset::align`] (the run directories' aligned rows, or the live source's fetched rows);
//! nothing outside the data root is read; no client input can panic the server — every bad
//! parameter is a 4xx JSON error naming it, every upstream failure a 502/504 naming the upstream.

pub mod error;
pub mod format;
pub mod http;
pub mod live;
pub mod loki;
pub mod openapi;
pub mod placement;
pub mod query;
pub mod record;
pub mod runs;
pub mod source;

pub use error::{ApiError, ErrorBody};
pub use live::LiveSource;
pub use placement::Placer;
pub use query::{Cursor, Format, HistoryParams, Query};
pub use record::{Endpoint, HistoryRecord, Page, RunSummary, State};
pub use runs::RunDirSource;
pub use source::Source;
