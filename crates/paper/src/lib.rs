//! The paper's tables and figures, regenerated from a run's dataset.
//!
//! Output is deterministic: the same run gives byte-identical files on any machine — fixed float
//! formatting, groups in a fixed order (functions, then sizes as the manifest lists them), no
//! timestamps, and text laid out with the committed DejaVu Sans (through plotters' ab_glyph), never
//! the machine's fonts. Generated files are committed under `paper/` and snapshot-tested.
//!
//! Architecture invariant: no network I/O; reads a run only through `dataset`.

mod figures;
mod stats;
mod tables;

use std::path::{Path, PathBuf};

pub use stats::{GroupStats, group_stats, quantile};

#[derive(Debug, thiserror::Error)]
pub enum PaperError {
    #[error(transparent)]
    Dataset(#[from] dataset::DatasetError),
    #[error("writing {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("drawing {figure}: {reason}")]
    Figure {
        figure: &'static str,
        reason: String,
    },
    #[error("the run has no successful requests to summarise")]
    Empty,
}

/// One generated file: where it goes below the paper directory, and its bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Generated {
    pub path: &'static str,
    pub contents: String,
}

/// Every table and figure for `run`, in a fixed order.
pub fn render(run: &dataset::Run) -> Result<Vec<Generated>, PaperError> {
    let groups = group_stats(run);
    if groups.is_empty() {
        return Err(PaperError::Empty);
    }
    Ok(vec![
        Generated {
            path: "tables/function_size.md",
            contents: tables::function_size_markdown(&groups),
        },
        Generated {
            path: "tables/function_size.tex",
            contents: tables::function_size_latex(&groups),
        },
        Generated {
            path: "figures/duration_by_size.svg",
            contents: figures::duration_by_size(run)?,
        },
    ])
}

/// Writes [`render`]'s files below `paper_dir` and returns their paths.
pub fn generate(run_dir: &Path, paper_dir: &Path) -> Result<Vec<PathBuf>, PaperError> {
    let run = dataset::open_run(run_dir)?;
    let mut written = Vec::new();
    for file in render(&run)? {
        let path = paper_dir.join(file.path);
        let io = |source| PaperError::Io {
            path: path.clone(),
            source,
        };
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(io)?;
        }
        std::fs::write(&path, file.contents.as_bytes()).map_err(io)?;
        written.push(path);
    }
    Ok(written)
}
