//! A fake Kubernetes API server, in process, for the backend's control flow: no real API server
//! (nor kind, minikube or a container engine) can run on the machines these tests run on.
//!
//! It implements only the endpoints the backend calls, answers with realistic Kubernetes JSON,
//! and records every request. A Deployment applied here gets one pod whose status the test
//! chooses (ready, stuck pulling its image, unschedulable); the "kubelet" is the test itself,
//! which can rewrite a pod's container status (an OOM kill) and feed its log. Behind every pod
//! runs one real `cl-target` ([`RealTarget`]) when a test needs a pod that answers.

#![allow(dead_code)] // Each test binary uses a different part of it.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use deploy_kube::{DirectAddress, Route};
use serde_json::{Value, json};
use tokio::sync::Notify;

/// One request as the fake saw it.
#[derive(Clone, Debug)]
pub struct Recorded {
    pub method: String,
    pub path: String,
    /// Decoded query parameters.
    pub query: BTreeMap<String, String>,
    pub content_type: String,
    pub body: Value,
}

/// What a pod of a freshly applied Deployment looks like.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PodFate {
    Ready,
    ImagePullBackOff,
    Unschedulable,
}

/// The log lines every pod serves (one real target behind all pods), growing while it runs.
#[derive(Default)]
pub struct LogFeed {
    lines: Mutex<Vec<String>>,
    more: Notify,
}

impl LogFeed {
    pub fn push(&self, line: String) {
        self.lines.lock().unwrap().push(line);
        self.more.notify_waiters();
    }

    fn len(&self) -> usize {
        self.lines.lock().unwrap().len()
    }
}

#[derive(Default)]
struct Cluster {
    requests: Vec<Recorded>,
    namespaces: Vec<String>,
    deployments: BTreeMap<String, Value>,
    services: BTreeMap<String, Value>,
    pods: BTreeMap<String, Value>,
    /// Pod → the Deployment whose ReplicaSet made it.
    pod_owners: BTreeMap<String, String>,
    /// Where each pod's log starts in the feed.
    log_offsets: BTreeMap<String, usize>,
    events: Vec<Value>,
    /// `verb group/resource/subresource` that SelfSubjectAccessReview refuses.
    denied: Vec<String>,
    quotas: Vec<Value>,
    nodes: Vec<Value>,
    fate: Option<PodFate>,
    pods_created: u32,
}

type Shared = Arc<(Mutex<Cluster>, Arc<LogFeed>)>;

/// The running fake; stops when dropped.
pub struct FakeApiServer {
    pub url: String,
    shared: Shared,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl FakeApiServer {
    /// A cluster with namespace `computelocator`, one 4-core 8Gi node, and pods that `fate`.
    pub fn start(fate: PodFate) -> Self {
        let cluster = Cluster {
            namespaces: vec!["computelocator".into(), "default".into()],
            nodes: vec![json!({
                "apiVersion": "v1", "kind": "Node",
                "metadata": {"name": "kind-control-plane", "uid": "n-1"},
                "status": {"allocatable": {"cpu": "4", "memory": "8Gi", "pods": "110"},
                           "capacity": {"cpu": "4", "memory": "8Gi", "pods": "110"}},
            })],
            fate: Some(fate),
            ..Default::default()
        };
        let shared: Shared = Arc::new((Mutex::new(cluster), Arc::new(LogFeed::default())));
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let state = Arc::clone(&shared);
        let thread = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(async move {
                let listener = tokio::net::TcpListener::from_std(listener).unwrap();
                let app = Router::new().fallback(handle).with_state(state);
                axum::serve(listener, app)
                    .with_graceful_shutdown(async {
                        let _ = stopped.await;
                    })
                    .await
                    .unwrap();
            });
        });
        Self {
            url,
            shared,
            stop: Some(stop),
            thread: Some(thread),
        }
    }

    fn cluster(&self) -> std::sync::MutexGuard<'_, Cluster> {
        self.shared.0.lock().unwrap()
    }

    pub fn log_feed(&self) -> Arc<LogFeed> {
        Arc::clone(&self.shared.1)
    }

    pub fn requests(&self) -> Vec<Recorded> {
        self.cluster().requests.clone()
    }

    pub fn deny(&self, permission: &str) {
        self.cluster().denied.push(permission.to_owned());
    }

    pub fn add_quota(&self, quota: Value) {
        self.cluster().quotas.push(quota);
    }

    pub fn remove_namespace(&self, namespace: &str) {
        self.cluster().namespaces.retain(|n| n != namespace);
    }

    pub fn pod_names(&self) -> Vec<String> {
        self.cluster().pods.keys().cloned().collect()
    }

    pub fn object_count(&self) -> usize {
        let c = self.cluster();
        c.deployments.len() + c.services.len() + c.pods.len()
    }

    /// The kubelet's view of a container changes (e.g. it was OOM killed and restarted).
    pub fn set_container_status(&self, pod: &str, container_status: Value) {
        let mut c = self.cluster();
        let pod = c.pods.get_mut(pod).expect("no such pod");
        pod["status"]["containerStatuses"] = json!([container_status]);
    }
}

