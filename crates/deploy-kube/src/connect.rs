//! How this process reaches a target pod's ports: through the API server's port-forward, through
//! the Service's cluster DNS name, or through a fixed address. Port-forward and fixed addresses
//! share one relay: a local listener that opens a fresh upstream for every accepted connection.

use std::collections::BTreeMap;
use std::fmt;
use std::future::Future;
use std::net::SocketAddr;

use k8s_openapi::api::core::v1::Pod;
use kube::{Api, Client};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream};
use tokio::runtime::Handle;
use tokio::task::{AbortHandle, JoinSet};

use crate::KubeError;

/// The pod a route leads to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PodAddress {
    pub namespace: String,
    pub pod: String,
    pub service: String,
    /// Container port → the Service port that leads to it.
    pub service_ports: BTreeMap<u16, u16>,
}

/// A reachable `http://host:port`; a relay behind it stops when this is dropped.
pub struct Endpoint {
    url: String,
    relay: Option<AbortHandle>,
}

impl Endpoint {
    pub fn url(&self) -> &str {
        &self.url
    }
}

impl fmt::Debug for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Endpoint")
            .field("url", &self.url)
            .field("relayed", &self.relay.is_some())
            .finish()
    }
}

impl Drop for Endpoint {
    fn drop(&mut self) {
        if let Some(relay) = &self.relay {
            relay.abort();
        }
    }
}

/// A way to reach a container port of a pod from this process.
pub trait Connector: Send + Sync + fmt::Debug {
    /// Makes `port` of `target` reachable; the relay (if any) runs on `runtime` until the
    /// returned endpoint is dropped.
    fn open(
        &self,
        runtime: &Handle,
        client: &Client,
        target: &PodAddress,
        port: u16,
    ) -> Result<Endpoint, KubeError>;
}

/// Through the API server (`pods/portforward` over WebSocket): works from anywhere the API
/// server is reachable; each local connection is its own port-forward session.
#[derive(Clone, Copy, Debug, Default)]
pub struct PortForward;

impl Connector for PortForward {
    fn open(
        &self,
        runtime: &Handle,
        client: &Client,
        target: &PodAddress,
        port: u16,
    ) -> Result<Endpoint, KubeError> {
        let pods: Api<Pod> = Api::namespaced(client.clone(), &target.namespace);
        let pod = target.pod.clone();
        relay(runtime, move || {
            let (pods, pod) = (pods.clone(), pod.clone());
            async move {
                let mut forwarder = pods
                    .portforward(&pod, &[port])
                    .await
                    .map_err(std::io::Error::other)?;
                let stream = forwarder.take_stream(port).ok_or_else(|| {
                    std::io::Error::other(format!(
                        "port-forward to {pod} gave no stream for {port}"
                    ))
                })?;
                // The session ends when its stream closes; nothing waits for it.
                drop(forwarder);
                Ok(stream)
            }
        })
    }
}

/// Through the Service's cluster DNS name (`<service>.<namespace>.svc`): only from inside the
/// cluster, with no relay in between.
#[derive(Clone, Debug)]
pub struct ServiceDns {
    /// Appended to `<service>.<namespace>.svc` when set (e.g. `cluster.local`).
    pub cluster_domain: Option<String>,
}

impl Connector for ServiceDns {
    fn open(
        &self,
        _runtime: &Handle,
        _client: &Client,
        target: &PodAddress,
        port: u16,
    ) -> Result<Endpoint, KubeError> {
        let service_port =
            target
                .service_ports
                .get(&port)
                .ok_or_else(|| KubeError::InvalidObject {
                    what: format!("service {}", target.service),
                    reason: format!("no port leads to container port {port}"),
                })?;
        let domain = self
            .cluster_domain
            .as_deref()
            .map(|d| format!(".{d}"))
            .unwrap_or_default();
        Ok(Endpoint {
            url: format!(
                "http://{}.{}.svc{domain}:{service_port}",
                target.service, target.namespace
            ),
            relay: None,
        })
    }
}

