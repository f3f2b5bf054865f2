//! One size's target on the cluster: apply its objects, wait for a ready pod, reach it, follow
//! its request log, watch its status, restart it by deleting the pod, delete it by label.

use std::collections::{BTreeMap, VecDeque};
use std::fmt::Debug;
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use deploy::{DeployError, Deployed, Exit, PodSize};
use futures::{AsyncBufReadExt, StreamExt};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{Event, Pod, Service};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use kube::api::{DeleteParams, ListParams, LogParams, Patch, PatchParams};
use kube::{Api, Resource};
use serde::de::DeserializeOwned;
use serde_json::Value;
use tokio::task::AbortHandle;

use crate::connect::{Endpoint, PodAddress};
use crate::diagnose::{
    describe_events, exit_of, gave_up, is_observed, is_ready, restarts, why_no_pod, why_not_ready,
};
use crate::{FIELD_MANAGER, KubeError, RunLabels, Shared};

/// The record type of a request line in the target's log.
const REQUEST_RECORD: &str = "prev_request_history";
/// Bound on one `/health` probe; a throttled target may answer slowly.
const HEALTH_PROBE_TIMEOUT: Duration = Duration::from_secs(2);
const HEALTH_PAUSE: Duration = Duration::from_millis(100);
/// How long after `/health` answers to wait for the `build_info` line in the pod log.
const BUILD_INFO_PATIENCE: Duration = Duration::from_secs(5);
/// How long to wait for a deleted pod's log stream to end.
const LOG_DRAIN_PATIENCE: Duration = Duration::from_secs(1);
/// Events and log lines shown in a rollout error.
const EVENTS_SHOWN: usize = 10;
const LOG_TAIL_LINES: i64 = 20;

fn instance_name(size: &PodSize, generation: u32) -> String {
    format!("{}#{generation}", size.name)
}

fn is_request_record(line: &Value) -> bool {
    line.get("type").and_then(Value::as_str) == Some(REQUEST_RECORD)
}

impl Shared {
    /// A failed call: a connection problem means the API server is gone; the rest keep the
    /// server's answer.
    fn api_error(&self, op: impl Into<String>, source: kube::Error) -> KubeError {
        match source {
            kube::Error::HyperError(_) | kube::Error::Service(_) => KubeError::Unreachable {
                url: self.cluster_url.clone(),
                source,
            },
            source => KubeError::api(op, source),
        }
    }

    fn api<K>(&self) -> Api<K>
    where
        K: Resource<Scope = k8s_openapi::NamespaceResourceScope>,
        <K as Resource>::DynamicType: Default,
    {
        Api::namespaced(self.client.clone(), &self.options.namespace)
    }
}

/// A size's objects as they are applied, and what the backend reads from them.
struct Objects {
    deployment: Deployment,
    service: Service,
    deployment_name: String,
    service_name: String,
    /// The container whose log and status are the target's.
    container: String,
    /// Container port → Service port.
    service_ports: BTreeMap<u16, u16>,
    labels: RunLabels,
}

impl Objects {
    /// Adds the run labels and the namespace to what the builder made, and checks it has what
    /// the backend relies on (names, a container).
    fn prepare(
        shared: &Shared,
        labels: RunLabels,
        mut deployment: Deployment,
        mut service: Service,
    ) -> Result<Self, KubeError> {
        let invalid = |what: &str, reason: &str| KubeError::InvalidObject {
            what: format!("{what} for size {}", labels.size),
            reason: reason.to_owned(),
        };
        let namespace = &shared.options.namespace;
        let label_map = labels.to_map();
        for meta in [&mut deployment.metadata, &mut service.metadata] {
            meta.namespace = Some(namespace.clone());
            meta.labels
                .get_or_insert_with(Default::default)
                .extend(label_map.clone());
        }
        let deployment_name = deployment
            .metadata
            .name
            .clone()
            .ok_or_else(|| invalid("deployment", "it has no name"))?;
        let service_name = service
            .metadata
            .name
            .clone()
            .ok_or_else(|| invalid("service", "it has no name"))?;
        let spec = deployment
            .spec
            .as_mut()
            .ok_or_else(|| invalid("deployment", "it has no spec"))?;
        spec.template
            .metadata
            .get_or_insert_with(Default::default)
            .labels
            .get_or_insert_with(Default::default)
            .extend(label_map);
        let containers = spec
            .template
            .spec
            .as_ref()
            .map(|s| s.containers.as_slice())
            .unwrap_or(&[]);
        let target = containers
            .iter()
            .find(|c| c.name == shared.options.target_container)
            .or_else(|| containers.first())
            .ok_or_else(|| invalid("deployment", "its pod template has no containers"))?;
        let named_port = |name: &str| {
            target
                .ports
                .as_deref()
                .unwrap_or(&[])
                .iter()
                .find(|p| p.name.as_deref() == Some(name))
                .and_then(|p| u16::try_from(p.container_port).ok())
        };
        let mut service_ports = BTreeMap::new();
        for port in service
            .spec
            .as_ref()
            .and_then(|s| s.ports.as_deref())
            .unwrap_or(&[])
        {
            let Ok(service_port) = u16::try_from(port.port) else {
                continue;
            };
            let container_port = match &port.target_port {
                None => Some(service_port),
                Some(IntOrString::Int(p)) => u16::try_from(*p).ok(),
                Some(IntOrString::String(name)) => named_port(name),
            };
            if let Some(container_port) = container_port {
                service_ports.insert(container_port, service_port);
            }
        }
        let container = target.name.clone();
        Ok(Self {
            deployment,
            service,
            deployment_name,
            service_name,
            container,
            service_ports,
            labels,
        })
    }

