//! Schedules: deterministic, complete, identical work on every size, valid payloads.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use experiment::{Order, Schedule, Spec, embedded_names, load, predict, schedule};
use workloads::Function;

const SPEC: &str = r#"
name = "unit"
seed = 7
repetitions = 3
warmup = 2

[[sizes]]
name = "small"
cpu_millicores = 100
memory = "1Gi"

[[sizes]]
name = "large"
cpu_millicores = 500
memory = "4Gi"

[[functions]]
function = "ml"
payload.input = { from = 1, to = 1e4, log_steps = 5 }

[[functions]]
function = "video"
timeout_s = 30
payload.profile = [0, 2]
payload.seconds = { from = 0.1, to = 0.3, step = 0.1 }

[[functions]]
function = "dense"
"#;

fn parse(text: &str) -> Spec {
    Spec::from_toml(text, "unit.toml").unwrap_or_else(|err| panic!("{err}"))
}

/// The measured requests of one size as (case, payload JSON), sorted by case.
fn cases_of(schedule: &Schedule, size: usize) -> Vec<(u32, String)> {
    let mut cases: Vec<(u32, String)> = schedule.sizes[size]
        .requests
        .iter()
        .map(|r| (r.case, serde_json::to_string(&r.payload).unwrap()))
        .collect();
    cases.sort();
    cases
}

#[test]
fn same_text_and_seed_give_identical_bytes() {
    let spec = parse(SPEC);
    let first = schedule(&spec).to_canonical_json();
    assert_eq!(first, schedule(&spec).to_canonical_json());
    assert_eq!(first, schedule(&parse(SPEC)).to_canonical_json());
    // The canonical JSON reads back to the same schedule.
    let back: Schedule = serde_json::from_slice(&first).unwrap();
    assert_eq!(back, schedule(&spec));
}

#[test]
fn another_seed_reorders_and_reseeds() {
    let spec = parse(SPEC);
    let a = schedule(&spec);
    let b = schedule(&spec.clone().with_seed(8));
    let order = |s: &Schedule| -> Vec<u32> { s.sizes[0].requests.iter().map(|r| r.case).collect() };
    let seeds = |s: &Schedule| -> BTreeSet<Option<u64>> {
        s.requests().map(|r| r.payload.seed()).collect()
    };
    assert_ne!(order(&a), order(&b));
    assert!(seeds(&a).is_disjoint(&seeds(&b)));
    assert_eq!(a.len(), b.len());
}

#[test]
fn counts_follow_sizes_grids_repetitions_and_warmups() {
    let spec = parse(SPEC);
    let s = schedule(&spec);
    // ml 5 points, video 2 × 3, dense 1; 3 repetitions; 2 warm-ups for each of 3 functions.
    let per_size = (5 + 2 * 3 + 1) * 3 + 3 * 2;
    assert_eq!(s.len(), 2 * per_size);
    for size in &s.sizes {
        assert_eq!(size.requests.len(), per_size);
        assert_eq!(size.requests.iter().filter(|r| r.warmup).count(), 6);
    }
    let seqs: BTreeSet<u64> = s.requests().map(|r| r.seq).collect();
    assert_eq!(seqs, (0..s.len() as u64).collect());
}

#[test]
fn every_size_runs_the_same_work_in_its_own_order() {
    let s = schedule(&parse(SPEC));
    assert_eq!(cases_of(&s, 0), cases_of(&s, 1));
    let order =
        |size: usize| -> Vec<u32> { s.sizes[size].requests.iter().map(|r| r.case).collect() };
    assert_ne!(
        order(0),
        order(1),
        "shuffled sizes should not share one order"
    );
    for size in &s.sizes {
        let warmups = size.requests.iter().take_while(|r| r.warmup).count();
        assert_eq!(warmups, 6, "warm-ups come first on {}", size.size);
        for (index, request) in size.requests.iter().enumerate() {
            assert_eq!(request.index as usize, index);
            assert_eq!(request.size, size.size);
        }
        // Each request draws its own seed.
        let seeds: BTreeSet<_> = size.requests.iter().map(|r| r.payload.seed()).collect();
        assert_eq!(seeds.len(), size.requests.len());
        assert!(!seeds.contains(&None));
    }
}

