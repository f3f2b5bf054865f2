use std::path::PathBuf;

/// Everything that can go wrong writing or reading a run's files. Each error names the file.
#[derive(Debug, thiserror::Error)]
pub enum DatasetError {
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    /// A complete (newline-terminated) journal line that does not parse: real corruption, unlike
    /// a torn last line, which readers drop.
    #[error("{}:{line}: corrupt journal line: {source}", path.display())]
    JournalLine {
        path: PathBuf,
        line: usize,
        source: serde_json::Error,
    },
    #[error("{}: {source}", path.display())]
    Json {
        path: PathBuf,
        source: serde_json::Error,
    },
    #[error("{}: {source}", path.display())]
    Parquet {
        path: PathBuf,
        source: parquet::errors::ParquetError,
    },
    #[error("{}: {source}", path.display())]
    Arrow {
        path: PathBuf,
        source: arrow_schema::ArrowError,
    },
    /// The file was written under another dataset schema version (or carries none).
    #[error(
        "{}: dataset schema version {} is not the supported version {expected}",
        path.display(),
        found.as_deref().unwrap_or("(none)")
    )]
    SchemaVersion {
        path: PathBuf,
        found: Option<String>,
        expected: u32,
    },
    /// A column is missing, has an unexpected type, or holds a value its type cannot mean.
    #[error("{}: column `{column}`: {problem}", path.display())]
    Column {
        path: PathBuf,
        column: String,
        problem: String,
    },
    /// A record contradicts itself (e.g. its `function` is not its payload's).
    #[error("request seq {seq}: {problem}")]
    InconsistentRow { seq: u64, problem: String },
}

impl DatasetError {
    pub(crate) fn io(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> Self {
        let path = path.into();
        move |source| Self::Io { path, source }
    }

    pub(crate) fn parquet(
        path: impl Into<PathBuf>,
    ) -> impl FnOnce(parquet::errors::ParquetError) -> Self {
        let path = path.into();
        move |source| Self::Parquet { path, source }
    }

    pub(crate) fn arrow(path: impl Into<PathBuf>) -> impl FnOnce(arrow_schema::ArrowError) -> Self {
        let path = path.into();
        move |source| Self::Arrow { path, source }
    }

    pub(crate) fn column(
        path: impl Into<PathBuf>,
        column: impl Into<String>,
        problem: impl Into<String>,
    ) -> Self {
        Self::Column {
            path: path.into(),
            column: column.into(),
            problem: problem.into(),
        }
    }
}