    async fn apply(&self, shared: &Shared) -> Result<(), KubeError> {
        let params = PatchParams::apply(FIELD_MANAGER).force();
        let deployments: Api<Deployment> = shared.api();
        deployments
            .patch(
                &self.deployment_name,
                &params,
                &Patch::Apply(&self.deployment),
            )
            .await
            .map_err(|e| {
                shared.api_error(format!("apply deployment {}", self.deployment_name), e)
            })?;
        let services: Api<Service> = shared.api();
        services
            .patch(&self.service_name, &params, &Patch::Apply(&self.service))
            .await
            .map_err(|e| shared.api_error(format!("apply service {}", self.service_name), e))?;
        Ok(())
    }

    /// Deletes this size's objects by their labels; with `keep`, leaves them and says which
    /// they are and how to delete them by hand.
    fn release(&self, shared: &Shared, instance: &str) -> Result<(), KubeError> {
        if shared.options.keep {
            tracing::info!(
                %instance,
                namespace = %shared.options.namespace,
                "keeping deployment {} and service {} (and their pod); remove them with: {}",
                self.deployment_name,
                self.service_name,
                self.labels.delete_command(&shared.options.namespace)
            );
            return Ok(());
        }
        shared
            .block_on(delete_labelled(shared, &self.labels.selector()))
            .map(drop)
    }

    fn address(&self, shared: &Shared, pod: &str) -> PodAddress {
        PodAddress {
            namespace: shared.options.namespace.clone(),
            pod: pod.to_owned(),
            service: self.service_name.clone(),
            service_ports: self.service_ports.clone(),
        }
    }

    /// Waits for a ready pod of the Deployment's current spec (not `replaced`); on timeout, or
    /// when the controller gives up, explains which pod is stuck and why.
    async fn wait_ready(
        &self,
        shared: &Shared,
        instance: &str,
        replaced: Option<&str>,
        deadline: Instant,
    ) -> Result<Pod, KubeError> {
        let deployments: Api<Deployment> = shared.api();
        let pods: Api<Pod> = shared.api();
        let selector = ListParams::default().labels(&self.labels.selector());
        loop {
            let deployment = deployments
                .get_opt(&self.deployment_name)
                .await
                .map_err(|e| {
                    shared.api_error(format!("read deployment {}", self.deployment_name), e)
                })?;
            let candidates: Vec<Pod> = pods
                .list(&selector)
                .await
                .map_err(|e| shared.api_error(format!("list pods {}", self.labels.selector()), e))?
                .items
                .into_iter()
                .filter(|p| replaced.is_none() || p.metadata.uid.as_deref() != replaced)
                .collect();
            let observed = deployment.as_ref().is_some_and(is_observed);
            if observed && let Some(ready) = candidates.iter().find(|p| is_ready(p)) {
                return Ok(ready.clone());
            }
            let gave_up = deployment.as_ref().and_then(gave_up);
            if gave_up.is_some() || Instant::now() >= deadline {
                let waited = shared.options.rollout_timeout;
                let why = match gave_up {
                    Some(message) => format!("the controller gave up ({message})"),
                    None => format!("no ready pod within {} s", waited.as_secs_f64()),
                };
                return Err(self
                    .explain_stuck(shared, instance, deployment.as_ref(), &candidates, why)
                    .await);
            }
            tokio::time::sleep(shared.options.poll_interval).await;
        }
    }