impl Drop for FakeApiServer {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or("");
                match u8::from_str_radix(hex, 16) {
                    Ok(b) => {
                        out.push(b);
                        i += 2;
                    }
                    Err(_) => out.push(b'%'),
                }
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn parse_query(query: Option<&str>) -> BTreeMap<String, String> {
    query
        .unwrap_or("")
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            (decode(k), decode(v))
        })
        .collect()
}

/// `a=b,c=d` matches objects whose labels have all of these.
fn matches(selector: Option<&String>, object: &Value) -> bool {
    let Some(selector) = selector else {
        return true;
    };
    selector.split(',').filter(|s| !s.is_empty()).all(|term| {
        let (k, v) = term.split_once('=').unwrap_or((term, ""));
        object["metadata"]["labels"][k].as_str() == Some(v)
    })
}

fn status(code: u16, reason: &str, message: String) -> Response {
    let body = json!({
        "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
        "message": message, "reason": reason, "code": code,
    });
    (StatusCode::from_u16(code).unwrap(), axum::Json(body)).into_response()
}

fn list(kind: &str, api_version: &str, items: Vec<Value>) -> Response {
    axum::Json(json!({
        "apiVersion": api_version, "kind": format!("{kind}List"),
        "metadata": {"resourceVersion": "1000"}, "items": items,
    }))
    .into_response()
}

