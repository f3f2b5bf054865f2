# Which tests run inside the Nix build sandbox, as nextest filtersets. The sandbox runs as an
# unprivileged build user with no writable cgroups, no network beyond loopback and no
# Prometheus, Loki or cluster, so it runs every unit test (except the `real_cgroup` ones) and
# the integration tests that need none of those. Left to `make test` on a real machine:
#   cgroup::real_cgroup, probe::real_cgroup, target::cgroup, target::usage (need root and
#   cgroups, or measure CPU against a quota), deploy::local, harness::{smoke,faults} and
#   cli::resume (start targets in cgroups), collect::prometheus, harness::prometheus and
#   aggregator::live (start Debian's Prometheus).
{
  sandbox = builtins.concatStringsSep " | " [
    "((kind(lib) | kind(bin)) & !test(/real_cgroup/))"
    "binary_id(experiment::errors)"
    "binary_id(experiment::schedule)"
    "binary_id(experiment::schema)"
    "binary_id(dataset::align)"
    "binary_id(dataset::journal)"
    "binary_id(dataset::parquet)"
    "binary_id(dataset::pyarrow)"
    "binary_id(dataset::reference)"
    "binary_id(cgroup::fake_tree)"
    "binary_id(probe::probe)"
    "binary_id(workload-dense::run)"
    "binary_id(workload-video::encode)"
    "binary_id(target::server)"
    "binary_id(target::panic)"
    "binary_id(aggregator::library)"
    "binary_id(aggregator::loki)"
    "binary_id(aggregator::http)"
    "binary_id(model::reference_run)"
    "binary_id(cli::model)"
  ];

  # The committed paper/ tables and figures against what the code generates.
  paperSnapshots = "binary_id(paper::snapshots)";

  # The committed k8s/ manifests against what the code renders (the `manifests` crate's tests:
  # drift, snapshots, the Pod Security lint, bad input). Its schema-validation tests need the
  # PyPI kubernetes-validate that scripts/validate-k8s installs; they stay with `make test`.
  manifestDrift = "package(manifests) - test(/schema_validation/)";
}
