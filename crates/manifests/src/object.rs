//! One Kubernetes object of any kind this crate builds.

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::{
    ConfigMap, Namespace, PersistentVolumeClaim, PodSpec, Service, ServiceAccount,
};
use k8s_openapi::api::networking::v1::NetworkPolicy;
use k8s_openapi::api::rbac::v1::{Role, RoleBinding};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use k8s_openapi::{Metadata, Resource};

use crate::error::ManifestError;

macro_rules! objects {
    ($($variant:ident($ty:ty)),* $(,)?) => {
        /// A typed object, ready to be rendered or server-side-applied.
        #[derive(Debug, Clone, PartialEq)]
        pub enum Object {
            $($variant($ty),)*
        }

        impl Object {
            /// The object's `kind`, e.g. `Deployment`.
            pub fn kind(&self) -> &'static str {
                match self {
                    $(Object::$variant(_) => <$ty as Resource>::KIND,)*
                }
            }

            pub fn metadata(&self) -> &ObjectMeta {
                match self {
                    $(Object::$variant(object) => object.metadata(),)*
                }
            }

            /// The object as JSON, as the API server receives it.
            pub fn to_json(&self) -> Result<serde_json::Value, ManifestError> {
                let value = match self {
                    $(Object::$variant(object) => serde_json::to_value(object),)*
                };
                value.map_err(|source| ManifestError::Serialize {
                    kind: self.kind(),
                    name: self.name().to_owned(),
                    source,
                })
            }
        }

        $(
            impl From<$ty> for Object {
                fn from(object: $ty) -> Self {
                    Object::$variant(object)
                }
            }
        )*
    };
}

objects! {
    Namespace(Namespace),
    ServiceAccount(ServiceAccount),
    Role(Role),
    RoleBinding(RoleBinding),
    ConfigMap(ConfigMap),
    PersistentVolumeClaim(PersistentVolumeClaim),
    Deployment(Deployment),
    Service(Service),
    Job(Job),
    NetworkPolicy(NetworkPolicy),
}

impl Object {
    pub fn name(&self) -> &str {
        self.metadata().name.as_deref().unwrap_or_default()
    }

    /// The pod template's spec of a workload object (Deployment, Job).
    pub fn pod_spec(&self) -> Option<&PodSpec> {
        match self {
            Object::Deployment(deployment) => deployment.spec.as_ref()?.template.spec.as_ref(),
            Object::Job(job) => job.spec.as_ref()?.template.spec.as_ref(),
            _ => None,
        }
    }

    /// The pod template's spec, for changing it (tests mutate it to check the lint).
    pub fn pod_spec_mut(&mut self) -> Option<&mut PodSpec> {
        match self {
            Object::Deployment(deployment) => deployment.spec.as_mut()?.template.spec.as_mut(),
            Object::Job(job) => job.spec.as_mut()?.template.spec.as_mut(),
            _ => None,
        }
    }
}