async fn handle(
    State(shared): State<Shared>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let query = parse_query(uri.query());
    let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let content_type = headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    let path = uri.path().to_owned();
    let mut cluster = shared.0.lock().unwrap();
    cluster.requests.push(Recorded {
        method: method.to_string(),
        path: path.clone(),
        query: query.clone(),
        content_type,
        body: body.clone(),
    });
    let parts: Vec<&str> = path.trim_matches('/').split('/').collect();
    let selector = query.get("labelSelector");
    match (method.as_str(), parts.as_slice()) {
        ("GET", ["version"]) => axum::Json(json!({
            "major": "1", "minor": "33", "gitVersion": "v1.33.1", "gitCommit": "8adc0f041b8e7ad1d30e29cc59c6ae7a15e19828",
            "gitTreeState": "clean", "buildDate": "2025-05-15T08:19:08Z", "goVersion": "go1.24.2",
            "compiler": "gc", "platform": "linux/amd64",
        }))
        .into_response(),
        ("GET", ["api", "v1", "namespaces", ns]) => {
            if cluster.namespaces.iter().any(|n| n == ns) {
                axum::Json(json!({"apiVersion": "v1", "kind": "Namespace",
                    "metadata": {"name": ns}, "status": {"phase": "Active"}}))
                .into_response()
            } else {
                status(404, "NotFound", format!("namespaces \"{ns}\" not found"))
            }
        }
        ("POST", ["apis", "authorization.k8s.io", "v1", "selfsubjectaccessreviews"]) => {
            let attrs = &body["spec"]["resourceAttributes"];
            let group = attrs["group"].as_str().unwrap_or("");
            let mut key = format!(
                "{} {}{}",
                attrs["verb"].as_str().unwrap_or(""),
                if group.is_empty() { String::new() } else { format!("{group}/") },
                attrs["resource"].as_str().unwrap_or("")
            );
            if let Some(sub) = attrs["subresource"].as_str().filter(|s| !s.is_empty()) {
                key.push('/');
                key.push_str(sub);
            }
            let allowed = !cluster.denied.contains(&key);
            let mut answer = body.clone();
            answer["status"] = json!({"allowed": allowed});
            (StatusCode::CREATED, axum::Json(answer)).into_response()
        }
        ("GET", ["api", "v1", "namespaces", _, "limitranges"]) => list("LimitRange", "v1", vec![]),
        ("GET", ["api", "v1", "namespaces", _, "resourcequotas"]) => {
            list("ResourceQuota", "v1", cluster.quotas.clone())
        }
        ("GET", ["api", "v1", "nodes"]) => list("Node", "v1", cluster.nodes.clone()),
        ("PATCH", ["apis", "apps", "v1", "namespaces", ns, "deployments", name]) => {
            let mut object = body.clone();
            object["metadata"]["uid"] = json!(format!("uid-deploy-{name}"));
            object["metadata"]["generation"] = json!(1);
            object["metadata"]["resourceVersion"] = json!("1001");
            object["status"] = json!({"observedGeneration": 1, "replicas": 1});
            cluster.deployments.insert(name.to_string(), object.clone());
            let template_labels = object["spec"]["template"]["metadata"]["labels"].clone();
            let namespace = ns.to_string();
            let name = name.to_string();
            let has_pod = cluster.pod_owners.values().any(|owner| *owner == name);
            if !has_pod {
                create_pod(&mut cluster, &shared.1, &namespace, &name, template_labels);
            }
            axum::Json(object).into_response()
        }
        ("GET", ["apis", "apps", "v1", "namespaces", _, "deployments", name]) => {
            match cluster.deployments.get(*name) {
                Some(d) => axum::Json(d.clone()).into_response(),
                None => status(404, "NotFound", format!("deployments.apps \"{name}\" not found")),
            }
        }
        ("GET", ["apis", "apps", "v1", "namespaces", _, "deployments"]) => {
            let items = cluster.deployments.values().filter(|d| matches(selector, d)).cloned().collect();
            list("Deployment", "apps/v1", items)
        }
        ("DELETE", ["apis", "apps", "v1", "namespaces", _, "deployments", name]) => {
            match cluster.deployments.remove(*name) {
                Some(d) => {
                    // The garbage collector takes the ReplicaSet's pods with it.
                    let owned: Vec<String> = cluster
                        .pod_owners
                        .iter()
                        .filter(|(_, owner)| owner.as_str() == *name)
                        .map(|(pod, _)| pod.clone())
                        .collect();
                    for pod in owned {
                        cluster.pods.remove(&pod);
                        cluster.pod_owners.remove(&pod);
                    }
                    axum::Json(d).into_response()
                }
                None => status(404, "NotFound", format!("deployments.apps \"{name}\" not found")),
            }
        }
        ("PATCH", ["api", "v1", "namespaces", _, "services", name]) => {
            let mut object = body.clone();
            object["metadata"]["uid"] = json!(format!("uid-svc-{name}"));
            object["spec"]["clusterIP"] = json!("10.96.0.42");
            cluster.services.insert(name.to_string(), object.clone());
            axum::Json(object).into_response()
        }
        ("GET", ["api", "v1", "namespaces", _, "services"]) => {
            let items = cluster.services.values().filter(|s| matches(selector, s)).cloned().collect();
            list("Service", "v1", items)
        }
        ("DELETE", ["api", "v1", "namespaces", _, "services", name]) => {
            match cluster.services.remove(*name) {
                Some(s) => axum::Json(s).into_response(),
                None => status(404, "NotFound", format!("services \"{name}\" not found")),
            }
        }
        ("GET", ["api", "v1", "namespaces", _, "pods"]) => {
            let items = cluster.pods.values().filter(|p| matches(selector, p)).cloned().collect();
            list("Pod", "v1", items)
        }
        ("GET", ["api", "v1", "namespaces", _, "pods", name]) => match cluster.pods.get(*name) {
            Some(p) => axum::Json(p.clone()).into_response(),
            None => status(404, "NotFound", format!("pods \"{name}\" not found")),
        },
        ("DELETE", ["api", "v1", "namespaces", ns, "pods", name]) => {
            match cluster.pods.remove(*name) {
                Some(p) => {
                    // The ReplicaSet replaces a deleted pod while its Deployment exists.
                    let owner = cluster.pod_owners.remove(*name).unwrap_or_default();
                    if let Some(d) = cluster.deployments.get(&owner) {
                        let labels = d["spec"]["template"]["metadata"]["labels"].clone();
                        let ns = ns.to_string();
                        create_pod(&mut cluster, &shared.1, &ns, &owner, labels);
                    }
                    axum::Json(p).into_response()
                }
                None => status(404, "NotFound", format!("pods \"{name}\" not found")),
            }
        }
        ("GET", ["api", "v1", "namespaces", _, "pods", name, "log"]) => {
            let Some(&offset) = cluster.log_offsets.get(*name) else {
                return status(404, "NotFound", format!("pods \"{name}\" not found"));
            };
            let follow = query.get("follow").is_some_and(|f| f == "true");
            drop(cluster);
            log_body(Arc::clone(&shared), name.to_string(), offset, follow)
        }
        ("GET", ["api", "v1", "namespaces", _, "events"]) => {
            let wanted = query
                .get("fieldSelector")
                .and_then(|f| f.strip_prefix("involvedObject.name="))
                .map(str::to_owned);
            let items = cluster
                .events
                .iter()
                .filter(|e| wanted.as_deref().is_none_or(|w| e["involvedObject"]["name"] == json!(w)))
                .cloned()
                .collect();
            list("Event", "v1", items)
        }
        _ => status(404, "NotFound", format!("the fake has no {method} {path}")),
    }
}