    async fn explain_stuck(
        &self,
        shared: &Shared,
        instance: &str,
        deployment: Option<&Deployment>,
        candidates: &[Pod],
        why: String,
    ) -> KubeError {
        let stuck = candidates
            .iter()
            .find(|p| p.metadata.deletion_timestamp.is_none() && !is_ready(p))
            .or_else(|| candidates.first());
        let (subject, reason) = match stuck {
            Some(pod) => (
                pod.metadata.name.clone().unwrap_or_default(),
                why_not_ready(pod),
            ),
            None => (self.deployment_name.clone(), why_no_pod(deployment)),
        };
        let events: Api<Event> = shared.api();
        let params = ListParams::default().fields(&format!("involvedObject.name={subject}"));
        let events = match events.list(&params).await {
            Ok(list) => {
                let mut described = describe_events(&list.items);
                let skip = described.len().saturating_sub(EVENTS_SHOWN);
                described.drain(..skip);
                described
            }
            Err(e) => vec![format!("(cannot list the events of {subject}: {e})")],
        };
        let log_tail = match stuck {
            Some(pod) => self.log_tail(shared, pod).await,
            None => String::new(),
        };
        KubeError::Rollout {
            instance: instance.to_owned(),
            deployment: self.deployment_name.clone(),
            reason: format!("{why}: {reason}"),
            events,
            log_tail,
        }
    }

    /// The last lines of the target container (of its previous run after a restart); empty
    /// when it never ran.
    async fn log_tail(&self, shared: &Shared, pod: &Pod) -> String {
        let ran_before = restarts(pod, &self.container) > 0;
        let params = LogParams {
            container: Some(self.container.clone()),
            previous: ran_before,
            tail_lines: Some(LOG_TAIL_LINES),
            ..Default::default()
        };
        let pods: Api<Pod> = shared.api();
        let name = pod.metadata.name.as_deref().unwrap_or_default();
        pods.logs(name, &params).await.unwrap_or_default()
    }
}

/// Deletes the Deployments and Services matching `selector` and waits (up to the teardown
/// timeout) until they and their pods are gone. Returns how many objects it deleted.
pub async fn delete_labelled(shared: &Shared, selector: &str) -> Result<usize, KubeError> {
    let deleted = delete_matching::<Deployment>(shared, selector).await?
        + delete_matching::<Service>(shared, selector).await?;
    let deadline = Instant::now() + shared.options.teardown_timeout;
    loop {
        let mut remaining = still_present::<Deployment>(shared, selector).await?;
        remaining.extend(still_present::<Service>(shared, selector).await?);
        remaining.extend(still_present::<Pod>(shared, selector).await?);
        if remaining.is_empty() {
            return Ok(deleted);
        }
        if Instant::now() >= deadline {
            return Err(KubeError::TeardownTimeout {
                selector: selector.to_owned(),
                remaining,
            });
        }
        tokio::time::sleep(shared.options.poll_interval).await;
    }
}

/// The API of `K`, its kind in lower case, and the objects matching `selector`.
async fn list_matching<K>(
    shared: &Shared,
    selector: &str,
) -> Result<(Api<K>, String, Vec<K>), KubeError>
where
    K: Resource<Scope = k8s_openapi::NamespaceResourceScope> + Clone + DeserializeOwned + Debug,
    <K as Resource>::DynamicType: Default,
{
    let api: Api<K> = shared.api();
    let kind = K::kind(&Default::default()).to_lowercase();
    let items = api
        .list(&ListParams::default().labels(selector))
        .await
        .map_err(|e| shared.api_error(format!("list {kind}s {selector}"), e))?
        .items;
    Ok((api, kind, items))
}

async fn delete_matching<K>(shared: &Shared, selector: &str) -> Result<usize, KubeError>
where
    K: Resource<Scope = k8s_openapi::NamespaceResourceScope> + Clone + DeserializeOwned + Debug,
    <K as Resource>::DynamicType: Default,
{
    let (api, kind, items) = list_matching::<K>(shared, selector).await?;
    let mut deleted = 0;
    for item in items {
        let Some(name) = item.meta().name.clone() else {
            continue;
        };
        match api.delete(&name, &DeleteParams::background()).await {
            Ok(_) => deleted += 1,
            Err(kube::Error::Api(status)) if status.code == 404 => {}
            Err(e) => return Err(shared.api_error(format!("delete {kind} {name}"), e)),
        }
    }
    Ok(deleted)
}

