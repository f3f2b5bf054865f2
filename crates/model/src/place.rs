//! Placement: predict a request's duration on every size, pick the cheapest that meets a
//! deadline (or the fastest), and score such decisions against the oracle on held-out requests.

use std::collections::BTreeMap;

use dataset::{AlignedRequest, SizeSpec};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use workloads::{Function, Payload};

use crate::evaluate::{EvalOptions, SeededRng, TIME_TRANSFORMS};
use crate::features::{RequestInput, STATE_GAUGES, Target, target_values, work_key};
use crate::metrics::DURATION_BUCKETS;
use crate::train::{TargetTransform, TrainedModel, cores, train_on};
use crate::{ModelError, Result};

const GIB: f64 = (1u64 << 30) as f64;
/// A choice within this relative cost of the oracle's counts as optimal.
const TIE_TOLERANCE: f64 = 0.01;
/// Deadlines drawn as U[1, 3] × the fastest size's actual duration.
const DEADLINE_FACTOR: (f64, f64) = (1.0, 3.0);

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Objective {
    /// The fastest size.
    Time,
    /// The cheapest size predicted to meet the deadline (the fastest if none is).
    Cost,
}

/// Which prediction of duration drives the decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum DurationSource {
    /// The duration booster.
    Direct,
    /// CPU seconds / cores + overhead.
    ViaCpu,
    /// The duration booster where it predicts under [`HYBRID_SWITCH_SECONDS`], CPU seconds /
    /// cores above: the evaluation finds the booster the better judge of short requests (where
    /// the quota period's phase, not the work, sets the duration) and the CPU derivation of
    /// long ones (where the quota does).
    Hybrid,
}

/// Where [`DurationSource::Hybrid`] switches from the duration booster to CPU seconds / cores.
pub const HYBRID_SWITCH_SECONDS: f64 = 1.0;