#[test]
fn grouped_order_is_function_then_grid_point_then_repetition() {
    let mut spec = parse(SPEC);
    spec.order = Order::Grouped;
    let s = schedule(&spec);
    let size = &s.sizes[0];
    let measured: Vec<_> = size.requests.iter().filter(|r| !r.warmup).collect();
    let inputs: Vec<u64> = measured
        .iter()
        .filter_map(|r| match &r.payload {
            workloads::Payload::Ml(p) => Some(p.input),
            _ => None,
        })
        .collect();
    assert_eq!(
        inputs,
        [
            1, 1, 1, 10, 10, 10, 100, 100, 100, 1000, 1000, 1000, 10_000, 10_000, 10_000
        ]
    );
    let functions: Vec<Function> = measured.iter().map(|r| r.function).collect();
    let mut dedup = functions.clone();
    dedup.dedup();
    assert_eq!(dedup, [Function::Ml, Function::Video, Function::Dense]);
    let repetitions: Vec<u32> = measured.iter().take(6).map(|r| r.repetition).collect();
    assert_eq!(repetitions, [0, 1, 2, 0, 1, 2]);
    assert_eq!(cases_of(&s, 0), cases_of(&s, 1));
    // Grouped is the same order on every size.
    let order = |i: usize| -> Vec<u32> { s.sizes[i].requests.iter().map(|r| r.case).collect() };
    assert_eq!(order(0), order(1));
}

#[test]
fn payloads_fill_defaults_and_timeouts() {
    let s = schedule(&parse(SPEC));
    for request in s.requests() {
        request.payload.validate().unwrap();
        assert_eq!(request.payload.function(), request.function);
        let expected = if request.function == Function::Video {
            30
        } else {
            300
        };
        assert_eq!(request.timeout_s, expected);
        if let workloads::Payload::Dense(p) = &request.payload {
            assert_eq!(p.epochs, workloads::dense::DenseParams::default().epochs);
        }
    }
    let seconds: BTreeSet<String> = s
        .requests()
        .filter_map(|r| match &r.payload {
            workloads::Payload::Video(p) => Some(p.seconds.to_string()),
            _ => None,
        })
        .collect();
    assert_eq!(seconds, ["0.1", "0.2", "0.3"].map(String::from).into());
}

#[test]
fn warmups_use_each_functions_first_grid_point() {
    let s = schedule(&parse(SPEC));
    let firsts: BTreeMap<Function, String> = s.sizes[0]
        .requests
        .iter()
        .filter(|r| r.warmup)
        .map(|r| {
            let mut payload = serde_json::to_value(&r.payload).unwrap();
            payload["seed"] = serde_json::Value::Null;
            (r.function, payload.to_string())
        })
        .collect();
    assert!(firsts[&Function::Ml].contains("\"input\":1,"));
    assert!(firsts[&Function::Video].contains("\"profile\":0"));
    assert!(firsts[&Function::Video].contains("\"seconds\":0.1"));
}

#[test]
fn every_embedded_spec_loads_expands_and_validates() {
    let nowhere = Path::new("/nonexistent-workdir");
    assert_eq!(embedded_names(), ["smoke", "sized-sweep", "original"]);
    for name in embedded_names() {
        let loaded = load(name, nowhere).unwrap_or_else(|err| panic!("{err}"));
        assert_eq!(loaded.spec.name, *name);
        assert!(
            loaded.source.starts_with("#:schema ./schema.json\n"),
            "{name} must start with the schema line"
        );
        let spec = &loaded.spec;
        let s = schedule(spec);
        let functions: BTreeSet<Function> = spec.functions.iter().map(|f| f.function).collect();
        assert_eq!(functions.len(), 4, "{name} should call all four functions");
        let sizes: Vec<&str> = spec.sizes.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(sizes, ["small", "medium", "large"]);
        for size in &s.sizes {
            let warmups = size.requests.iter().filter(|r| r.warmup).count();
            assert_eq!(warmups, functions.len() * spec.warmup as usize);
        }
        for request in s.requests() {
            request.payload.validate().unwrap();
        }
        for i in 1..s.sizes.len() {
            assert_eq!(cases_of(&s, 0), cases_of(&s, i), "{name}");
        }
    }
}