/// A fixed address per container port, relayed through a local listener like a port-forward:
/// for a pod network routable from here, or a target that runs outside the cluster.
#[derive(Clone, Debug, Default)]
pub struct DirectAddress {
    pub ports: BTreeMap<u16, SocketAddr>,
}

impl Connector for DirectAddress {
    fn open(
        &self,
        runtime: &Handle,
        _client: &Client,
        target: &PodAddress,
        port: u16,
    ) -> Result<Endpoint, KubeError> {
        let address = *self
            .ports
            .get(&port)
            .ok_or_else(|| KubeError::InvalidObject {
                what: format!("route to pod {}", target.pod),
                reason: format!("no direct address for container port {port}"),
            })?;
        relay(runtime, move || TcpStream::connect(address))
    }
}

/// Listens on an ephemeral loopback port; for every accepted connection dials an upstream with
/// `dial` and copies bytes both ways until either side closes. Dropping the endpoint stops the
/// listener and every connection in flight.
pub fn relay<D, F, S>(runtime: &Handle, dial: D) -> Result<Endpoint, KubeError>
where
    D: Fn() -> F + Send + 'static,
    F: Future<Output = std::io::Result<S>> + Send + 'static,
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let listener = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.set_nonblocking(true).map(|()| l))
        .map_err(|e| KubeError::local("listen on a loopback port", e))?;
    let address = listener
        .local_addr()
        .map_err(|e| KubeError::local("read the relay's address", e))?;
    let listener = {
        let _inside = runtime.enter();
        TcpListener::from_std(listener)
            .map_err(|e| KubeError::local("register the relay listener", e))?
    };
    let task = runtime.spawn(async move {
        let mut connections = JoinSet::new();
        loop {
            tokio::select! {
                accepted = listener.accept() => match accepted {
                    Ok((mut downstream, peer)) => {
                        let upstream = dial();
                        connections.spawn(async move {
                            match upstream.await {
                                Ok(mut upstream) => {
                                    if let Err(e) = tokio::io::copy_bidirectional(&mut downstream, &mut upstream).await {
                                        tracing::debug!(%peer, "relay connection ended: {e}");
                                    }
                                }
                                Err(e) => tracing::warn!(%peer, "relay cannot reach the target: {e}"),
                            }
                        });
                    }
                    Err(e) => tracing::warn!("relay accept failed: {e}"),
                },
                Some(_) = connections.join_next(), if !connections.is_empty() => {}
            }
        }
    });
    Ok(Endpoint {
        url: format!("http://{address}"),
        relay: Some(task.abort_handle()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn address() -> PodAddress {
        PodAddress {
            namespace: "computelocator".into(),
            pod: "cl-small-1-abc".into(),
            service: "cl-small-1".into(),
            service_ports: BTreeMap::from([(8000, 80)]),
        }
    }

    fn client(runtime: &tokio::runtime::Runtime) -> Client {
        let _inside = runtime.enter();
        Client::try_from(kube::Config::new("http://127.0.0.1:1".parse().unwrap())).unwrap()
    }

    #[test]
    fn service_dns_names_the_service_port_that_leads_to_the_container() {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let client = client(&runtime);
        let dns = ServiceDns {
            cluster_domain: Some("cluster.local".into()),
        };
        let endpoint = dns
            .open(runtime.handle(), &client, &address(), 8000)
            .unwrap();
        assert_eq!(
            endpoint.url(),
            "http://cl-small-1.computelocator.svc.cluster.local:80"
        );
        assert!(
            dns.open(runtime.handle(), &client, &address(), 9000)
                .is_err()
        );
    }

    #[test]
    fn a_direct_address_without_that_port_is_an_error() {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let client = client(&runtime);
        let err = DirectAddress::default()
            .open(runtime.handle(), &client, &address(), 8000)
            .unwrap_err();
        assert!(err.to_string().contains("8000"), "{err}");
    }
}