impl DurationSource {
    /// The source whose band describes a prediction of `predicted` seconds by this source.
    pub fn band_source(self, predicted: f64) -> DurationSource {
        match self {
            DurationSource::Hybrid if predicted < HYBRID_SWITCH_SECONDS => DurationSource::Direct,
            DurationSource::Hybrid => DurationSource::ViaCpu,
            other => other,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct SizeEstimate {
    pub size: String,
    pub predicted_duration_seconds: f64,
    /// Where the duration fell for the model's unseen requests (see `DurationBand`), when the
    /// model measured it: `[low, high]` seconds.
    pub duration_band_seconds: Option<[f64; 2]>,
    /// What the pod's reservation costs for that long.
    pub predicted_cost: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct PlacementChoice {
    pub estimates: Vec<SizeEstimate>,
    pub chosen: String,
    /// Whether the chosen size is predicted to meet the deadline (true without one).
    pub predicted_to_meet_deadline: bool,
}

/// Reservation cost per second of a size: allocated cores and GiB at the size's prices.
pub fn cost_per_second(size: &SizeSpec) -> f64 {
    cores(size) * size.price_per_core_second
        + size.memory_bytes as f64 / GIB * size.price_per_gib_second
}

/// A payload from a function name and its JSON fields, validated; unknown functions and fields
/// are errors.
pub fn parse_payload(function: &str, fields: &serde_json::Value) -> Result<Payload> {
    if !Function::ALL.iter().any(|f| f.name() == function) {
        return Err(ModelError::UnknownFunction(function.to_owned()));
    }
    let bad = |message: String| ModelError::BadPayload {
        function: function.to_owned(),
        message,
    };
    let mut object = match fields {
        serde_json::Value::Object(map) => map.clone(),
        serde_json::Value::Null => serde_json::Map::new(),
        other => return Err(bad(format!("expected a JSON object, got {other}"))),
    };
    object.insert("function".into(), function.into());
    let payload: Payload = serde_json::from_value(serde_json::Value::Object(object))
        .map_err(|e| bad(e.to_string()))?;
    payload.validate().map_err(|e| bad(e.to_string()))?;
    Ok(payload)
}

/// The `.start` gauges a caller knows, by gauge name (see [`STATE_GAUGES`]).
fn state_of(known: &BTreeMap<String, f64>) -> Result<[Option<f64>; STATE_GAUGES.len()]> {
    if let Some(unknown) = known.keys().find(|k| !STATE_GAUGES.contains(&k.as_str())) {
        return Err(ModelError::BadOption(format!(
            "unknown state metric {unknown:?} (known: {})",
            STATE_GAUGES.join(", ")
        )));
    }
    Ok(STATE_GAUGES.map(|g| known.get(g).copied()))
}

/// Longest deadline a placement question may set: a day, far beyond any workload here.
pub const MAX_DEADLINE_SECONDS: f64 = 86_400.0;

/// A placement question as `computelocator place` and `POST /place` take it. Unknown fields
/// are refused.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PlaceRequest {
    /// `ml`, `pi`, `dense` or `video`.
    pub function: String,
    /// The request's parameters (the function's fields; omitted ones take their defaults).
    #[serde(default)]
    pub payload: serde_json::Value,
    /// Seconds the request must finish within, in (0, 86400].
    #[serde(default)]
    pub deadline_seconds: Option<f64>,
    #[serde(default = "PlaceRequest::default_objective")]
    pub objective: Objective,
    #[serde(default = "PlaceRequest::default_source")]
    pub duration_source: DurationSource,
    /// Each size's current gauges, where known: `{size: {gauge: value}}` (gauges as in
    /// `STATE_GAUGES`, finite and non-negative).
    #[serde(default)]
    pub state: BTreeMap<String, BTreeMap<String, f64>>,
}

impl PlaceRequest {
    fn default_objective() -> Objective {
        Objective::Cost
    }

    /// The hybrid: the most optimal choices and the least regret of the model's sources in the
    /// evaluation of the reference run.
    fn default_source() -> DurationSource {
        DurationSource::Hybrid
    }
}

/// Validates `request` and answers it with [`place`]; every invalid field is an error naming it.
pub fn answer(model: &TrainedModel, request: &PlaceRequest) -> Result<PlacementChoice> {
    if let Some(deadline) = request.deadline_seconds
        && !(deadline > 0.0 && deadline <= MAX_DEADLINE_SECONDS)
    {
        return Err(ModelError::BadField {
            field: "deadline_seconds".into(),
            reason: format!("must be in (0, {MAX_DEADLINE_SECONDS}] seconds, got {deadline}"),
        });
    }
    for (size, gauges) in &request.state {
        for (gauge, value) in gauges {
            if !(value.is_finite() && *value >= 0.0) {
                return Err(ModelError::BadField {
                    field: format!("state.{size}.{gauge}"),
                    reason: format!("must be a finite number ≥ 0, got {value}"),
                });
            }
        }
    }
    let payload = parse_payload(&request.function, &request.payload)?;
    place(
        model,
        &payload,
        &request.state,
        request.deadline_seconds,
        request.objective,
        request.duration_source,
    )
}

/// Predicts `payload` on every size the model knows and picks one. `state` holds each size's
/// current gauges where known (sizes missing from it are predicted without state).
pub fn place(
    model: &TrainedModel,
    payload: &Payload,
    state: &BTreeMap<String, BTreeMap<String, f64>>,
    deadline_seconds: Option<f64>,
    objective: Objective,
    source: DurationSource,
) -> Result<PlacementChoice> {
    let sizes = &model.metadata.sizes;
    let mut inputs = Vec::with_capacity(sizes.len());
    for size in sizes {
        let known = state.get(&size.name).cloned().unwrap_or_default();
        inputs.push(RequestInput {
            payload,
            size,
            state: state_of(&known)?,
        });
    }
    if let Some(unknown) = state.keys().find(|k| !sizes.iter().any(|s| &s.name == *k)) {
        return Err(ModelError::UnknownSize(unknown.clone()));
    }
    let durations = predict_durations(model, &inputs, source)?;
    let mut choice = choose(sizes, &durations, deadline_seconds, objective);
    if let Some(bands) = &model.metadata.duration_band {
        for estimate in &mut choice.estimates {
            let predicted = estimate.predicted_duration_seconds;
            if let Some(band) = bands.get(source.band_source(predicted)) {
                let (low, high) = band.around(predicted);
                estimate.duration_band_seconds = Some([low, high]);
            }
        }
    }
    Ok(choice)
}

fn predict_durations(
    model: &TrainedModel,
    inputs: &[RequestInput<'_>],
    source: DurationSource,
) -> Result<Vec<f64>> {
    match source {
        DurationSource::Direct => model.predict(Target::DurationSeconds, inputs),
        DurationSource::ViaCpu => model.predict_duration_via_cpu(inputs),
        DurationSource::Hybrid => {
            let direct = model.predict(Target::DurationSeconds, inputs)?;
            let via_cpu = model.predict_duration_via_cpu(inputs)?;
            Ok(direct
                .into_iter()
                .zip(via_cpu)
                .map(|(d, v)| if d < HYBRID_SWITCH_SECONDS { d } else { v })
                .collect())
        }
    }
}

fn choose(
    sizes: &[SizeSpec],
    durations: &[f64],
    deadline: Option<f64>,
    objective: Objective,
) -> PlacementChoice {
    let estimates: Vec<SizeEstimate> = sizes
        .iter()
        .zip(durations)
        .map(|(size, &d)| SizeEstimate {
            size: size.name.clone(),
            predicted_duration_seconds: d,
            duration_band_seconds: None,
            predicted_cost: cost_per_second(size) * d,
        })
        .collect();
    let fastest = (0..estimates.len()).min_by(|&a, &b| {
        estimates[a]
            .predicted_duration_seconds
            .total_cmp(&estimates[b].predicted_duration_seconds)
    });
    let meets = |e: &SizeEstimate| deadline.is_none_or(|d| e.predicted_duration_seconds <= d);
    let cheapest_meeting = (0..estimates.len())
        .filter(|&i| meets(&estimates[i]))
        .min_by(|&a, &b| {
            estimates[a]
                .predicted_cost
                .total_cmp(&estimates[b].predicted_cost)
        });
    let chosen = match objective {
        Objective::Time => fastest,
        Objective::Cost => cheapest_meeting.or(fastest),
    };
    let chosen = chosen.map(|i| &estimates[i]);
    PlacementChoice {
        chosen: chosen.map(|e| e.size.clone()).unwrap_or_default(),
        predicted_to_meet_deadline: chosen.is_some_and(meets),
        estimates,
    }
}

/// Decisions of one duration source against the oracle.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PlacementScore {
    /// The model's predictor name, as in the split reports (`xgboost_log_via_cpu`, …), or
    /// `always_<size>` for the fixed baselines.
    pub predictor: String,
    /// `None` for the fixed baselines.
    pub source: Option<DurationSource>,
    /// Share of decisions that met the deadline at the oracle's cost (within 1 %).
    pub optimal_share: f64,
    /// Mean of (actual cost of the choice − oracle cost) / oracle cost, floored at 0; a choice
    /// that missed the deadline wasted its whole cost: its regret is its cost / oracle cost.
    pub mean_regret: f64,
    /// Share of decisions whose chosen size actually missed the deadline.
    pub deadline_miss_share: f64,
    /// Each decision's regret, in the same order for every score.
    pub regrets: Vec<f64>,
    /// The same scores per bucket of the fastest size's actual duration (see
    /// [`DURATION_BUCKETS`]), empty buckets included.
    pub by_duration_bucket: Vec<GroupScore>,
    /// The same scores per function.
    pub by_function: Vec<GroupScore>,
}

/// Placement scores of the decisions falling in one group.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GroupScore {
    pub group: String,
    pub decisions: usize,
    /// `None` for a group without decisions.
    pub optimal_share: Option<f64>,
    pub mean_regret: Option<f64>,
    pub deadline_miss_share: Option<f64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PlacementEvaluation {
    /// Held-out (function, payload, repetition) groups measured on every size: all of them,
    /// each decided by the models of the fold that held it out.
    pub decisions: usize,
    pub folds: usize,
    /// Mean training rows per fold.
    pub train_rows: usize,
    pub scores: Vec<PlacementScore>,
}

/// How one decision turned out against the oracle.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Outcome {
    optimal: bool,
    regret: f64,
    missed: bool,
}

impl Outcome {
    /// Scores the choice of size `chosen` given each size's actual duration and cost.
    fn of(chosen: usize, actual: &[f64], actual_cost: &[f64], deadline: f64) -> Self {
        let oracle = (0..actual.len())
            .filter(|&i| actual[i] <= deadline)
            .map(|i| actual_cost[i])
            .fold(f64::INFINITY, f64::min);
        let met = actual[chosen] <= deadline;
        // A late answer is wasted: its whole cost is spent on top of the oracle's run.
        let regret = if met {
            ((actual_cost[chosen] - oracle) / oracle).max(0.0)
        } else {
            actual_cost[chosen] / oracle
        };
        Self {
            optimal: met && regret <= TIE_TOLERANCE,
            regret,
            missed: !met,
        }
    }
}

/// Shares and mean regret of `outcomes`; `None` for none.
fn tally<'a>(outcomes: impl Iterator<Item = &'a Outcome>) -> Option<(usize, f64, f64, f64)> {
    let (mut n, mut optimal, mut regret, mut missed) = (0usize, 0usize, 0.0, 0usize);
    for o in outcomes {
        n += 1;
        optimal += usize::from(o.optimal);
        regret += o.regret;
        missed += usize::from(o.missed);
    }
    let count = n as f64;
    (n > 0).then(|| {
        (
            n,
            optimal as f64 / count,
            regret / count,
            missed as f64 / count,
        )
    })
}

fn group_score<'a>(group: &str, outcomes: impl Iterator<Item = &'a Outcome>) -> GroupScore {
    let tallied = tally(outcomes);
    GroupScore {
        group: group.to_owned(),
        decisions: tallied.map_or(0, |t| t.0),
        optimal_share: tallied.map(|t| t.1),
        mean_regret: tallied.map(|t| t.2),
        deadline_miss_share: tallied.map(|t| t.3),
    }
}