/// `kind name` of each object matching `selector`.
async fn still_present<K>(shared: &Shared, selector: &str) -> Result<Vec<String>, KubeError>
where
    K: Resource<Scope = k8s_openapi::NamespaceResourceScope> + Clone + DeserializeOwned + Debug,
    <K as Resource>::DynamicType: Default,
{
    let (_, kind, items) = list_matching::<K>(shared, selector).await?;
    Ok(items
        .into_iter()
        .map(|i| format!("{kind} {}", i.meta().name.as_deref().unwrap_or_default()))
        .collect())
}

/// Facts of a started instance that outlive it (the trait hands out references).
#[derive(Debug)]
struct Started {
    api_url: String,
    metrics_url: String,
    build_info: Value,
    startup_time: Duration,
}

/// One pod of a target and what follows it.
struct Instance {
    pod: String,
    uid: Option<String>,
    /// Keep the relays alive.
    _api: Endpoint,
    _metrics: Endpoint,
    /// JSON lines of the target container's log, in order.
    lines: Receiver<Value>,
    /// Request records read while waiting for `build_info`.
    backlog: VecDeque<Value>,
    exit: Arc<Mutex<Option<Exit>>>,
    log_follower: AbortHandle,
    exit_watcher: AbortHandle,
}

impl Drop for Instance {
    fn drop(&mut self) {
        self.log_follower.abort();
        self.exit_watcher.abort();
    }
}

impl Instance {
    /// Waits for a ready pod (not `replaced`), reaches its ports, follows its log and status,
    /// and waits for `/health`. Nothing of it runs on when this fails.
    fn start(
        shared: &Shared,
        objects: &Objects,
        instance: &str,
        replaced: Option<&str>,
    ) -> Result<(Instance, Started), KubeError> {
        let started_at = Instant::now();
        let deadline = started_at + shared.options.rollout_timeout;
        let pod = shared.block_on(objects.wait_ready(shared, instance, replaced, deadline))?;
        let pod_name = pod.metadata.name.clone().unwrap_or_default();
        let address = objects.address(shared, &pod_name);
        let runtime = shared.runtime.handle();
        let connector = &shared.connector;
        let api = connector.open(runtime, &shared.client, &address, shared.options.api_port)?;
        let metrics = connector.open(
            runtime,
            &shared.client,
            &address,
            shared.options.metrics_port,
        )?;

        let pods: Api<Pod> = shared.api();
        let (line_tx, lines) = mpsc::channel();
        let follower = runtime.spawn(follow_log(
            pods.clone(),
            pod_name.clone(),
            objects.container.clone(),
            line_tx,
        ));
        let exit = Arc::new(Mutex::new(None));
        let watcher = runtime.spawn(watch_exit(
            pods,
            pod_name.clone(),
            objects.container.clone(),
            restarts(&pod, &objects.container),
            shared.options.poll_interval,
            Arc::clone(&exit),
        ));
        let mut started = Instance {
            pod: pod_name,
            uid: pod.metadata.uid.clone(),
            _api: api,
            _metrics: metrics,
            lines,
            backlog: VecDeque::new(),
            exit,
            log_follower: follower.abort_handle(),
            exit_watcher: watcher.abort_handle(),
        };
        let api_url = started._api.url().to_owned();
        // The pod is Ready, so a relay or DNS problem gets a short grace, not the whole rollout.
        let health_deadline = deadline.max(Instant::now() + Duration::from_secs(10));
        started.wait_healthy(instance, &api_url, health_deadline)?;
        let build_info = started.find_build_info();
        let facts = Started {
            metrics_url: started._metrics.url().to_owned(),
            api_url,
            build_info,
            startup_time: started_at.elapsed(),
        };
        tracing::info!(instance, pod = %started.pod, startup = ?facts.startup_time, api = %facts.api_url, "target healthy");
        Ok((started, facts))
    }

    fn wait_healthy(
        &self,
        instance: &str,
        api_url: &str,
        deadline: Instant,
    ) -> Result<(), KubeError> {
        let health = format!("{api_url}/health");
        loop {
            let problem = match deploy::http::get(&health, HEALTH_PROBE_TIMEOUT) {
                Ok(answer) if answer.status == 200 => return Ok(()),
                Ok(answer) => format!("it answered {}", answer.status),
                Err(e) => e.to_string(),
            };
            if let Some(exit) = self.exit() {
                return Err(KubeError::Unhealthy {
                    instance: instance.to_owned(),
                    pod: self.pod.clone(),
                    url: api_url.to_owned(),
                    problem: format!("the target container ended ({exit:?}) after {problem}"),
                });
            }
            if Instant::now() >= deadline {
                return Err(KubeError::Unhealthy {
                    instance: instance.to_owned(),
                    pod: self.pod.clone(),
                    url: api_url.to_owned(),
                    problem,
                });
            }
            std::thread::sleep(HEALTH_PAUSE);
        }
    }