/// A new pod of Deployment `owner`, in the state the cluster's fate says, with the events a
/// real kubelet or scheduler would record for that state.
fn create_pod(cluster: &mut Cluster, feed: &LogFeed, ns: &str, owner: &str, labels: Value) {
    cluster.pods_created += 1;
    let n = cluster.pods_created;
    let name = format!("{owner}-7d9f8-{n:05}");
    let image = "computelocator/target:0.1.0";
    let (status, events) = match cluster.fate.unwrap_or(PodFate::Ready) {
        PodFate::Ready => (
            json!({
                "phase": "Running", "podIP": "10.244.0.17", "hostIP": "172.18.0.2",
                "conditions": [
                    {"type": "PodScheduled", "status": "True"},
                    {"type": "Initialized", "status": "True"},
                    {"type": "ContainersReady", "status": "True"},
                    {"type": "Ready", "status": "True"},
                ],
                "containerStatuses": [{
                    "name": "target", "image": image, "imageID": "", "ready": true,
                    "restartCount": 0, "started": true,
                    "state": {"running": {"startedAt": "2025-06-01T10:00:00Z"}},
                }],
            }),
            vec![],
        ),
        PodFate::ImagePullBackOff => (
            json!({
                "phase": "Pending", "podIP": "10.244.0.18",
                "conditions": [
                    {"type": "PodScheduled", "status": "True"},
                    {"type": "Ready", "status": "False", "reason": "ContainersNotReady",
                     "message": "containers with unready status: [target]"},
                ],
                "containerStatuses": [{
                    "name": "target", "image": image, "imageID": "", "ready": false,
                    "restartCount": 0,
                    "state": {"waiting": {"reason": "ImagePullBackOff",
                        "message": format!("Back-off pulling image \"{image}\"")}},
                }],
            }),
            vec![
                ("Normal", "Scheduled", format!("Successfully assigned {ns}/{name} to kind-control-plane")),
                ("Warning", "Failed", format!("Failed to pull image \"{image}\": rpc error: code = NotFound desc = failed to pull and unpack image \"docker.io/{image}\": not found")),
                ("Warning", "Failed", "Error: ErrImagePull".to_owned()),
                ("Normal", "BackOff", format!("Back-off pulling image \"{image}\"")),
            ],
        ),
        PodFate::Unschedulable => (
            json!({
                "phase": "Pending",
                "conditions": [{"type": "PodScheduled", "status": "False", "reason": "Unschedulable",
                    "message": "0/1 nodes are available: 1 Insufficient memory. preemption: 0/1 nodes are available: 1 No preemption victims found for incoming pod."}],
            }),
            vec![(
                "Warning",
                "FailedScheduling",
                "0/1 nodes are available: 1 Insufficient memory. preemption: 0/1 nodes are available: 1 No preemption victims found for incoming pod.".to_owned(),
            )],
        ),
    };
    for (i, (type_, reason, message)) in events.into_iter().enumerate() {
        cluster.events.push(json!({
            "apiVersion": "v1", "kind": "Event",
            "metadata": {"name": format!("{name}.{i}"), "namespace": ns},
            "involvedObject": {"kind": "Pod", "name": name, "namespace": ns},
            "type": type_, "reason": reason, "message": message, "count": 1,
            "lastTimestamp": format!("2025-06-01T10:00:{:02}Z", i),
        }));
    }
    cluster.log_offsets.insert(name.clone(), feed.len());
    cluster.pod_owners.insert(name.clone(), owner.to_owned());
    cluster.pods.insert(
        name.clone(),
        json!({
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "namespace": ns, "uid": format!("uid-pod-{n}"),
                         "labels": labels,
                         "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet",
                             "name": format!("{owner}-7d9f8"), "uid": format!("uid-rs-{owner}"),
                             "controller": true, "blockOwnerDeletion": true}]},
            "spec": {"containers": [{"name": "target", "image": image}]},
            "status": status,
        }),
    );
}