/// One held-out request measured on every size: what grouping its decision falls in.
struct Decision {
    bucket: &'static str,
    function: Function,
    /// One outcome per duration source.
    outcomes: Vec<Outcome>,
}

fn duration_bucket(seconds: f64) -> &'static str {
    DURATION_BUCKETS
        .iter()
        .find(|(_, low, high)| seconds >= *low && seconds < *high)
        .map_or(DURATION_BUCKETS[0].0, |(name, _, _)| name)
}

fn score(
    source_index: usize,
    predictor: &str,
    source: Option<DurationSource>,
    decisions: &[Decision],
) -> PlacementScore {
    let of_source = |d: &Decision| d.outcomes[source_index];
    let all: Vec<Outcome> = decisions.iter().map(of_source).collect();
    let (_, optimal_share, mean_regret, deadline_miss_share) =
        tally(all.iter()).unwrap_or((0, 0.0, 0.0, 0.0));
    let grouped = |groups: Vec<String>, key: &dyn Fn(&Decision) -> String| {
        groups
            .iter()
            .map(|group| {
                let outcomes: Vec<Outcome> = decisions
                    .iter()
                    .filter(|d| &key(d) == group)
                    .map(of_source)
                    .collect();
                group_score(group, outcomes.iter())
            })
            .collect()
    };
    PlacementScore {
        predictor: predictor.to_owned(),
        source,
        optimal_share,
        mean_regret,
        deadline_miss_share,
        regrets: all.iter().map(|o| o.regret).collect(),
        by_duration_bucket: grouped(
            DURATION_BUCKETS.iter().map(|b| b.0.to_owned()).collect(),
            &|d| d.bucket.to_owned(),
        ),
        by_function: grouped(
            Function::ALL.iter().map(|f| f.name().to_owned()).collect(),
            &|d| d.function.name().to_owned(),
        ),
    }
}

