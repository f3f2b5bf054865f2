//! The `/history` encoders. JSON and NDJSON serialise [`HistoryRecord`]s as they are; CSV and
//! Parquet flatten them into one table ([`flatten`]) so both carry the same columns:
//! `states.<metric>` becomes `<metric>.start|end|mean|max|count` (the dataset's own column
//! names), `input` a JSON string, `usage.<field>` the field's name.

use std::collections::BTreeSet;
use std::sync::Arc;

use arrow_array::{
    ArrayRef, BooleanArray, Float64Array, Int64Array, RecordBatch, StringArray, UInt64Array,
};
use arrow_schema::{DataType, Field, Schema};
use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::properties::WriterProperties;

use crate::error::{ApiError, Result};
use crate::record::{HistoryRecord, Page};

/// Records serialised per NDJSON chunk: big enough to amortise the write, small enough to keep
/// a stream's memory flat.
pub const NDJSON_CHUNK_RECORDS: usize = 256;

/// One column of the flattened table.
#[derive(Debug, Clone, PartialEq)]
pub enum Column {
    Text(Vec<Option<String>>),
    Int(Vec<Option<i64>>),
    UInt(Vec<Option<u64>>),
    Float(Vec<Option<f64>>),
    Bool(Vec<Option<bool>>),
}

/// The JSON body: `{"records": [...], "next_cursor": "..." | null}`.
pub fn json(page: &Page<HistoryRecord>) -> Result<Vec<u8>> {
    serde_json::to_vec(page).map_err(|e| ApiError::Internal(e.to_string()))
}

/// NDJSON lines of `records`, one chunk of lines per call of the returned iterator's `next`.
pub fn ndjson_chunks(records: Vec<HistoryRecord>) -> impl Iterator<Item = Vec<u8>> + Send {
    let mut records = records.into_iter().peekable();
    let mut capacity = NDJSON_CHUNK_RECORDS * 512;
    std::iter::from_fn(move || {
        records.peek()?;
        // Sized for the previous chunk, so a chunk is written without regrowing (records of a
        // run with 30 metrics are ~3.7 KB; regrowing a 1 MB buffer copies it each time).
        let mut chunk = Vec::with_capacity(capacity);
        for record in records.by_ref().take(NDJSON_CHUNK_RECORDS) {
            // A record is plain data (strings, numbers, maps): serialising it cannot fail.
            if serde_json::to_writer(&mut chunk, &record).is_ok() {
                chunk.push(b'\n');
            }
        }
        capacity = capacity.max(chunk.len());
        Some(chunk)
    })
}

/// The records as one table, columns in a fixed order then metrics sorted by name.
pub fn flatten(records: &[HistoryRecord]) -> Vec<(String, Column)> {
    let text = |f: &dyn Fn(&HistoryRecord) -> Option<String>| {
        Column::Text(records.iter().map(f).collect())
    };
    let int =
        |f: &dyn Fn(&HistoryRecord) -> Option<i64>| Column::Int(records.iter().map(f).collect());
    let uint =
        |f: &dyn Fn(&HistoryRecord) -> Option<u64>| Column::UInt(records.iter().map(f).collect());
    let mut columns: Vec<(String, Column)> = vec![
        ("run_id".into(), text(&|r| Some(r.run_id.clone()))),
        ("experiment".into(), text(&|r| Some(r.experiment.clone()))),
        ("seq".into(), uint(&|r| Some(r.seq))),
        ("pod".into(), text(&|r| Some(r.pod.clone()))),
        ("ip".into(), text(&|r| r.ip.clone())),
        ("size".into(), text(&|r| Some(r.size.clone()))),
        ("function".into(), text(&|r| Some(r.function.clone()))),
        ("input".into(), text(&|r| Some(r.input.to_string()))),
        (
            "cpu_millicores".into(),
            uint(&|r| r.cpu_millicores.map(u64::from)),
        ),
        ("memory_bytes".into(), uint(&|r| r.memory_bytes)),
        (
            "warmup".into(),
            Column::Bool(records.iter().map(|r| Some(r.warmup)).collect()),
        ),
        ("status".into(), uint(&|r| r.status.map(u64::from))),
        ("outcome".into(), text(&|r| Some(r.outcome.clone()))),
        ("error".into(), text(&|r| r.error.clone())),
        ("start_ns".into(), int(&|r| Some(r.start_ns))),
        ("end_ns".into(), int(&|r| Some(r.end_ns))),
        (
            "exec_duration_ns".into(),
            int(&|r| Some(r.exec_duration_ns)),
        ),
        ("queued_ns".into(), int(&|r| r.queued_ns)),
    ];
    for field in workloads::Usage::COLUMNS {
        columns.push((
            field.to_owned(),
            uint(&|r| r.usage.get(field).copied().flatten()),
        ));
    }
    let metrics: BTreeSet<&str> = records
        .iter()
        .flat_map(|r| r.states.keys().map(String::as_str))
        .collect();
    for metric in metrics {
        let state = |r: &HistoryRecord| r.states.get(metric).cloned();
        let float = |pick: fn(&crate::record::State) -> Option<f64>| {
            Column::Float(
                records
                    .iter()
                    .map(|r| state(r).and_then(|s| pick(&s)))
                    .collect(),
            )
        };
        columns.push((format!("{metric}.start"), float(|s| s.start)));
        columns.push((format!("{metric}.end"), float(|s| s.end)));
        columns.push((format!("{metric}.mean"), float(|s| s.mean)));
        columns.push((format!("{metric}.max"), float(|s| s.max)));
        columns.push((
            format!("{metric}.count"),
            uint(&|r| state(r).map(|s| u64::from(s.count))),
        ));
    }
    columns
}

