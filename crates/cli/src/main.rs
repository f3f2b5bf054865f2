//! `computelocator`: runs experiments and inspects their runs. Thin: every command is a call
//! into the `harness`, `experiment` and `dataset` libraries.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use anyhow::{Context, bail};
use clap::{Parser, Subcommand, ValueEnum};

/// Where should this computation run? Deploys benchmark workloads into size-limited pods,
/// measures them and writes a dataset per run.
#[derive(Debug, Parser)]
#[command(
    name = "computelocator",
    version,
    after_help = "Diagnostics go to stderr, filtered by RUST_LOG (default: warn)."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run an experiment: deploy one target per size, drive the seeded schedule, write the
    /// dataset. The last line on stdout is the run directory.
    Experiment(ExperimentArgs),
    /// List or show finished runs.
    Runs {
        #[command(subcommand)]
        command: RunsCommand,
    },
    /// Train the XGBoost models (duration, CPU seconds, peak RSS) on a run and save them.
    Train {
        run_dir: PathBuf,
        /// Where the models go (XGBoost JSON per target + metadata.json).
        #[arg(long, default_value = "data/models/latest")]
        out: PathBuf,
        #[arg(long, default_value_t = 0)]
        seed: u64,
    },
    /// Evaluate the models on a run: random 80/20, k-fold, leave-one-size-out and unseen-payload
    /// splits against baselines, feature importance, the repetitions' noise floor and placement.
    Evaluate {
        run_dir: PathBuf,
        /// Which splits to print (the JSON document always has all).
        #[arg(long, value_enum)]
        split: Option<SplitArg>,
        /// Print the whole evaluation as one JSON document.
        #[arg(long)]
        json: bool,
        #[arg(long, default_value_t = 0)]
        seed: u64,
        /// Also score XGBoost's native multi-output trees (one booster for all targets).
        #[arg(long)]
        multi_output: bool,
    },
    /// Kubernetes objects for a spec.
    K8s {
        #[command(subcommand)]
        command: K8sCommand,
    },
    /// Regenerate the paper's tables and figures (paper/tables, paper/figures) from a run.
    Paper {
        /// The run to build from [default: the committed reference run].
        #[arg(long, default_value = "data/reference/sized-sweep")]
        run: PathBuf,
        /// The paper directory.
        #[arg(long, default_value = "paper")]
        out: PathBuf,
    },
    /// Pick the size to run a request on: predicted duration and cost per size, then the
    /// cheapest size meeting the deadline (--objective cost) or the fastest (--objective time).
    Place {
        #[arg(long)]
        model: PathBuf,
        /// ml, pi, dense or video.
        #[arg(long)]
        function: String,
        /// The request's parameters as a JSON object, e.g. '{"profile": 2, "seconds": 4}'.
        #[arg(long, default_value = "{}")]
        payload: String,
        /// Seconds the request must finish within.
        #[arg(long)]
        deadline: Option<f64>,
        #[arg(long, value_enum, default_value_t = ObjectiveArg::Cost)]
        objective: ObjectiveArg,
        /// Which prediction of duration decides: the duration model, CPU seconds over the
        /// size's cores, or the hybrid (the duration model under 1 s, CPU seconds above).
        #[arg(long, value_enum, default_value_t = SourceArg::Hybrid)]
        source: SourceArg,
        /// What is known now about each size's target, as JSON: '{"small":
        /// {"process_memory_rss_bytes": 2.1e8}}'. Sizes left out are predicted without state.
        #[arg(long, default_value = "{}")]
        state: String,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum SourceArg {
    Direct,
    ViaCpu,
    Hybrid,
}

#[derive(Debug, Subcommand)]
enum K8sCommand {
    /// Write the whole stack (targets per size with their observer sidecars, Prometheus, Loki,
    /// Alloy, cl-aggregator, the harness Job, RBAC, NetworkPolicies) as a kustomize base with
    /// kind and minikube overlays. The committed k8s/ is this output for sized-sweep.
    Render {
        /// A spec name or path, as for `experiment`.
        #[arg(long, default_value = "sized-sweep")]
        spec: String,
        #[arg(long, default_value = "k8s")]
        out: PathBuf,
        #[arg(long, default_value = deploy_kube::DEFAULT_NAMESPACE)]
        namespace: String,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum SplitArg {
    Random,
    Kfold,
    LeaveOneSizeOut,
    ByPayload,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum ObjectiveArg {
    Time,
    Cost,
}

#[derive(Debug, clap::Args)]
struct ExperimentArgs {
    /// A spec name (experiments/NAME.toml in the working tree, else the copy built into this
    /// binary: smoke, sized-sweep, original) or a path to a spec file.
    spec: String,
    /// Use this seed instead of the spec's.
    #[arg(long)]
    seed: Option<u64>,
    /// Where targets run.
    #[arg(long, value_enum, default_value_t = BackendArg::Local)]
    backend: BackendArg,
    /// With --backend kube: the namespace the run's targets go to (it must exist).
    #[arg(long, default_value = deploy_kube::DEFAULT_NAMESPACE)]
    namespace: String,
    /// With --backend kube: leave each size's Deployment, Service and pod in the cluster after
    /// the run (or a failed rollout) for inspection; the run logs the command that removes them.
    #[arg(long)]
    keep: bool,
    /// Runs are written to OUT/<experiment>/<run-id>/.
    #[arg(long, default_value = "data/runs")]
    out: PathBuf,
    /// Continue an interrupted run (its directory) without repeating finished requests.
    #[arg(long, value_name = "RUN_DIR")]
    resume: Option<PathBuf>,
    /// Print the schedule's length and the predicted CPU-seconds and wall time per size, then
    /// stop.
    #[arg(long)]
    dry_run: bool,
    /// Run without cgroup limits (when cgroups cannot be created); recorded in the manifest.
    #[arg(long)]
    no_limits: bool,
    /// Collect metrics with a real Prometheus (Debian's `prometheus`, started on loopback with
    /// its storage in the run directory) instead of the built-in outside sampler.
    #[arg(long)]
    with_prometheus: bool,
    /// The workload server binary [default: cl-target beside this executable].
    #[arg(long, env = "CL_TARGET_BIN")]
    target_bin: Option<PathBuf>,
    /// No progress bars.
    #[arg(long)]
    quiet: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum BackendArg {
    /// Processes on this machine, limited by cgroups.
    Local,
    /// Pods on a Kubernetes cluster (kubeconfig or in-cluster): one Deployment + Service per
    /// size, applied server-side, reached through the API server's port-forward (Service DNS
    /// in-cluster), deleted when the run ends. Metrics come from a Prometheus the harness
    /// starts, scraping the targets through the same route.
    Kube,
}

#[derive(Debug, Subcommand)]
enum RunsCommand {
    /// List the runs under a directory.
    List {
        #[arg(long, default_value = "data/runs")]
        out: PathBuf,
    },
    /// Show a run's manifest summary and its outcome and duration tables.
    Show { run_dir: PathBuf },
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()),
        )
        .init();
    match cli.command {
        Command::Experiment(args) => experiment(args),
        Command::Runs {
            command: RunsCommand::List { out },
        } => list_runs(&out),
        Command::Runs {
            command: RunsCommand::Show { run_dir },
        } => show_run(&run_dir),
        Command::Train { run_dir, out, seed } => train(&run_dir, &out, seed),
        Command::K8s {
            command:
                K8sCommand::Render {
                    spec,
                    out,
                    namespace,
                },
        } => {
            let workdir = std::env::current_dir().context("reading the working directory")?;
            let loaded = experiment::load(&spec, &workdir)?;
            let options = manifests::RenderOptions {
                namespace,
                ..Default::default()
            };
            for path in manifests::write_kustomize(&out, &loaded.spec, &options)? {
                println!("{}", path.display());
            }
            Ok(())
        }
        Command::Paper { run, out } => {
            for path in paper::generate(&run, &out)? {
                println!("{}", path.display());
            }
            Ok(())
        }
        Command::Evaluate {
            run_dir,
            split,
            json,
            seed,
            multi_output,
        } => evaluate(&run_dir, split, json, seed, multi_output),
        Command::Place {
            model,
            function,
            payload,
            deadline,
            objective,
            source,
            state,
        } => {
            let request = model::PlaceRequest {
                function,
                payload: serde_json::from_str(&payload).context("--payload is not JSON")?,
                deadline_seconds: deadline,
                objective: match objective {
                    ObjectiveArg::Time => model::Objective::Time,
                    ObjectiveArg::Cost => model::Objective::Cost,
                },
                duration_source: match source {
                    SourceArg::Direct => model::DurationSource::Direct,
                    SourceArg::ViaCpu => model::DurationSource::ViaCpu,
                    SourceArg::Hybrid => model::DurationSource::Hybrid,
                },
                state: serde_json::from_str(&state)
                    .context("--state is not a JSON object of sizes to {gauge: number}")?,
            };
            place(&model, &request)
        }
    }
}

fn experiment(args: ExperimentArgs) -> anyhow::Result<()> {
    let workdir = std::env::current_dir().context("reading the working directory")?;
    let mut loaded = experiment::load(&args.spec, &workdir)?;
    if let Some(seed) = args.seed {
        loaded.spec = loaded.spec.with_seed(seed);
    }
    let schedule = experiment::schedule(&loaded.spec);
    if args.dry_run {
        print_prediction(&loaded, &schedule);
        return Ok(());
    }
    let backend = match args.backend {
        BackendArg::Local => harness::BackendChoice::Local {
            target_binary: match args.target_bin {
                Some(path) => path,
                None => beside_this_executable("cl-target")?,
            },
            limits: !args.no_limits,
        },
        BackendArg::Kube => {
            anyhow::ensure!(
                !args.no_limits,
                "--no-limits: a cluster always enforces the pods' limits"
            );
            harness::BackendChoice::External(kube_backend(
                &loaded.spec,
                &args.namespace,
                args.keep,
            )?)
        }
    };
    // A pod's processes cannot be sampled from here: Prometheus scrapes their /metrics.
    let with_prometheus = args.with_prometheus || args.backend == BackendArg::Kube;
    let interrupted = Arc::new(AtomicBool::new(false));
    // First Ctrl-C: finish the running requests, tear down, keep the journal for --resume.
    signal_hook::flag::register(signal_hook::consts::SIGINT, Arc::clone(&interrupted))?;
    signal_hook::flag::register(signal_hook::consts::SIGTERM, Arc::clone(&interrupted))?;
    let sizes: Vec<String> = loaded.spec.sizes.iter().map(|s| s.name.clone()).collect();
    let result = match harness::run(harness::RunOptions {
        spec: loaded,
        out: args.out,
        resume: args.resume,
        backend,
        collector: if with_prometheus {
            harness::CollectorChoice::StartPrometheus
        } else {
            harness::CollectorChoice::Probe
        },
        progress: !args.quiet,
        interrupted,
    }) {
        Ok(result) => result,
        // Not a failure: the journal is intact and the message says how to go on.
        Err(interrupted @ harness::HarnessError::Interrupted { .. }) => {
            eprintln!("{interrupted}");
            std::process::exit(130);
        }
        Err(err) => return Err(err.into()),
    };
    println!("{}", harness::summary::render(&result.requests, &sizes));
    for note in &result.manifest.notes {
        println!("note: {note}");
    }
    println!("{}", result.dir.display());
    Ok(())
}

/// The Kubernetes backend for `spec`: each size's Deployment + Service from `manifests`, named
/// and labelled with the run id. Every size is rendered once first, so a spec the manifests
/// refuse fails before anything is applied.
fn kube_backend(
    spec: &experiment::Spec,
    namespace: &str,
    keep: bool,
) -> anyhow::Result<harness::BackendFactory> {
    let render = manifests::RenderOptions {
        namespace: namespace.to_owned(),
        ..Default::default()
    };
    for size in &spec.sizes {
        manifests::target_objects(spec, size, &render)
            .with_context(|| format!("rendering the objects of size {}", size.name))?;
    }
    let spec = spec.clone();
    Ok(Box::new(move |run: harness::BackendContext<'_>| {
        let run_id = run.run_id;
        let spec = spec.clone();
        let render = manifests::RenderOptions {
            run_id: Some(run_id.to_owned()),
            ..render.clone()
        };
        let namespace = render.namespace.clone();
        let builder: deploy_kube::ObjectBuilder = Box::new(move |pod, _labels| {
            spec.sizes
                .iter()
                .find(|s| s.name == pod.name)
                .and_then(|size| manifests::target_objects(&spec, size, &render).ok())
                // Rendered above for every size of the spec; an object the API server refuses
                // names itself in the backend's error.
                .map(|objects| (objects.deployment, objects.service))
                .unwrap_or_default()
        });
        let mut options = deploy_kube::KubeOptions::new(run_id, builder);
        options.namespace = namespace.clone();
        options.keep = keep;
        options.first_instance = run.first_instance;
        Ok(Box::new(deploy_kube::KubeBackend::new(options)?) as Box<dyn deploy::Backend>)
    }))
}

fn print_prediction(loaded: &experiment::LoadedSpec, schedule: &experiment::Schedule) {
    let spec = &loaded.spec;
    println!(
        "experiment {} (seed {}): {} requests",
        spec.name,
        spec.seed,
        schedule.len()
    );
    println!(
        "{:<10} {:>9} {:>12} {:>12}",
        "size", "requests", "cpu_seconds", "wall_seconds"
    );
    let predictions = experiment::predict(spec, schedule);
    for p in &predictions {
        println!(
            "{:<10} {:>9} {:>12.1} {:>12.1}",
            p.size, p.requests, p.cpu_seconds, p.wall_seconds
        );
    }
    let total = experiment::predicted_run_wall_seconds(spec, &predictions);
    let mode = if spec.concurrent_sizes {
        "sizes side by side"
    } else {
        "sizes one after another"
    };
    println!("predicted wall time: {:.0} s ({mode})", total);
}

fn beside_this_executable(name: &str) -> anyhow::Result<PathBuf> {
    let exe = std::env::current_exe().context("locating this executable")?;
    let path = exe.with_file_name(name);
    if !path.exists() {
        bail!(
            "{} not found beside {}; build it (cargo build --release --bin {name}) or pass --target-bin",
            path.display(),
            exe.display()
        );
    }
    Ok(path)
}

fn list_runs(out: &Path) -> anyhow::Result<()> {
    let mut found = 0;
    println!(
        "{:<14} {:<24} {:<22} {:>6} {:>6}",
        "experiment", "run", "started", "total", "ok"
    );
    for experiment in read_dirs(out)? {
        for run in read_dirs(&experiment)? {
            let manifest_path = run.join(dataset::MANIFEST_FILE);
            let Ok(manifest) = dataset::Manifest::read(&manifest_path) else {
                continue;
            };
            let total: u64 = manifest.counts.values().sum();
            let ok = manifest.counts.get("ok").copied().unwrap_or(0);
            println!(
                "{:<14} {:<24} {:<22} {:>6} {:>6}",
                manifest.experiment, manifest.run_id, manifest.started_at, total, ok
            );
            found += 1;
        }
    }
    if found == 0 {
        eprintln!("no finished runs under {}", out.display());
    }
    Ok(())
}

fn read_dirs(dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
    if !dir.exists() {
        return Ok(Vec::new());
    }
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(dir)
        .with_context(|| format!("listing {}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_dir())
        .collect();
    dirs.sort();
    Ok(dirs)
}

fn show_run(dir: &Path) -> anyhow::Result<()> {
    let run =
        dataset::open_run(dir).with_context(|| format!("reading the run in {}", dir.display()))?;
    let m = &run.manifest;
    println!(
        "experiment {}  run {}  seed {}",
        m.experiment, m.run_id, m.seed
    );
    println!(
        "started {}  finished {}",
        m.started_at,
        m.finished_at.as_deref().unwrap_or("-")
    );
    println!(
        "host {} cores, kernel {}, cgroups {}; limits enforced: {}",
        m.host.cores, m.host.kernel, m.host.cgroup_mode, m.limits_enforced
    );
    for (name, version) in &m.versions {
        println!("  {name}: {version}");
    }
    println!(
        "{} requests, {} samples\n",
        run.requests.len(),
        run.samples.len()
    );
    let sizes: Vec<String> = m.sizes.iter().map(|s| s.name.clone()).collect();
    println!("{}", harness::summary::render(&run.requests, &sizes));
    Ok(())
}

fn open_run(dir: &Path) -> anyhow::Result<dataset::Run> {
    dataset::open_run(dir).with_context(|| format!("reading the run in {}", dir.display()))
}

fn train(run_dir: &Path, out: &Path, seed: u64) -> anyhow::Result<()> {
    let run = open_run(run_dir)?;
    let options = model::TrainOptions {
        seed,
        ..Default::default()
    };
    let trained = model::train(&run, &options)?;
    trained
        .save(out)
        .with_context(|| format!("saving the models to {}", out.display()))?;
    println!(
        "trained {} target(s) on {} requests of run {} ({} features)",
        trained.metadata.targets.len(),
        trained.metadata.training_rows,
        trained.metadata.training_run_id,
        trained.metadata.feature_names.len()
    );
    println!("{}", out.display());
    Ok(())
}

fn evaluate(
    run_dir: &Path,
    split: Option<SplitArg>,
    json: bool,
    seed: u64,
    multi_output: bool,
) -> anyhow::Result<()> {
    let run = open_run(run_dir)?;
    let options = model::EvalOptions {
        train: model::TrainOptions {
            seed,
            multi_output,
            ..Default::default()
        },
        seed,
        ..Default::default()
    };
    let evaluation = model::evaluate(&run, &options)?;
    if json {
        println!("{}", serde_json::to_string_pretty(&evaluation)?);
        return Ok(());
    }
    let show = |kind: SplitArg| split.is_none_or(|s| s == kind);
    println!(
        "run {}: {} usable requests",
        evaluation.run_id, evaluation.usable_rows
    );
    if show(SplitArg::Random) {
        print_split("random 80/20", &evaluation.random_split);
    }
    if show(SplitArg::Kfold) {
        for report in &evaluation.k_fold {
            print_split("k-fold", report);
        }
    }
    if show(SplitArg::ByPayload) {
        print_split("grouped by payload", &evaluation.grouped_by_payload);
    }
    if show(SplitArg::LeaveOneSizeOut) {
        for report in &evaluation.leave_one_size_out {
            print_split("leave-one-size-out", report);
        }
    }
    println!("\nfeature importance (gain share, averaged over targets)");
    for entry in evaluation.importance.iter().take(10) {
        println!("  {:<32} {:.3}", entry.feature, entry.gain_share);
    }
    if let Some(placement) = &evaluation.placement {
        println!(
            "\nplacement on {} held-out requests (deadline U[1,3] × fastest actual): optimal share / mean regret / deadline misses",
            placement.decisions
        );
        for score in &placement.scores {
            println!(
                "  {:<24} {:>6.1} % {:>8.1} % {:>6.1} %",
                score.predictor,
                score.optimal_share * 100.0,
                score.mean_regret * 100.0,
                score.deadline_miss_share * 100.0
            );
        }
    }
    if let Some(floor) = &evaluation.noise_floor {
        println!(
            "\nnoise floor (each request predicted by its repetitions' mean, {} groups): duration MAPE {}",
            floor.groups,
            percent(floor.duration.mape)
        );
    }
    Ok(())
}

fn print_split(name: &str, report: &model::SplitReport) {
    println!(
        "\n{name} {}: train {} / test {}",
        split_detail(&report.split),
        report.train_rows,
        report.test_rows
    );
    println!(
        "  {:<16} {:<24} {:>12} {:>12} {:>8} {:>10} {:>12}",
        "target", "predictor", "MAE", "RMSE", "R2", "MAPE", "MAPE >=1s"
    );
    for r in &report.results {
        println!(
            "  {:<16} {:<24} {:>12.4} {:>12.4} {:>8} {:>10} {:>12}",
            serde_json::to_value(r.target)
                .ok()
                .and_then(|v| v.as_str().map(str::to_owned))
                .unwrap_or_default(),
            r.predictor,
            r.metrics.mae,
            r.metrics.rmse,
            r.metrics.r2.map_or("-".to_owned(), |v| format!("{v:.3}")),
            percent(r.metrics.mape),
            percent(r.at_least_1s.as_ref().and_then(|m| m.mape)),
        );
    }
}

fn split_detail(split: &model::SplitKind) -> String {
    match split {
        model::SplitKind::Random { test_fraction } => {
            format!("(test {:.0} %)", test_fraction * 100.0)
        }
        model::SplitKind::Fold { index, folds } => format!("(fold {} of {folds})", index + 1),
        model::SplitKind::GroupedByPayload {
            held_out_payloads,
            payloads,
            ..
        } => format!("(unseen payloads: {held_out_payloads} of {payloads} held out)"),
        model::SplitKind::LeaveOneSizeOut {
            held_out,
            interpolation,
        } => format!(
            "(held out: {held_out}, {})",
            if *interpolation {
                "interpolation"
            } else {
                "extrapolation"
            }
        ),
    }
}

/// The model's percentage errors are already in percent.
fn percent(value: Option<f64>) -> String {
    value.map_or("-".to_owned(), |v| format!("{v:.1} %"))
}

fn place(model_dir: &Path, request: &model::PlaceRequest) -> anyhow::Result<()> {
    let trained = model::TrainedModel::load(model_dir)
        .with_context(|| format!("loading the models in {}", model_dir.display()))?;
    let choice = model::answer(&trained, request)?;
    let coverage = trained
        .metadata
        .duration_band
        .as_ref()
        .map_or(String::new(), |b| {
            format!("{:.0} % band", b.coverage * 100.0)
        });
    println!(
        "{:<10} {:>12} {:>22} {:>12}",
        "size", "duration_s", coverage, "cost"
    );
    for estimate in &choice.estimates {
        let band = estimate
            .duration_band_seconds
            .map_or(String::new(), |[low, high]| format!("{low:.3} … {high:.3}"));
        println!(
            "{:<10} {:>12.3} {:>22} {:>12.3e}",
            estimate.size, estimate.predicted_duration_seconds, band, estimate.predicted_cost
        );
    }
    let met = if choice.predicted_to_meet_deadline {
        ""
    } else {
        " (no size is predicted to meet the deadline)"
    };
    println!("{}{met}", choice.chosen);
    Ok(())
}
