//! The one interface both data sources (run directories, live Prometheus + Loki) implement.

use crate::error::Result;
use crate::query::Query;
use crate::record::{Endpoint, HistoryRecord, Page, RunSummary};

/// Where `/history`, `/endpoints` and `/runs` read from. Calls block (disk or upstream I/O): the
/// HTTP layer runs them off the async workers.
pub trait Source: Send + Sync {
    /// Short name for `/health`: `runs` or `live`.
    fn kind(&self) -> &'static str;
    /// One page of the records matching `query`, in the source's stable order.
    fn history(&self, query: &Query) -> Result<Page<HistoryRecord>>;
    fn endpoints(&self) -> Result<Vec<Endpoint>>;
    fn runs(&self) -> Result<Vec<RunSummary>>;
}
