//! Expanding a spec into the exact, seeded list of requests each size receives.

use std::collections::BTreeSet;

use rand::{RngCore, SeedableRng};
use rand_pcg::Pcg64;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use workloads::{Function, Payload};

use crate::grid::Grid;
use crate::locate::FieldPath;
use crate::spec::{Order, Spec};

/// Every request of one experiment run, per size.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Schedule {
    pub sizes: Vec<SizeSchedule>,
}

/// The requests one size runs, in the order it runs them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SizeSchedule {
    pub size: String,
    pub requests: Vec<ScheduledRequest>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScheduledRequest {
    /// Unique across the schedule: sizes in spec order, each size's requests in run order.
    pub seq: u64,
    pub size: String,
    /// Position within its size's run order.
    pub index: u32,
    /// The same work on every size: requests with equal `case` have equal payloads and seeds.
    pub case: u32,
    pub function: Function,
    /// Which repetition of its grid point (for warm-ups: which warm-up).
    pub repetition: u32,
    /// Run first and excluded from the measurements.
    pub warmup: bool,
    /// The full payload, defaults filled in and `seed` set.
    pub payload: Payload,
    pub timeout_s: u64,
}

impl Schedule {
    /// Requests over all sizes.
    pub fn len(&self) -> usize {
        self.sizes.iter().map(|size| size.requests.len()).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Every request, sizes in spec order.
    pub fn requests(&self) -> impl Iterator<Item = &ScheduledRequest> {
        self.sizes.iter().flat_map(|size| size.requests.iter())
    }

    /// Compact JSON whose bytes depend only on the schedule: struct fields in declaration order,
    /// floats in shortest round-trip form.
    pub fn to_canonical_json(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("a schedule serialises: plain structs with string keys")
    }
}

/// An RNG for one purpose, derived from the spec seed: `sha256(purpose, seed)` is Pcg64's state
/// and stream. Separate purposes keep e.g. one size's order independent of another size's name,
/// and payload seeds independent of the number of warm-ups.
fn derived_rng(seed: u64, purpose: &str) -> Pcg64 {
    let mut hasher = Sha256::new();
    hasher.update(purpose.as_bytes());
    hasher.update([0]);
    hasher.update(seed.to_le_bytes());
    Pcg64::from_seed(hasher.finalize().into())
}

/// An unbiased integer in `0..bound` (Lemire's multiply-and-reject), written out rather than
/// borrowed so that schedules do not change with the `rand` crate's sampling algorithms.
fn below(rng: &mut Pcg64, bound: u64) -> u64 {
    let threshold = bound.wrapping_neg() % bound;
    loop {
        let product = u128::from(rng.next_u64()) * u128::from(bound);
        if (product as u64) >= threshold {
            return (product >> 64) as u64;
        }
    }
}

fn shuffle<T>(items: &mut [T], rng: &mut Pcg64) {
    for i in (1..items.len()).rev() {
        let j = below(rng, i as u64 + 1) as usize;
        items.swap(i, j);
    }
}

/// One unit of work, identical on every size.
struct Case {
    function: Function,
    repetition: u32,
    warmup: bool,
    payload: Payload,
    timeout_s: u64,
}

/// Warm-ups first (per function, in order of first appearance, on the function's first grid
/// point), then every entry's grid points × repetitions in written order.
fn cases(spec: &Spec) -> Vec<Case> {
    let grids: Vec<Option<Grid>> = spec
        .functions
        .iter()
        .map(|function| Grid::new(function, &FieldPath::root()).ok())
        .collect();
    let mut cases = Vec::new();
    let mut warmup_seeds = derived_rng(spec.seed, "warm-up payload seeds");
    let mut warmed = BTreeSet::new();
    for (entry, grid) in spec.functions.iter().zip(&grids) {
        if !warmed.insert(entry.function) {
            continue;
        }
        for repetition in 0..spec.warmup {
            let seed = warmup_seeds.next_u64();
            if let Some(payload) = grid.as_ref().and_then(|g| g.payload(0, Some(seed)).ok()) {
                cases.push(Case {
                    function: entry.function,
                    repetition,
                    warmup: true,
                    payload,
                    timeout_s: spec.timeout_s(entry),
                });
            }
        }
    }
    let mut payload_seeds = derived_rng(spec.seed, "payload seeds");
    for (entry, grid) in spec.functions.iter().zip(&grids) {
        let Some(grid) = grid else { continue };
        for point in 0..grid.len() {
            for repetition in 0..spec.repetitions {
                let seed = payload_seeds.next_u64();
                // Parsed specs are checked: every point builds. A spec built in code and never
                // validated loses the points its workload rejects instead of failing here.
                if let Ok(payload) = grid.payload(point, Some(seed)) {
                    cases.push(Case {
                        function: entry.function,
                        repetition,
                        warmup: false,
                        payload,
                        timeout_s: spec.timeout_s(entry),
                    });
                }
            }
        }
    }
    cases
}

/// Expands a checked spec into its schedule. Every size gets the same cases; with
/// [`Order::Shuffled`] each size runs its measured cases in its own seeded permutation (derived
/// from the spec seed and the size's name), warm-ups always first.
pub fn schedule(spec: &Spec) -> Schedule {
    let cases = cases(spec);
    let warmups = cases.iter().take_while(|case| case.warmup).count();
    let mut seq = 0u64;
    let sizes = spec
        .sizes
        .iter()
        .map(|size| {
            let mut order: Vec<usize> = (0..cases.len()).collect();
            if spec.order == Order::Shuffled {
                let mut rng = derived_rng(spec.seed, &format!("order of size {}", size.name));
                shuffle(&mut order[warmups..], &mut rng);
            }
            let requests = order
                .into_iter()
                .enumerate()
                .map(|(index, case_index)| {
                    let case = &cases[case_index];
                    seq += 1;
                    ScheduledRequest {
                        seq: seq - 1,
                        size: size.name.clone(),
                        index: index as u32,
                        case: case_index as u32,
                        function: case.function,
                        repetition: case.repetition,
                        warmup: case.warmup,
                        payload: case.payload.clone(),
                        timeout_s: case.timeout_s,
                    }
                })
                .collect();
            SizeSchedule {
                size: size.name.clone(),
                requests,
            }
        })
        .collect();
    Schedule { sizes }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn below_stays_in_bounds_and_covers_them() {
        let mut rng = derived_rng(1, "test");
        let mut seen = [0u32; 7];
        for _ in 0..7_000 {
            seen[below(&mut rng, 7) as usize] += 1;
        }
        // Each bucket expects 1000; 800 is over 6 standard deviations away.
        assert!(seen.iter().all(|&n| n > 800), "{seen:?}");
    }

    #[test]
    fn shuffle_is_a_permutation_and_depends_on_the_rng() {
        let mut a: Vec<u32> = (0..50).collect();
        let mut b = a.clone();
        shuffle(&mut a, &mut derived_rng(1, "x"));
        shuffle(&mut b, &mut derived_rng(2, "x"));
        assert_ne!(a, b);
        let mut sorted = a.clone();
        sorted.sort();
        assert_eq!(sorted, (0..50).collect::<Vec<_>>());
    }
}
