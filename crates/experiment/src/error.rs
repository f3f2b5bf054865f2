use std::fmt;
use std::path::PathBuf;

/// A 1-based line and column in a spec file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Position {
    pub line: usize,
    pub column: usize,
}

impl fmt::Display for Position {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.line, self.column)
    }
}

/// Why a spec could not be loaded or is not a valid experiment.
#[derive(Debug, thiserror::Error)]
pub enum SpecError {
    /// A spec file exists (or was named as a path) but could not be read.
    #[error("cannot read {}: {source}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// Neither a file nor an embedded spec of that name.
    #[error(
        "no experiment `{name}`: {} does not exist and no spec of that name is built in (built in: {})",
        looked_for.display(),
        crate::embedded_names().join(", ")
    )]
    NotFound { name: String, looked_for: PathBuf },
    /// The text is not a valid spec: bad TOML, a wrong type, or a value the experiment or the
    /// workload rejects. Displays as `file:line:column: field.path: message`.
    #[error("{}", render_invalid(file, position, path, message))]
    Invalid {
        /// The spec file as users know it, e.g. `experiments/smoke.toml`.
        file: String,
        position: Option<Position>,
        /// The field at fault, e.g. `functions[1].payload.profile`; empty for the whole spec.
        path: String,
        message: String,
    },
}

fn render_invalid(file: &str, position: &Option<Position>, path: &str, message: &str) -> String {
    let mut out = file.to_owned();
    if let Some(position) = position {
        out.push_str(&format!(":{position}"));
    }
    out.push_str(": ");
    if !path.is_empty() {
        out.push_str(path);
        out.push_str(": ");
    }
    out.push_str(message);
    out
}
