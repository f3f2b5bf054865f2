# The three OCI images, named as the Kubernetes manifests use them and tagged with the crate
# version (never `latest`). Each holds only its binaries' closure, runs as an unprivileged user
# and writes only to /tmp and /data (emptyDir volumes under a read-only root filesystem).
{
  lib,
  dockerTools,
  prometheus,
  binaries,
  version,
}:
let
  # Pod Security "restricted" wants runAsNonRoot; the manifests run every pod as this user, and
  # a numeric user needs no /etc/passwd.
  user = "10001:10001";

  image =
    {
      component,
      package,
      program,
      ports ? [ ],
      workingDir ? "/",
      extraContents ? [ ],
    }:
    dockerTools.buildLayeredImage {
      name = "computelocator/${component}";
      tag = version;
      contents = [ package ] ++ extraContents;
      # Writable scratch even when nothing is mounted there.
      extraCommands = ''
        mkdir -p -m 1777 tmp data
      '';
      config = {
        User = user;
        Entrypoint = [ "${package}/bin/${program}" ];
        WorkingDir = workingDir;
        # The manifests start the binaries by name (`command: [cl-observer]`).
        Env = [
          "PATH=/bin"
          "TMPDIR=/tmp"
        ];
        ExposedPorts = lib.genAttrs ports (_: { });
        Labels = {
          "org.opencontainers.image.title" = "computelocator/${component}";
          "org.opencontainers.image.version" = version;
        };
      };
    };
in
{
  # cl-target and, as the observer sidecar, cl-observer.
  target-image = image {
    component = "target";
    package = binaries.cl-target;
    program = "cl-target";
    # Workload API, then the Prometheus endpoint (cl-target's defaults).
    ports = [
      "8000/tcp"
      "9000/tcp"
    ];
  };
  aggregator-image = image {
    component = "aggregator";
    package = binaries.cl-aggregator;
    program = "cl-aggregator";
    ports = [ "5000/tcp" ];
  };
  # The harness runs experiments; runs are written under its working directory. With
  # --backend kube it collects through a Prometheus it starts, so that binary rides along.
  harness-image = image {
    component = "harness";
    package = binaries.computelocator;
    program = "computelocator";
    workingDir = "/data";
    extraContents = [ prometheus ];
  };
}