/// A way of deciding: one of the model's duration predictors, always the same size, or the
/// noise ceiling.
enum Policy {
    Model {
        predictor: String,
        transform: usize,
        source: DurationSource,
    },
    Always(usize),
    /// Predicts each size's duration by the mean of the same request's *other* repetitions on
    /// that size (the `xgboost_log` model where a size has none): what a model that knew each
    /// request's expected duration exactly would decide. Not available for a new request; it
    /// measures how far placement is limited by run-to-run noise rather than by the model.
    RepetitionMean,
}

/// The name the [`Policy::RepetitionMean`] ceiling is scored under.
pub const REPETITION_MEAN_POLICY: &str = "repetition_mean";

/// Durations of each (work, size) by repetition, for [`Policy::RepetitionMean`].
struct Repetitions(BTreeMap<(String, String), Vec<(u32, f64)>>);

impl Repetitions {
    fn of(rows: &[&AlignedRequest]) -> Result<Self> {
        let durations = target_values(rows, Target::DurationSeconds)?;
        let mut index: BTreeMap<(String, String), Vec<(u32, f64)>> = BTreeMap::new();
        for (row, duration) in rows.iter().zip(durations) {
            index
                .entry((work_key(&row.request.payload), row.request.size.clone()))
                .or_default()
                .push((row.request.repetition, duration));
        }
        Ok(Self(index))
    }

