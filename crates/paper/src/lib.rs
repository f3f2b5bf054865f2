//! The paper's tables and figures, regenerated from a run's dataset.
//!
//! Output is deterministic: the same run gives byte-identical files on any machine — fixed float
//! formatting, groups in a fixed order (functions, then sizes as the manifest lists them), no
//! timestamps, and text laid out with the committed DejaVu Sans (through plotters' ab_glyph), never
//! the machine's fonts. Generated files are committed under `paper/` and snapshot-tested.
//!
//! The model's numbers come from `model::evaluate` with fixed options (one XGBoost thread, a
//! fixed seed), so they too are the same on every run of the same data.
//!
//! Architecture invariant: no network I/O; reads a run only through `dataset` and learns from
//! it only through `model`.

mod figures;
mod predictors;
mod stats;
mod tables;
pub mod timeline;

use std::path::{Path, PathBuf};

use model::Target;

pub use stats::{GroupStats, group_stats, quantile};

#[derive(Debug, thiserror::Error)]
pub enum PaperError {
    #[error(transparent)]
    Dataset(#[from] dataset::DatasetError),
    #[error("evaluating the model: {0}")]
    Model(#[from] model::ModelError),
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
    #[error("the evaluation has no {0}")]
    MissingResult(String),
    #[error(
        "no successful request was measured with the same payload on the smallest and the largest size"
    )]
    NoRequestPair,
}

/// One generated file: where it goes below the paper directory, and its bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Generated {
    pub path: &'static str,
    pub contents: String,
}

/// How the paper evaluates the model: the defaults of `computelocator evaluate` (seed 0, 80/20,
/// five folds, one XGBoost thread), so its numbers are the ones the command prints.
pub fn evaluation_options() -> model::EvalOptions {
    model::EvalOptions::default()
}

/// Features shown in the importance figure.
pub const IMPORTANCE_TOP: usize = 15;

/// Every table and figure for `run`, in a fixed order.
pub fn render(run: &dataset::Run) -> Result<Vec<Generated>, PaperError> {
    let groups = group_stats(run);
    if groups.is_empty() {
        return Err(PaperError::Empty);
    }
    let options = evaluation_options();
    let evaluation = model::evaluate(run, &options)?;
    let held_out = model::held_out_predictions(run, &options)?;
    let placement = evaluation
        .placement
        .as_ref()
        .ok_or_else(|| PaperError::MissingResult("placement evaluation".into()))?;
    let function_size = tables::function_size(&groups);
    let model_quality = tables::model_quality(&evaluation)?;
    let placement_table = tables::placement(placement)?;
    let accuracy_panels = [
        figures::AccuracyPanel {
            target: Target::DurationSeconds,
            predictor: predictors::xgboost(Target::DurationSeconds)?,
            quantity: "duration",
        },
        figures::AccuracyPanel {
            target: Target::CpuSeconds,
            predictor: predictors::xgboost(Target::CpuSeconds)?,
            quantity: "CPU time",
        },
    ];
    let (small, large) = timeline::pick_pair(run).ok_or(PaperError::NoRequestPair)?;
    let timelines = [
        timeline::timeline(run, small),
        timeline::timeline(run, large),
    ];
    let file = |path, contents| Generated { path, contents };
    Ok(vec![
        file("tables/function_size.md", function_size.markdown()),
        file("tables/function_size.tex", function_size.latex()),
        file("tables/model_quality.md", model_quality.markdown()),
        file("tables/model_quality.tex", model_quality.latex()),
        file("tables/placement.md", placement_table.markdown()),
        file("tables/placement.tex", placement_table.latex()),
        file(
            "figures/duration_by_size.svg",
            figures::duration_by_size(run)?,
        ),
        file(
            "figures/actual_vs_predicted.svg",
            figures::actual_vs_predicted(&held_out, &accuracy_panels)?,
        ),
        file(
            "figures/feature_importance.svg",
            figures::feature_importance(&evaluation.importance, IMPORTANCE_TOP)?,
        ),
        file(
            "figures/cpu_over_time.svg",
            figures::cpu_over_time(&timelines, &timeline::describe(&small.request))?,
        ),
        file(
            "figures/placement_regret.svg",
            figures::placement_regret(&predictors::placement_policies(placement)?)?,
        ),
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
