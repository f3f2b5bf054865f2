use crate::error::ManifestError;
use crate::names::{check_dns1035_label, check_label_value};

/// What the rendered objects depend on besides the spec.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RenderOptions {
    /// The one namespace everything lives in.
    pub namespace: String,
    /// Tag of the `computelocator/*` images: the crate version, as the Nix flake tags them.
    pub image_tag: String,
    /// Set by the backend for a run's own targets: a `run-id` label and a name suffix, so runs
    /// in one namespace never touch each other's objects. `None` for the committed base.
    pub run_id: Option<String>,
}

impl Default for RenderOptions {
    fn default() -> Self {
        Self {
            namespace: "computelocator".to_owned(),
            image_tag: env!("CARGO_PKG_VERSION").to_owned(),
            run_id: None,
        }
    }
}

impl RenderOptions {
    /// Checks every field before anything is built, naming the one at fault.
    pub(crate) fn check(&self) -> Result<(), ManifestError> {
        // Namespaces are DNS-1123 labels; requiring a leading letter too costs nothing and
        // lets the namespace prefix Service names in DNS without surprises.
        check_dns1035_label(&self.namespace).map_err(|reason| ManifestError::InvalidNamespace {
            namespace: self.namespace.clone(),
            reason,
        })?;
        let tag_ok = !self.image_tag.is_empty()
            && self.image_tag.len() <= 128
            && self
                .image_tag
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
            && !self.image_tag.starts_with(['.', '-']);
        if !tag_ok {
            return Err(ManifestError::InvalidImageTag {
                tag: self.image_tag.clone(),
                reason: "not an image tag ([A-Za-z0-9_][A-Za-z0-9_.-]{0,127})".to_owned(),
            });
        }
        if self.image_tag == "latest" {
            return Err(ManifestError::InvalidImageTag {
                tag: self.image_tag.clone(),
                reason: "`latest` is never deployed: it hides which build ran".to_owned(),
            });
        }
        if let Some(run_id) = &self.run_id {
            check_label_value(run_id).map_err(|reason| ManifestError::InvalidRunId {
                run_id: run_id.clone(),
                reason,
            })?;
        }
        Ok(())
    }

    /// `<image>:<image_tag>`.
    pub(crate) fn image(&self, image: &str) -> String {
        format!("{image}:{}", self.image_tag)
    }
}
