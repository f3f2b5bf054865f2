//! Placement: predict a request's duration on every size, pick the cheapest that meets a
//! deadline (or the fastest), and score such decisions against the oracle on held-out requests.

use std::collections::BTreeMap;

use dataset::{AlignedRequest, SizeSpec};
use serde::{Deserialize, Serialize};
use workloads::{Function, Payload};

use crate::evaluate::{EvalOptions, SplitMix};
use crate::features::{RequestInput, STATE_GAUGES, Target, target_values, work_key};
use crate::train::{TrainedModel, cores, train_on};
use crate::{ModelError, Result};

const GIB: f64 = (1u64 << 30) as f64;
/// A choice within this relative cost of the oracle's counts as optimal.
const TIE_TOLERANCE: f64 = 0.01;
/// Deadlines drawn as U[1, 3] × the fastest size's actual duration.
const DEADLINE_FACTOR: (f64, f64) = (1.0, 3.0);

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Objective {
    /// The fastest size.
    Time,
    /// The cheapest size predicted to meet the deadline (the fastest if none is).
    Cost,
}

/// Which prediction of duration drives the decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DurationSource {
    /// The duration booster.
    Direct,
    /// CPU seconds / cores + overhead.
    ViaCpu,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SizeEstimate {
    pub size: String,
    pub predicted_duration_seconds: f64,
    /// What the pod's reservation costs for that long.
    pub predicted_cost: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
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
    Ok(choose(sizes, &durations, deadline_seconds, objective))
}

fn predict_durations(
    model: &TrainedModel,
    inputs: &[RequestInput<'_>],
    source: DurationSource,
) -> Result<Vec<f64>> {
    match source {
        DurationSource::Direct => model.predict(Target::DurationSeconds, inputs),
        DurationSource::ViaCpu => model.predict_duration_via_cpu(inputs),
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
            predicted_cost: cost_per_second(size) * d.max(0.0),
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
    pub source: DurationSource,
    /// Share of decisions that met the deadline at the oracle's cost (within 1 %).
    pub optimal_share: f64,
    /// Mean of (actual cost of the choice − oracle cost) / oracle cost, floored at 0.
    pub mean_regret: f64,
    /// Share of decisions whose chosen size actually missed the deadline.
    pub deadline_miss_share: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PlacementEvaluation {
    /// Held-out (function, payload, repetition) groups measured on every size.
    pub decisions: usize,
    pub train_rows: usize,
    pub scores: Vec<PlacementScore>,
}

/// Holds out a seeded share of (payload, repetition) groups, trains on the rest, and for each
/// held-out group measured on every size draws a deadline and compares the model's cheapest
/// feasible size with the oracle's (the cheapest whose actual duration met the deadline).
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
    let mut keys: Vec<&(String, u32)> = groups.keys().collect();
    // A different stream from the random split's, so the two hold-outs are independent.
    let mut rng = SplitMix::new(options.seed ^ 0x706c_6163_656d_656e);
    rng.shuffle(&mut keys);
    let held_len = ((keys.len() as f64) * options.test_fraction).round() as usize;
    let (held, _) = keys.split_at(held_len);
    let held_rows: std::collections::BTreeSet<usize> = held
        .iter()
        .flat_map(|k| groups[*k].iter().copied())
        .collect();
    let train: Vec<&AlignedRequest> = (0..rows.len())
        .filter(|i| !held_rows.contains(i))
        .map(|i| rows[i])
        .collect();
    let mut train_options = options.train.clone();
    for target in [Target::DurationSeconds, Target::CpuSeconds] {
        if !train_options.targets.contains(&target) {
            train_options.targets.push(target);
        }
    }
    let model = train_on(&train, sizes, run_id, &train_options)?;

    let sources = [DurationSource::Direct, DurationSource::ViaCpu];
    let mut tallies = [(0usize, 0.0f64, 0usize); 2];
    let mut decisions = 0;
    for key in held {
        // One row per size, in the sizes' order; skip groups not measured on every size.
        let Some(members) = sizes
            .iter()
            .map(|s| {
                groups[*key]
                    .iter()
                    .find(|&&i| rows[i].request.size == s.name)
                    .map(|&i| rows[i])
            })
            .collect::<Option<Vec<&AlignedRequest>>>()
        else {
            continue;
        };
        let actual = target_values(&members, Target::DurationSeconds)?;
        let fastest = actual.iter().copied().fold(f64::INFINITY, f64::min);
        let factor = DEADLINE_FACTOR.0 + rng.unit() * (DEADLINE_FACTOR.1 - DEADLINE_FACTOR.0);
        let deadline = fastest * factor;
        let actual_cost: Vec<f64> = sizes
            .iter()
            .zip(&actual)
            .map(|(s, d)| cost_per_second(s) * d)
            .collect();
        let oracle = (0..sizes.len())
            .filter(|&i| actual[i] <= deadline)
            .map(|i| actual_cost[i])
            .fold(f64::INFINITY, f64::min);
        let inputs = members
            .iter()
            .map(|r| RequestInput::of(r, sizes))
            .collect::<Result<Vec<_>>>()?;
        decisions += 1;
        for (source, tally) in sources.iter().zip(tallies.iter_mut()) {
            let predicted = predict_durations(&model, &inputs, *source)?;
            let choice = choose(sizes, &predicted, Some(deadline), Objective::Cost);
            let Some(i) = sizes.iter().position(|s| s.name == choice.chosen) else {
                continue;
            };
            let met = actual[i] <= deadline;
            let regret = ((actual_cost[i] - oracle) / oracle).max(0.0);
            if met && regret <= TIE_TOLERANCE {
                tally.0 += 1;
            }
            tally.1 += regret;
            if !met {
                tally.2 += 1;
            }
        }
    }
    if decisions == 0 {
        return Err(ModelError::TooFewRows {
            what: "placement evaluation (groups measured on every size)".into(),
            needed: 1,
            found: 0,
        });
    }
    let n = decisions as f64;
    Ok(PlacementEvaluation {
        decisions,
        train_rows: train.len(),
        scores: sources
            .iter()
            .zip(tallies)
            .map(|(&source, (optimal, regret, misses))| PlacementScore {
                source,
                optimal_share: optimal as f64 / n,
                mean_regret: regret / n,
                deadline_miss_share: misses as f64 / n,
            })
            .collect(),
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