    /// The target's `build_info` line, the first thing it logs; `null` if it does not show up
    /// in time (the target is healthy regardless).
    fn find_build_info(&mut self) -> Value {
        let deadline = Instant::now() + BUILD_INFO_PATIENCE;
        loop {
            let remaining = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(remaining) {
                Ok(line) if line.get("type").and_then(Value::as_str) == Some("build_info") => {
                    return line;
                }
                Ok(line) if is_request_record(&line) => self.backlog.push_back(line),
                Ok(_) => {}
                Err(_) => {
                    tracing::warn!(pod = %self.pod, "no build_info line in the pod log");
                    return Value::Null;
                }
            }
        }
    }

    fn exit(&self) -> Option<Exit> {
        *self
            .exit
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn next_record(&mut self, timeout: Duration) -> Option<Value> {
        if let Some(record) = self.backlog.pop_front() {
            return Some(record);
        }
        let deadline = Instant::now() + timeout;
        loop {
            let remaining = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(remaining) {
                Ok(line) if is_request_record(&line) => return Some(line),
                Ok(line) => tracing::debug!(pod = %self.pod, %line, "other log line"),
                Err(_) => return None,
            }
        }
    }

    /// The request records still in the log of a deleted pod.
    fn drain_records(&mut self) -> Vec<Value> {
        let mut records: Vec<Value> = self.backlog.drain(..).collect();
        let deadline = Instant::now() + LOG_DRAIN_PATIENCE;
        loop {
            let remaining = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(remaining) {
                Ok(line) if is_request_record(&line) => records.push(line),
                Ok(_) => {}
                Err(RecvTimeoutError::Timeout | RecvTimeoutError::Disconnected) => {
                    return records;
                }
            }
        }
    }
}

/// Streams the container's log (following it) and hands every JSON line to `deliver` until the
/// stream ends or nobody listens. Lines that are not JSON are logged and skipped.
async fn follow_log(pods: Api<Pod>, pod: String, container: String, deliver: mpsc::Sender<Value>) {
    let params = LogParams {
        container: Some(container),
        follow: true,
        ..Default::default()
    };
    let stream = match pods.log_stream(&pod, &params).await {
        Ok(stream) => stream,
        Err(e) => {
            tracing::warn!(%pod, "cannot follow the pod log: {e}");
            return;
        }
    };
    let mut lines = std::pin::pin!(stream.lines());
    while let Some(line) = lines.next().await {
        let line = match line {
            Ok(line) => line,
            Err(e) => {
                tracing::warn!(%pod, "reading the pod log: {e}");
                return;
            }
        };
        if line.trim().is_empty() {
            continue;
        }
        match serde_json::from_str::<Value>(&line) {
            Ok(value) => {
                if deliver.send(value).is_err() {
                    return;
                }
            }
            Err(e) => tracing::debug!(%pod, %line, "non-JSON log line: {e}"),
        }
    }
}

/// Polls the pod until its target container has ended or restarted since `baseline`
/// restarts (or the pod is gone), and leaves the answer in `slot`.
async fn watch_exit(
    pods: Api<Pod>,
    pod: String,
    container: String,
    baseline: i32,
    interval: Duration,
    slot: Arc<Mutex<Option<Exit>>>,
) {
    loop {
        tokio::time::sleep(interval).await;
        let exit = match pods.get_opt(&pod).await {
            Ok(Some(current)) => exit_of(&current, &container, baseline),
            Ok(None) => Some(Exit::Crashed {
                code: None,
                signal: None,
            }),
            Err(e) => {
                tracing::debug!(%pod, "cannot read the pod status: {e}");
                None
            }
        };
        if let Some(exit) = exit {
            tracing::warn!(%pod, ?exit, "target container ended");
            *slot.lock().unwrap_or_else(|poisoned| poisoned.into_inner()) = Some(exit);
            return;
        }
    }
}

/// A target deployed by [`crate::KubeBackend`].
pub struct KubeTarget {
    shared: Arc<Shared>,
    size: PodSize,
    objects: Objects,
    generation: u32,
    instance: String,
    /// `None` only after a failed restart.
    current: Option<Instance>,
    /// The last successful start (still reported after a failed restart).
    started: Started,
    /// Records of replaced pods not yet handed out.
    pending: VecDeque<Value>,
    last_exit: Option<Exit>,
    /// Set once shutdown deleted (or kept) the objects, so drop does not do it again.
    released: bool,
}

impl KubeTarget {
    /// Applies the size's objects and waits for its first healthy pod; deletes them again if
    /// that fails.
    pub fn deploy(shared: Arc<Shared>, size: &PodSize) -> Result<Self, DeployError> {
        let labels = RunLabels::new(&shared.options.run_id, &size.name);
        let (deployment, service) = (shared.options.builder)(size, &labels);
        let objects = Objects::prepare(&shared, labels, deployment, service)?;
        let generation = shared.options.first_instance;
        let instance = instance_name(size, generation);
        let started = shared
            .block_on(objects.apply(&shared))
            .and_then(|()| Instance::start(&shared, &objects, &instance, None));
        match started {
            Ok((current, started)) => Ok(Self {
                shared,
                size: size.clone(),
                objects,
                generation,
                instance,
                current: Some(current),
                started,
                pending: VecDeque::new(),
                last_exit: None,
                released: false,
            }),
            Err(failure) => {
                if let Err(e) = objects.release(&shared, &instance) {
                    tracing::warn!(%instance, "teardown after a failed deploy: {e}");
                }
                Err(failure.into())
            }
        }
    }