/// The pod's log from its start: the target's start-up lines (everything before its first
/// request record, as a fresh container would print them), then the lines written since the
/// pod was created; with `follow`, more as they come until the pod goes.
fn log_body(shared: Shared, pod: String, offset: usize, follow: bool) -> Response {
    let stream = futures::stream::unfold(0usize, move |mut next| {
        let shared = Arc::clone(&shared);
        let pod = pod.clone();
        async move {
            loop {
                let feed = &shared.1;
                let waiting = feed.more.notified();
                {
                    let lines = feed.lines.lock().unwrap();
                    let start_up = lines
                        .iter()
                        .position(|l| l.contains("\"prev_request_history\""))
                        .unwrap_or(lines.len());
                    if next >= start_up {
                        next = next.max(offset.max(start_up));
                    }
                    if let Some(line) = lines.get(next) {
                        let chunk = Bytes::from(format!("{line}\n"));
                        return Some((Ok::<_, std::io::Error>(chunk), next + 1));
                    }
                }
                let alive = shared.0.lock().unwrap().pods.contains_key(&pod);
                if !follow || !alive {
                    return None;
                }
                let _ = tokio::time::timeout(Duration::from_millis(100), waiting).await;
            }
        }
    });
    Response::builder()
        .header("content-type", "text/plain")
        .body(Body::from_stream(stream))
        .unwrap()
}

/// The container behind every fake pod: a real `cl-target` on loopback, whose stdout is the
/// pods' log and whose ports the backend reaches through its relay ([`RealTarget::route`]).
pub struct RealTarget {
    child: Child,
    pub api: SocketAddr,
    pub metrics: SocketAddr,
}

impl RealTarget {
    pub fn start(feed: Arc<LogFeed>) -> Self {
        let mut child = Command::new(testkit::cl_target_binary())
            .args(["--listen", "127.0.0.1:0", "--metrics-listen", "127.0.0.1:0"])
            .env("CL_TARGET_THREADS", "1")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start cl-target");
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let value: Value = serde_json::from_str(&line).unwrap_or_default();
                if value["type"] == "listening" {
                    let _ = tx.send(value);
                }
                feed.push(line);
            }
        });
        let listening = rx
            .recv_timeout(Duration::from_secs(60))
            .expect("listening line");
        let addr = |key: &str| listening[key].as_str().unwrap().parse().unwrap();
        Self {
            api: addr("api"),
            metrics: addr("metrics"),
            child,
        }
    }

    /// Container ports 8000 and 9000 of every pod lead to this process.
    pub fn route(&self) -> Route {
        Route::Custom(Arc::new(DirectAddress {
            ports: BTreeMap::from([(8000, self.api), (9000, self.metrics)]),
        }))
    }
}

impl Drop for RealTarget {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
