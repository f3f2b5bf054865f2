//! Finding a spec by name or path: the working tree first, then the copies built into the binary.

use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::error::SpecError;
use crate::spec::Spec;

/// The specs shipped inside the binary, as they were in `experiments/` at build time.
const EMBEDDED: [(&str, &str); 3] = [
    ("smoke", include_str!("../../../experiments/smoke.toml")),
    (
        "sized-sweep",
        include_str!("../../../experiments/sized-sweep.toml"),
    ),
    (
        "original",
        include_str!("../../../experiments/original.toml"),
    ),
];

const EMBEDDED_NAMES: [&str; EMBEDDED.len()] = {
    let mut names = [""; EMBEDDED.len()];
    let mut i = 0;
    while i < EMBEDDED.len() {
        names[i] = EMBEDDED[i].0;
        i += 1;
    }
    names
};

/// Names of the specs built into the binary.
pub fn embedded_names() -> &'static [&'static str] {
    &EMBEDDED_NAMES
}

/// Where a spec's text came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    File(PathBuf),
    /// Built into the binary under this name.
    Embedded(&'static str),
}

/// A checked spec together with the exact text it was read from, for the run's manifest.
#[derive(Debug, Clone)]
pub struct LoadedSpec {
    pub spec: Spec,
    /// The spec file's text, verbatim.
    pub source: String,
    pub origin: Origin,
    /// Lowercase hex SHA-256 of `source`.
    pub sha256: String,
}

impl LoadedSpec {
    fn new(source: String, origin: Origin, file_label: &str) -> Result<Self, SpecError> {
        let spec = Spec::from_toml(&source, file_label)?;
        let sha256 = Sha256::digest(source.as_bytes())
            .iter()
            .map(|byte| format!("{byte:02x}"))
            .collect();
        Ok(Self {
            spec,
            source,
            origin,
            sha256,
        })
    }
}

/// Loads and checks a spec. An argument that is an existing path, contains '/' or ends with
/// `.toml` is read as given; otherwise `workdir/experiments/<name>.toml` if it exists, else the
/// built-in spec of that name.
pub fn load(name_or_path: &str, workdir: &Path) -> Result<LoadedSpec, SpecError> {
    let as_path = Path::new(name_or_path);
    if as_path.exists() || name_or_path.contains('/') || name_or_path.ends_with(".toml") {
        return read(as_path, name_or_path);
    }
    let relative = format!("experiments/{name_or_path}.toml");
    let in_tree = workdir.join(&relative);
    if in_tree.exists() {
        let label = if workdir == Path::new(".") || workdir.as_os_str().is_empty() {
            relative
        } else {
            in_tree.display().to_string()
        };
        return read(&in_tree, &label);
    }
    match EMBEDDED.iter().find(|(name, _)| *name == name_or_path) {
        Some((name, text)) => {
            LoadedSpec::new((*text).to_owned(), Origin::Embedded(name), &relative)
        }
        None => Err(SpecError::NotFound {
            name: name_or_path.to_owned(),
            looked_for: in_tree,
        }),
    }
}

fn read(path: &Path, label: &str) -> Result<LoadedSpec, SpecError> {
    let source = std::fs::read_to_string(path).map_err(|source| SpecError::Read {
        path: path.to_owned(),
        source,
    })?;
    LoadedSpec::new(source, Origin::File(path.to_owned()), label)
}