    fn delete_pod(&self, pod: &str) -> Result<(), KubeError> {
        let pods: Api<Pod> = self.shared.api();
        let params = DeleteParams {
            grace_period_seconds: Some(0),
            ..Default::default()
        };
        match self.shared.block_on(pods.delete(pod, &params)) {
            Ok(_) => Ok(()),
            Err(kube::Error::Api(status)) if status.code == 404 => Ok(()),
            Err(e) => Err(self.shared.api_error(format!("delete pod {pod}"), e)),
        }
    }
}

impl Deployed for KubeTarget {
    fn instance(&self) -> &str {
        &self.instance
    }

    fn size(&self) -> &PodSize {
        &self.size
    }

    fn api_url(&self) -> &str {
        &self.started.api_url
    }

    fn metrics_url(&self) -> &str {
        &self.started.metrics_url
    }

    fn pid(&self) -> Option<i32> {
        None
    }

    fn build_info(&self) -> &Value {
        &self.started.build_info
    }

    fn startup_time(&self) -> Duration {
        self.started.startup_time
    }

    fn next_record(&mut self, timeout: Duration) -> Option<Value> {
        if let Some(record) = self.pending.pop_front() {
            return Some(record);
        }
        self.current.as_mut()?.next_record(timeout)
    }

    fn check_exit(&mut self) -> Option<Exit> {
        match &self.current {
            Some(current) => {
                let exit = current.exit();
                if exit.is_some() {
                    self.last_exit = exit;
                }
                exit
            }
            None => Some(self.last_exit.unwrap_or(Exit::Crashed {
                code: None,
                signal: None,
            })),
        }
    }

    fn restart(&mut self) -> Result<(), DeployError> {
        let mut replaced = None;
        if let Some(mut old) = self.current.take() {
            if let Some(exit) = old.exit() {
                self.last_exit = Some(exit);
            }
            // Stop watching the status before the deletion makes the pod look crashed; the
            // log follower runs on until the deleted pod's stream ends.
            old.exit_watcher.abort();
            let deleted = self.delete_pod(&old.pod);
            self.pending.extend(old.drain_records());
            replaced = old.uid.clone();
            deleted?;
        }
        self.generation += 1;
        self.instance = instance_name(&self.size, self.generation);
        let (current, started) = Instance::start(
            &self.shared,
            &self.objects,
            &self.instance,
            replaced.as_deref(),
        )?;
        self.current = Some(current);
        self.started = started;
        Ok(())
    }

    fn shutdown(mut self: Box<Self>) -> Result<(), DeployError> {
        self.current = None;
        self.released = true;
        self.objects
            .release(&self.shared, &self.instance)
            .map_err(DeployError::from)
    }
}

impl Drop for KubeTarget {
    fn drop(&mut self) {
        self.current = None;
        if !self.released
            && let Err(e) = self.objects.release(&self.shared, &self.instance)
        {
            tracing::warn!(instance = %self.instance, "teardown on drop: {e}");
        }
    }
}
