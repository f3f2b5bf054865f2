//! Which of the evaluation's predictors and placement policies the paper shows, and their names
//! in print. "The model" is what `computelocator train` builds by default, so the paper's numbers
//! describe the model a user gets.

use model::{PlacementEvaluation, PlacementScore, Target, TargetTransform, TrainOptions};

use crate::PaperError;

/// The evaluation's per function × size median baseline.
pub(crate) const MEDIAN: &str = "median_function_size";
/// The evaluation's linear baseline (payload and 1/CPU).
pub(crate) const LINEAR: &str = "linear";
/// Suffix of a duration derived from predicted CPU seconds and the size's quota.
const VIA_CPU: &str = "_via_cpu";
/// Suffix of the hybrid duration (the booster under 1 s, the CPU derivation above).
const HYBRID: &str = "_hybrid";
/// Prefix of the fixed "always this size" placement policies.
const ALWAYS: &str = "always_";

/// The evaluation's name for the default model's booster of `target` (named after the transform
/// the target is learned through).
pub(crate) fn xgboost(target: Target) -> Result<String, PaperError> {
    let name = match TrainOptions::default().transform(target)? {
        TargetTransform::Identity => "xgboost",
        TargetTransform::Log1p => "xgboost_log1p",
        TargetTransform::Log => "xgboost_log",
    };
    Ok(name.to_owned())
}

/// The default model's duration derived from its CPU-seconds booster.
pub(crate) fn xgboost_via_cpu() -> Result<String, PaperError> {
    Ok(xgboost(Target::CpuSeconds)? + VIA_CPU)
}

/// The default model's hybrid duration: what `computelocator place` decides with.
pub(crate) fn xgboost_hybrid() -> Result<String, PaperError> {
    Ok(xgboost(Target::CpuSeconds)? + HYBRID)
}

/// The predictors of `target` in the quality table: the model, then the baselines.
pub(crate) fn quality(target: Target) -> Result<Vec<String>, PaperError> {
    let mut names = vec![xgboost(target)?];
    if target == Target::DurationSeconds {
        names.push(xgboost_via_cpu()?);
    }
    names.extend([MEDIAN.to_owned(), LINEAR.to_owned()]);
    Ok(names)
}

/// A predictor's or policy's name in print.
pub(crate) fn label(predictor: &str) -> String {
    if let Some(size) = predictor.strip_prefix(ALWAYS) {
        return format!("always {size}");
    }
    match predictor {
        MEDIAN => "median per function × size".to_owned(),
        LINEAR => "linear".to_owned(),
        p if p.starts_with("xgboost") && p.ends_with(VIA_CPU) => "XGBoost via CPU time".to_owned(),
        p if p.starts_with("xgboost") && p.ends_with(HYBRID) => "XGBoost hybrid".to_owned(),
        p if p.starts_with("xgboost") => "XGBoost".to_owned(),
        other => other.to_owned(),
    }
}

/// The placement policies shown, with their labels: the model deciding through its hybrid
/// duration (as `computelocator place` does), through CPU time and through its duration
/// booster, every fixed size, and the noise ceiling (each request's other repetitions standing
/// in for a perfect model).
pub(crate) fn placement_policies(
    placement: &PlacementEvaluation,
) -> Result<Vec<(String, &PlacementScore)>, PaperError> {
    let find = |name: &str| {
        placement
            .scores
            .iter()
            .find(|s| s.predictor == name)
            .ok_or_else(|| PaperError::MissingResult(format!("placement policy {name}")))
    };
    let mut policies = vec![
        (
            "XGBoost hybrid (place's default)".to_owned(),
            find(&xgboost_hybrid()?)?,
        ),
        (
            "XGBoost via CPU time".to_owned(),
            find(&xgboost_via_cpu()?)?,
        ),
        (
            "XGBoost direct duration".to_owned(),
            find(&xgboost(Target::DurationSeconds)?)?,
        ),
    ];
    policies.extend(
        placement
            .scores
            .iter()
            .filter(|s| s.source.is_none() && s.predictor.starts_with(ALWAYS))
            .map(|s| (label(&s.predictor), s)),
    );
    if policies.len() == 3 {
        return Err(PaperError::MissingResult(
            "the fixed-size placement baselines".into(),
        ));
    }
    policies.push((
        "repetition mean (noise ceiling)".to_owned(),
        find(model::REPETITION_MEAN_POLICY)?,
    ));
    Ok(policies)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_model_is_named_after_its_default_transform() {
        // Durations and CPU seconds are learned as logs by default, memory raw.
        assert_eq!(xgboost(Target::DurationSeconds).unwrap(), "xgboost_log");
        assert_eq!(xgboost(Target::PeakRssBytes).unwrap(), "xgboost");
        assert_eq!(xgboost_via_cpu().unwrap(), "xgboost_log_via_cpu");
        assert_eq!(
            quality(Target::DurationSeconds).unwrap(),
            ["xgboost_log", "xgboost_log_via_cpu", MEDIAN, LINEAR]
        );
        assert_eq!(quality(Target::CpuSeconds).unwrap().len(), 3);
    }

    #[test]
    fn labels() {
        assert_eq!(label("always_small"), "always small");
        assert_eq!(label("xgboost_log_via_cpu"), "XGBoost via CPU time");
        assert_eq!(label("xgboost"), "XGBoost");
        assert_eq!(label(MEDIAN), "median per function × size");
        assert_eq!(label("something_else"), "something_else");
    }
}