    /// Mean duration of `request`'s other repetitions on its size.
    fn others_mean(&self, request: &AlignedRequest) -> Option<f64> {
        let key = (
            work_key(&request.request.payload),
            request.request.size.clone(),
        );
        let others: Vec<f64> = self
            .0
            .get(&key)?
            .iter()
            .filter(|(repetition, _)| *repetition != request.request.repetition)
            .map(|(_, d)| *d)
            .collect();
        (!others.is_empty()).then(|| others.iter().sum::<f64>() / others.len() as f64)
    }
}

/// Scores placement decisions on every (payload, repetition) group measured on every size:
/// the groups are dealt into `options.folds` seeded folds, and each fold's decisions are made
/// by models trained on every other row. Each decision draws its deadline, compares each
/// policy's cheapest feasible size with the oracle's (the cheapest size whose actual duration
/// met the deadline), and the fixed "always this size" policies give the baselines.
pub fn evaluate_placement(
    rows: &[&AlignedRequest],
    sizes: &[SizeSpec],
    run_id: &str,
    options: &EvalOptions,
) -> Result<PlacementEvaluation> {
    let mut groups: BTreeMap<(String, u32), Vec<usize>> = BTreeMap::new();
    for (i, row) in rows.iter().enumerate() {
        groups
            .entry((work_key(&row.request.payload), row.request.repetition))
            .or_default()
            .push(i);
    }
    // One row per size, in the sizes' order; groups not measured on every size only train.
    let mut complete: Vec<Vec<usize>> = groups
        .values()
        .filter_map(|members| {
            sizes
                .iter()
                .map(|s| {
                    members
                        .iter()
                        .copied()
                        .find(|&i| rows[i].request.size == s.name)
                })
                .collect::<Option<Vec<usize>>>()
        })
        .collect();
    if complete.len() < options.folds {
        return Err(ModelError::TooFewRows {
            what: "placement evaluation (groups measured on every size)".into(),
            needed: options.folds,
            found: complete.len(),
        });
    }
    // A different stream from the random split's, so the two hold-outs are independent.
    let mut rng = SeededRng::new(options.seed ^ 0x706c_6163_656d_656e);
    rng.shuffle(&mut complete);
    let deadline_factors: Vec<f64> = complete
        .iter()
        .map(|_| DEADLINE_FACTOR.0 + rng.unit() * (DEADLINE_FACTOR.1 - DEADLINE_FACTOR.0))
        .collect();

    let mut train_options = options.train.clone();
    for target in [Target::DurationSeconds, Target::CpuSeconds] {
        if !train_options.targets.contains(&target) {
            train_options.targets.push(target);
        }
    }
    let mut policies = Vec::new();
    for (transform, (_, name)) in TIME_TRANSFORMS.iter().enumerate() {
        for source in [
            DurationSource::Direct,
            DurationSource::ViaCpu,
            DurationSource::Hybrid,
        ] {
            let predictor = match source {
                DurationSource::Direct => (*name).to_owned(),
                DurationSource::ViaCpu => format!("{name}_via_cpu"),
                DurationSource::Hybrid => format!("{name}_hybrid"),
            };
            policies.push(Policy::Model {
                predictor,
                transform,
                source,
            });
        }
    }
    policies.extend((0..sizes.len()).map(Policy::Always));
    policies.push(Policy::RepetitionMean);
    let repetitions = Repetitions::of(rows)?;

    let mut decisions = Vec::with_capacity(complete.len());
    let mut train_rows = 0;
    for fold in 0..options.folds {
        let held: Vec<usize> = (fold..complete.len()).step_by(options.folds).collect();
        let held_rows: std::collections::BTreeSet<usize> = held
            .iter()
            .flat_map(|&g| complete[g].iter().copied())
            .collect();
        let train: Vec<&AlignedRequest> = (0..rows.len())
            .filter(|i| !held_rows.contains(i))
            .map(|i| rows[i])
            .collect();
        train_rows += train.len();
        let models = TIME_TRANSFORMS
            .iter()
            .map(|&(transform, _)| {
                train_on(
                    &train,
                    sizes,
                    run_id,
                    &train_options.with_time_transform(transform),
                )
            })
            .collect::<Result<Vec<TrainedModel>>>()?;
        for g in held {
            let members: Vec<&AlignedRequest> = complete[g].iter().map(|&i| rows[i]).collect();
            let context = DecisionContext {
                sizes,
                policies: &policies,
                models: &models,
                repetitions: &repetitions,
            };
            decisions.push((g, decide(&members, deadline_factors[g], &context)?));
        }
    }
    // In the shuffled order, whatever the folds: every policy's regrets line up.
    decisions.sort_by_key(|(g, _)| *g);
    let decisions: Vec<Decision> = decisions.into_iter().map(|(_, d)| d).collect();
    Ok(PlacementEvaluation {
        decisions: decisions.len(),
        folds: options.folds,
        train_rows: train_rows / options.folds,
        scores: policies
            .iter()
            .enumerate()
            .map(|(i, policy)| match policy {
                Policy::Model {
                    predictor, source, ..
                } => score(i, predictor, Some(*source), &decisions),
                Policy::Always(size) => score(
                    i,
                    &format!("always_{}", sizes[*size].name),
                    None,
                    &decisions,
                ),
                Policy::RepetitionMean => score(i, REPETITION_MEAN_POLICY, None, &decisions),
            })
            .collect(),
    })
}