/// RFC 4180 CSV with a header row; null is an empty cell.
pub fn csv(records: &[HistoryRecord]) -> Vec<u8> {
    let columns = flatten(records);
    let mut out = String::with_capacity(records.len() * 1024);
    let header: Vec<String> = columns.iter().map(|(name, _)| csv_cell(name)).collect();
    out.push_str(&header.join(","));
    out.push_str("\r\n");
    for row in 0..records.len() {
        let cells: Vec<String> = columns
            .iter()
            .map(|(_, column)| match column {
                Column::Text(v) => v[row].as_deref().map(csv_cell).unwrap_or_default(),
                Column::Int(v) => v[row].map(|x| x.to_string()).unwrap_or_default(),
                Column::UInt(v) => v[row].map(|x| x.to_string()).unwrap_or_default(),
                Column::Float(v) => v[row].map(|x| x.to_string()).unwrap_or_default(),
                Column::Bool(v) => v[row].map(|x| x.to_string()).unwrap_or_default(),
            })
            .collect();
        out.push_str(&cells.join(","));
        out.push_str("\r\n");
    }
    out.into_bytes()
}

fn csv_cell(text: &str) -> String {
    if text.contains([',', '"', '\r', '\n']) {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text.to_owned()
    }
}

/// A zstd Parquet file of the flattened table.
pub fn parquet(records: &[HistoryRecord]) -> Result<Vec<u8>> {
    let internal = |e: &dyn std::fmt::Display| ApiError::Internal(format!("parquet: {e}"));
    let columns = flatten(records);
    let mut fields = Vec::with_capacity(columns.len());
    let mut arrays: Vec<ArrayRef> = Vec::with_capacity(columns.len());
    for (name, column) in columns {
        let (data_type, array): (DataType, ArrayRef) = match column {
            Column::Text(v) => (DataType::Utf8, Arc::new(StringArray::from(v))),
            Column::Int(v) => (DataType::Int64, Arc::new(Int64Array::from(v))),
            Column::UInt(v) => (DataType::UInt64, Arc::new(UInt64Array::from(v))),
            Column::Float(v) => (DataType::Float64, Arc::new(Float64Array::from(v))),
            Column::Bool(v) => (DataType::Boolean, Arc::new(BooleanArray::from(v))),
        };
        fields.push(Field::new(name, data_type, true));
        arrays.push(array);
    }
    let batch =
        RecordBatch::try_new(Arc::new(Schema::new(fields)), arrays).map_err(|e| internal(&e))?;
    let properties = WriterProperties::builder()
        .set_compression(Compression::ZSTD(ZstdLevel::default()))
        .build();
    let mut out = Vec::new();
    let mut writer = ArrowWriter::try_new(&mut out, batch.schema(), Some(properties))
        .map_err(|e| internal(&e))?;
    writer.write(&batch).map_err(|e| internal(&e))?;
    writer.close().map_err(|e| internal(&e))?;
    Ok(out)
}