#[test]
fn original_spec_is_the_original_clients_request_set() {
    let spec = load("original", Path::new("/nonexistent-workdir"))
        .unwrap()
        .spec;
    let s = schedule(&spec);
    assert_eq!(spec.order, Order::Grouped);
    let size = &s.sizes[0];
    assert_eq!(size.requests.len(), 13);
    let inputs: Vec<u64> = size
        .requests
        .iter()
        .filter_map(|r| match &r.payload {
            workloads::Payload::Ml(p) => Some(p.input),
            _ => None,
        })
        .collect();
    assert_eq!(inputs, [1, 2, 5, 9, 10, 50, 100, 1000, 10_000, 100_000]);
    let rest: Vec<Function> = size.requests[10..].iter().map(|r| r.function).collect();
    assert_eq!(rest, [Function::Dense, Function::Pi, Function::Video]);
    assert_eq!(
        size.requests[12].payload,
        workloads::Payload::Video(workloads::video::VideoParams {
            seed: size.requests[12].payload.seed(),
            ..Default::default()
        })
    );
}

#[test]
fn study_and_smoke_fit_their_time_budgets() {
    let nowhere = Path::new("/nonexistent-workdir");
    for (name, limit_s) in [("sized-sweep", 1_700.0), ("smoke", 110.0)] {
        let spec = load(name, nowhere).unwrap().spec;
        let s = schedule(&spec);
        let predictions = predict(&spec, &s);
        let small = predictions.iter().find(|p| p.size == "small").unwrap();
        assert!(
            small.wall_seconds <= limit_s,
            "{name}: small predicted {:.0} s > {limit_s} s",
            small.wall_seconds
        );
        assert!(experiment::predicted_run_wall_seconds(&spec, &predictions) <= limit_s);
        // Every size runs the same work, so the CPU predictions agree and a smaller quota
        // takes longer.
        for p in &predictions {
            assert!((p.cpu_seconds - small.cpu_seconds).abs() < 1e-6);
            assert!(p.wall_seconds <= small.wall_seconds);
        }
    }
}

#[test]
fn sized_sweep_is_rich_enough_to_train_on() {
    let spec = load("sized-sweep", Path::new("/nonexistent-workdir"))
        .unwrap()
        .spec;
    assert!(spec.repetitions >= 3);
    assert!(spec.concurrent_sizes);
    let s = schedule(&spec);
    let mut ml_inputs = BTreeSet::new();
    let mut pi_samples = BTreeSet::new();
    let mut video = BTreeSet::new();
    let mut dense = BTreeSet::new();
    for request in s.sizes[0].requests.iter().filter(|r| !r.warmup) {
        match &request.payload {
            workloads::Payload::Ml(p) => {
                ml_inputs.insert(p.input);
            }
            workloads::Payload::Pi(p) => {
                pi_samples.insert(p.num_samples);
            }
            workloads::Payload::Video(p) => {
                video.insert((p.profile, p.frames()));
            }
            workloads::Payload::Dense(p) => {
                dense.insert((p.num_samples, p.epochs, p.batch_size, p.num_layers, p.units));
            }
        }
    }
    assert_eq!(ml_inputs.first(), Some(&1));
    assert_eq!(ml_inputs.last(), Some(&100_000_000));
    assert_eq!(pi_samples.first(), Some(&100_000));
    assert_eq!(pi_samples.last(), Some(&100_000_000));
    for profile in 0..3 {
        let lengths = video.iter().filter(|(p, _)| *p == profile).count();
        assert!(lengths >= 2, "profile {profile} at {lengths} clip lengths");
    }
    assert!(dense.len() >= 10, "{} dense variations", dense.len());
}

/// The first ```toml block of a Markdown or doc-comment text.
fn first_toml_block(text: &str, line_prefix: &str) -> String {
    let lines: Vec<&str> = text
        .lines()
        .map(|line| line.trim_start().strip_prefix(line_prefix).unwrap_or(line))
        .map(|line| line.strip_prefix(' ').unwrap_or(line))
        .collect();
    let start = lines
        .iter()
        .position(|l| *l == "```toml")
        .expect("a toml block")
        + 1;
    let len = lines[start..]
        .iter()
        .position(|l| *l == "```")
        .expect("its end");
    lines[start..start + len].join("\n")
}

#[test]
fn documented_examples_are_valid_specs() {
    let readme = include_str!("../../../experiments/README.md");
    let crate_doc = include_str!("../src/lib.rs");
    for (origin, example) in [
        ("README.md", first_toml_block(readme, "")),
        ("lib.rs", first_toml_block(crate_doc, "//!")),
    ] {
        let spec = Spec::from_toml(&example, origin).unwrap_or_else(|err| panic!("{err}"));
        assert!(!schedule(&spec).is_empty(), "{origin}");
    }
}