/// What every decision of one fold decides with.
struct DecisionContext<'a> {
    sizes: &'a [SizeSpec],
    policies: &'a [Policy],
    /// One per [`TIME_TRANSFORMS`] entry, trained without the fold's groups.
    models: &'a [TrainedModel],
    repetitions: &'a Repetitions,
}

/// One held-out group (a row per size): draws nothing, decides with every policy.
fn decide(
    members: &[&AlignedRequest],
    deadline_factor: f64,
    context: &DecisionContext<'_>,
) -> Result<Decision> {
    let DecisionContext {
        sizes,
        policies,
        models,
        repetitions,
    } = context;
    let actual = target_values(members, Target::DurationSeconds)?;
    let fastest = actual.iter().copied().fold(f64::INFINITY, f64::min);
    let deadline = fastest * deadline_factor;
    let actual_cost: Vec<f64> = sizes
        .iter()
        .zip(&actual)
        .map(|(s, d)| cost_per_second(s) * d)
        .collect();
    let inputs = members
        .iter()
        .map(|r| RequestInput::of(r, sizes))
        .collect::<Result<Vec<_>>>()?;
    let chosen_by = |predicted: &[f64]| {
        let choice = choose(sizes, predicted, Some(deadline), Objective::Cost);
        sizes
            .iter()
            .position(|s| s.name == choice.chosen)
            .ok_or_else(|| ModelError::UnknownSize(choice.chosen.clone()))
    };
    let mut outcomes = Vec::with_capacity(policies.len());
    for policy in policies.iter() {
        let chosen = match policy {
            Policy::Model {
                transform, source, ..
            } => chosen_by(&predict_durations(&models[*transform], &inputs, *source)?)?,
            Policy::Always(size) => *size,
            Policy::RepetitionMean => {
                let log_model = TIME_TRANSFORMS
                    .iter()
                    .position(|(t, _)| *t == TargetTransform::Log)
                    .map_or(&models[0], |i| &models[i]);
                let fallback = predict_durations(log_model, &inputs, DurationSource::Direct)?;
                let predicted: Vec<f64> = members
                    .iter()
                    .zip(fallback)
                    .map(|(r, model)| repetitions.others_mean(r).unwrap_or(model))
                    .collect();
                chosen_by(&predicted)?
            }
        };
        outcomes.push(Outcome::of(chosen, &actual, &actual_cost, deadline));
    }
    Ok(Decision {
        bucket: duration_bucket(fastest),
        function: members[0].request.function,
        outcomes,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sizes() -> Vec<SizeSpec> {
        [(100, 1u64), (250, 2), (500, 4)]
            .iter()
            .map(|&(m, gib)| SizeSpec {
                name: format!("s{m}"),
                cpu_millicores: m,
                memory_bytes: gib << 30,
                price_per_core_second: 1.0,
                price_per_gib_second: 0.1,
            })
            .collect()
    }

    #[test]
    fn cost_is_reserved_cores_and_gib_at_their_prices() {
        let s = &sizes()[1];
        assert!((cost_per_second(s) - (0.25 + 2.0 * 0.1)).abs() < 1e-12);
    }

    #[test]
    fn picks_the_cheapest_size_meeting_the_deadline_else_the_fastest() {
        let sizes = sizes();
        // Per-second costs 0.2, 0.45, 0.9 → costs 2.0, 1.8, 1.8 for 10, 4, 2 s.
        let durations = [10.0, 4.0, 2.0];
        let pick = |deadline, objective| choose(&sizes, &durations, deadline, objective);
        assert_eq!(pick(Some(5.0), Objective::Cost).chosen, "s250");
        assert_eq!(pick(Some(20.0), Objective::Cost).chosen, "s250");
        assert_eq!(pick(Some(3.0), Objective::Cost).chosen, "s500");
        let impossible = pick(Some(1.0), Objective::Cost);
        assert_eq!(impossible.chosen, "s500");
        assert!(!impossible.predicted_to_meet_deadline);
        assert_eq!(pick(None, Objective::Time).chosen, "s500");
    }

    #[test]
    fn outcomes_compare_the_choice_with_the_cheapest_size_that_met_the_deadline() {
        // Costs 4, 3, 5: the oracle under a 2.5 s deadline is size 1 (size 0 took 4 s).
        let actual = [4.0, 2.0, 1.0];
        let cost = [4.0, 3.0, 5.0];
        let oracle = Outcome::of(1, &actual, &cost, 2.5);
        assert_eq!((oracle.optimal, oracle.missed), (true, false));
        assert!(oracle.regret.abs() < 1e-12);
        let dearer = Outcome::of(2, &actual, &cost, 2.5);
        assert_eq!((dearer.optimal, dearer.missed), (false, false));
        assert!((dearer.regret - 2.0 / 3.0).abs() < 1e-12);
        // Cheaper than the oracle but late: a miss whose whole cost is wasted.
        let late = Outcome::of(0, &[2.6, 2.0, 1.0], &[2.0, 3.0, 5.0], 2.5);
        assert_eq!((late.optimal, late.missed), (false, true));
        assert!((late.regret - 2.0 / 3.0).abs() < 1e-12);
        // Within 1 % of the oracle's cost counts as optimal.
        let tie = Outcome::of(2, &[2.0, 2.0, 2.0], &[4.0, 3.0, 3.02], 2.5);
        assert!(tie.optimal);
    }

    #[test]
    fn scores_break_down_by_duration_bucket_and_function() {
        assert_eq!(duration_bucket(0.001), "<0.1s");
        assert_eq!(duration_bucket(0.1), "0.1-1s");
        assert_eq!(duration_bucket(9.9), "1-10s");
        assert_eq!(duration_bucket(60.0), ">10s");
        let outcome = |optimal, regret, missed| Outcome {
            optimal,
            regret,
            missed,
        };
        let decisions = [
            Decision {
                bucket: "<0.1s",
                function: Function::Pi,
                outcomes: vec![outcome(false, 3.0, false)],
            },
            Decision {
                bucket: "<0.1s",
                function: Function::Ml,
                outcomes: vec![outcome(true, 0.0, false)],
            },
            Decision {
                bucket: "1-10s",
                function: Function::Pi,
                outcomes: vec![outcome(false, 0.0, true)],
            },
        ];
        let s = score(0, "xgboost", Some(DurationSource::Direct), &decisions);
        assert!((s.optimal_share - 1.0 / 3.0).abs() < 1e-12);
        assert!((s.mean_regret - 1.0).abs() < 1e-12);
        assert!((s.deadline_miss_share - 1.0 / 3.0).abs() < 1e-12);
        assert_eq!(s.regrets, [3.0, 0.0, 0.0]);
        let short = &s.by_duration_bucket[0];
        assert_eq!((short.group.as_str(), short.decisions), ("<0.1s", 2));
        assert_eq!(
            (short.optimal_share, short.mean_regret),
            (Some(0.5), Some(1.5))
        );
        assert_eq!(s.by_duration_bucket[1].decisions, 0);
        assert_eq!(s.by_duration_bucket[1].optimal_share, None);
        assert_eq!(s.by_duration_bucket[2].deadline_miss_share, Some(1.0));
        let pi = s.by_function.iter().find(|g| g.group == "pi").unwrap();
        assert_eq!((pi.decisions, pi.mean_regret), (2, Some(1.5)));
        let video = s.by_function.iter().find(|g| g.group == "video").unwrap();
        assert_eq!(video.decisions, 0);
    }

    #[test]
    fn the_hybrid_takes_the_booster_below_the_switch_and_the_cpu_derivation_above() {
        assert_eq!(
            DurationSource::Hybrid.band_source(0.2),
            DurationSource::Direct
        );
        assert_eq!(
            DurationSource::Hybrid.band_source(HYBRID_SWITCH_SECONDS),
            DurationSource::ViaCpu
        );
        assert_eq!(
            DurationSource::ViaCpu.band_source(0.2),
            DurationSource::ViaCpu
        );
    }

    #[test]
    fn payloads_are_parsed_strictly() {
        let pi = parse_payload("pi", &serde_json::json!({"num_samples": 1000})).unwrap();
        assert_eq!(pi.function(), Function::Pi);
        assert!(matches!(
            parse_payload("sort", &serde_json::json!({})),
            Err(ModelError::UnknownFunction(f)) if f == "sort"
        ));
        assert!(matches!(
            parse_payload("pi", &serde_json::json!({"samples": 1000})),
            Err(ModelError::BadPayload { .. })
        ));
        assert!(matches!(
            parse_payload("pi", &serde_json::json!([1])),
            Err(ModelError::BadPayload { .. })
        ));
    }
}
