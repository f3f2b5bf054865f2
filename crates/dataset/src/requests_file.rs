//! `requests.parquet`: one row per request, flattened and typed, with the metric state around it.

use std::collections::BTreeMap;
use std::path::Path;

use arrow_array::types::{Float64Type, Int64Type, UInt16Type, UInt32Type, UInt64Type};
use arrow_array::{
    Array, BooleanArray, Float64Array, Int64Array, StringArray, UInt8Array, UInt16Array,
    UInt32Array, UInt64Array,
};
use workloads::{Function, Payload};

use crate::parquet_io::{
    BATCH_ROWS, BatchBuilder, Columns, PrimitiveColumn, StringColumn, chunks, read_batches,
    write_parquet,
};
use crate::{
    AlignedRequest, DatasetError, MetricWindow, Outcome, PayloadColumns, RequestRow, Result, Usage,
};

/// Suffixes of the per-metric columns, `<metric>.<suffix>`; `start` and `end` are the original's.
const WINDOW_SUFFIXES: [&str; 5] = ["start", "end", "mean", "max", "count"];

/// Writes `requests.parquet` atomically. The metric columns are the union of the requests'
/// `states` keys, sorted by name.
pub fn write_requests(path: impl AsRef<Path>, requests: &[AlignedRequest]) -> Result<()> {
    let path = path.as_ref();
    for aligned in requests {
        let row = &aligned.request;
        if row.function != row.payload.function() {
            return Err(DatasetError::InconsistentRow {
                seq: row.seq,
                problem: format!(
                    "function {} but a {} payload",
                    row.function,
                    row.payload.function()
                ),
            });
        }
    }
    let mut metrics: Vec<&str> = requests
        .iter()
        .flat_map(|r| r.states.keys().map(String::as_str))
        .collect();
    metrics.sort_unstable();
    metrics.dedup();
    let batches = chunks(requests, BATCH_ROWS)
        .map(|chunk| request_batch(path, chunk, &metrics))
        .collect::<Result<Vec<_>>>()?;
    write_parquet(path, batches)
}

fn request_batch(
    path: &Path,
    chunk: &[AlignedRequest],
    metrics: &[&str],
) -> Result<arrow_array::RecordBatch> {
    let rows = || chunk.iter().map(|a| &a.request);
    let payloads: Vec<PayloadColumns> = rows().map(|r| PayloadColumns::of(&r.payload)).collect();
    let mut b = BatchBuilder::default();

    b.required(
        "run_id",
        StringArray::from_iter_values(rows().map(|r| &r.run_id)),
    );
    b.required("seq", UInt64Array::from_iter_values(rows().map(|r| r.seq)));
    b.required(
        "size",
        StringArray::from_iter_values(rows().map(|r| &r.size)),
    );
    b.required(
        "target",
        StringArray::from_iter_values(rows().map(|r| &r.target)),
    );
    b.required(
        "cpu_millicores",
        UInt32Array::from_iter_values(rows().map(|r| r.cpu_millicores)),
    );
    b.required(
        "memory_bytes",
        UInt64Array::from_iter_values(rows().map(|r| r.memory_bytes)),
    );
    b.required(
        "function",
        StringArray::from_iter_values(rows().map(|r| r.function.name())),
    );
    b.required(
        "repetition",
        UInt32Array::from_iter_values(rows().map(|r| r.repetition)),
    );
    b.required(
        "warmup",
        BooleanArray::from(rows().map(|r| r.warmup).collect::<Vec<_>>()),
    );

    let payload =
        |f: fn(&PayloadColumns) -> Option<u64>| UInt64Array::from_iter(payloads.iter().map(f));
    let payload32 =
        |f: fn(&PayloadColumns) -> Option<u32>| UInt32Array::from_iter(payloads.iter().map(f));
    b.optional("input", payload(|p| p.input));
    b.optional("num_samples", payload(|p| p.num_samples));
    b.optional("epochs", payload32(|p| p.epochs));
    b.optional("batch_size", payload32(|p| p.batch_size));
    b.optional("num_layers", payload32(|p| p.num_layers));
    b.optional("units", payload32(|p| p.units));
    b.optional(
        "profile",
        UInt8Array::from_iter(payloads.iter().map(|p| p.profile)),
    );
    b.optional(
        "seconds",
        Float64Array::from_iter(payloads.iter().map(|p| p.seconds)),
    );
    b.optional("seed", payload(|p| p.seed));
    let payload_json = rows()
        .map(|r| to_json(&r.payload, path))
        .collect::<Result<Vec<_>>>()?;
    b.required("payload_json", StringArray::from_iter_values(payload_json));

    b.optional(
        "http_status",
        UInt16Array::from_iter(rows().map(|r| r.http_status)),
    );
    b.required(
        "outcome",
        StringArray::from_iter_values(rows().map(|r| r.outcome.as_str())),
    );
    b.optional(
        "error",
        StringArray::from_iter(rows().map(|r| r.error.as_deref())),
    );
    b.required(
        "start_ns",
        Int64Array::from_iter_values(rows().map(|r| r.start_ns)),
    );
    b.required(
        "end_ns",
        Int64Array::from_iter_values(rows().map(|r| r.end_ns)),
    );
    b.required(
        "duration_ns",
        Int64Array::from_iter_values(rows().map(|r| r.duration_ns)),
    );
    b.optional(
        "queued_ns",
        Int64Array::from_iter(rows().map(|r| r.queued_ns)),
    );
    b.required(
        "client_start_ns",
        Int64Array::from_iter_values(rows().map(|r| r.client_start_ns)),
    );
    b.required(
        "client_end_ns",
        Int64Array::from_iter_values(rows().map(|r| r.client_end_ns)),
    );

    let usages: Vec<[Option<u64>; 12]> = rows().map(|r| r.usage.to_array()).collect();
    for (i, name) in Usage::COLUMNS.iter().enumerate() {
        b.optional(name, UInt64Array::from_iter(usages.iter().map(|u| u[i])));
    }

    let response_json = rows()
        .map(|r| r.response.as_ref().map(|v| to_json(v, path)).transpose())
        .collect::<Result<Vec<_>>>()?;
    b.optional("response_json", StringArray::from_iter(response_json));
    let response = |key: &str| {
        rows()
            .map(|r| r.response.as_ref()?.get(key))
            .collect::<Vec<_>>()
    };
    b.optional(
        "accuracy",
        Float64Array::from_iter(response("accuracy").into_iter().map(|v| v?.as_f64())),
    );
    b.optional(
        "estimated_pi",
        Float64Array::from_iter(response("estimated_pi").into_iter().map(|v| v?.as_f64())),
    );
    b.optional(
        "output_size",
        UInt64Array::from_iter(response("output_size").into_iter().map(|v| v?.as_u64())),
    );

    for metric in metrics {
        let windows: Vec<Option<&MetricWindow>> =
            chunk.iter().map(|a| a.states.get(*metric)).collect();
        let field = |f: fn(&MetricWindow) -> Option<f64>| {
            Float64Array::from_iter(windows.iter().map(|w| w.and_then(f)))
        };
        b.optional(&format!("{metric}.start"), field(|w| w.start));
        b.optional(&format!("{metric}.end"), field(|w| w.end));
        b.optional(&format!("{metric}.mean"), field(|w| w.mean));
        b.optional(&format!("{metric}.max"), field(|w| w.max));
        b.required(
            &format!("{metric}.count"),
            UInt32Array::from_iter_values(windows.iter().map(|w| w.map_or(0, |w| w.count))),
        );
    }
    b.finish(path)
}

/// A value as the JSON text of a `*_json` column.
fn to_json<T: serde::Serialize>(value: &T, path: &Path) -> Result<String> {
    serde_json::to_string(value).map_err(|source| DatasetError::Json {
        path: path.to_path_buf(),
        source,
    })
}

/// Reads `requests.parquet` back into aligned requests, checking its schema version. The
/// payload and answer come from `payload_json` / `response_json` (the typed payload and result
/// columns are derived from them).
pub fn read_requests(path: impl AsRef<Path>) -> Result<Vec<AlignedRequest>> {
    let path = path.as_ref();
    let mut requests = Vec::new();
    for batch in read_batches(path)? {
        let columns = Columns::new(&batch, path);
        let reader = RowReader::new(&columns, &batch)?;
        requests.reserve(batch.num_rows());
        for row in 0..batch.num_rows() {
            requests.push(reader.read(row)?);
        }
    }
    Ok(requests)
}

/// One batch's columns, looked up once.
struct RowReader<'b> {
    path: &'b Path,
    run_id: StringColumn<'b>,
    seq: PrimitiveColumn<'b, UInt64Type>,
    size: StringColumn<'b>,
    target: StringColumn<'b>,
    cpu_millicores: PrimitiveColumn<'b, UInt32Type>,
    memory_bytes: PrimitiveColumn<'b, UInt64Type>,
    function: StringColumn<'b>,
    repetition: PrimitiveColumn<'b, UInt32Type>,
    warmup: &'b BooleanArray,
    payload_json: StringColumn<'b>,
    http_status: PrimitiveColumn<'b, UInt16Type>,
    outcome: StringColumn<'b>,
    error: StringColumn<'b>,
    start_ns: PrimitiveColumn<'b, Int64Type>,
    end_ns: PrimitiveColumn<'b, Int64Type>,
    duration_ns: PrimitiveColumn<'b, Int64Type>,
    client_start_ns: PrimitiveColumn<'b, Int64Type>,
    client_end_ns: PrimitiveColumn<'b, Int64Type>,
    queued_ns: PrimitiveColumn<'b, Int64Type>,
    usage: Vec<PrimitiveColumn<'b, UInt64Type>>,
    response_json: StringColumn<'b>,
    metrics: Vec<MetricColumns<'b>>,
}

struct MetricColumns<'b> {
    name: String,
    values: [PrimitiveColumn<'b, Float64Type>; 4],
    count: PrimitiveColumn<'b, UInt32Type>,
}

impl<'b> RowReader<'b> {
    fn new(c: &Columns<'b>, batch: &'b arrow_array::RecordBatch) -> Result<Self> {
        let time = |name: &str| c.primitive::<Int64Type>(name);
        let usage = Usage::COLUMNS
            .iter()
            .map(|name| c.primitive::<UInt64Type>(name))
            .collect::<Result<Vec<_>>>()?;
        // Every dotted column belongs to a metric (no fixed column name has a dot).
        let mut metric_names: BTreeMap<&str, ()> = BTreeMap::new();
        for field in batch.schema_ref().fields() {
            if let Some((metric, suffix)) = field.name().rsplit_once('.')
                && WINDOW_SUFFIXES.contains(&suffix)
            {
                metric_names.insert(metric, ());
            }
        }
        let metrics = metric_names
            .keys()
            .map(|metric| {
                let value =
                    |suffix: &str| c.primitive::<Float64Type>(&format!("{metric}.{suffix}"));
                Ok(MetricColumns {
                    name: (*metric).to_owned(),
                    values: [
                        value("start")?,
                        value("end")?,
                        value("mean")?,
                        value("max")?,
                    ],
                    count: c.primitive::<UInt32Type>(&format!("{metric}.count"))?,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Self {
            path: c.path(),
            run_id: c.strings("run_id")?,
            seq: c.primitive("seq")?,
            size: c.strings("size")?,
            target: c.strings("target")?,
            cpu_millicores: c.primitive("cpu_millicores")?,
            memory_bytes: c.primitive("memory_bytes")?,
            function: c.strings("function")?,
            repetition: c.primitive("repetition")?,
            warmup: c.get::<BooleanArray>("warmup")?,
            payload_json: c.strings("payload_json")?,
            http_status: c.primitive("http_status")?,
            outcome: c.strings("outcome")?,
            error: c.strings("error")?,
            start_ns: time("start_ns")?,
            end_ns: time("end_ns")?,
            duration_ns: time("duration_ns")?,
            client_start_ns: time("client_start_ns")?,
            client_end_ns: time("client_end_ns")?,
            queued_ns: time("queued_ns")?,
            usage,
            response_json: c.strings("response_json")?,
            metrics,
        })
    }

    fn read(&self, row: usize) -> Result<AlignedRequest> {
        let function_name = self.function.required(row)?;
        let function = Function::ALL
            .into_iter()
            .find(|f| f.name() == function_name)
            .ok_or_else(|| {
                self.function
                    .invalid(row, format!("unknown function {function_name:?}"))
            })?;
        let outcome_name = self.outcome.required(row)?;
        let outcome = Outcome::from_name(outcome_name).ok_or_else(|| {
            self.outcome
                .invalid(row, format!("unknown outcome {outcome_name:?}"))
        })?;
        let payload: Payload = serde_json::from_str(self.payload_json.required(row)?)
            .map_err(|err| self.payload_json.invalid(row, err))?;
        let response = self
            .response_json
            .optional(row)
            .map(serde_json::from_str)
            .transpose()
            .map_err(|err| self.response_json.invalid(row, err))?;
        let mut usage = [None; 12];
        for (value, column) in usage.iter_mut().zip(&self.usage) {
            *value = column.optional(row);
        }
        if !self.warmup.is_valid(row) {
            return Err(DatasetError::column(
                self.path,
                "warmup",
                format!("null in row {row}"),
            ));
        }
        let request = RequestRow {
            run_id: self.run_id.required(row)?.to_owned(),
            seq: self.seq.required(row)?,
            size: self.size.required(row)?.to_owned(),
            target: self.target.required(row)?.to_owned(),
            cpu_millicores: self.cpu_millicores.required(row)?,
            memory_bytes: self.memory_bytes.required(row)?,
            function,
            repetition: self.repetition.required(row)?,
            warmup: self.warmup.value(row),
            payload,
            http_status: self.http_status.optional(row),
            outcome,
            error: self.error.optional(row).map(str::to_owned),
            start_ns: self.start_ns.required(row)?,
            end_ns: self.end_ns.required(row)?,
            duration_ns: self.duration_ns.required(row)?,
            queued_ns: self.queued_ns.optional(row),
            client_start_ns: self.client_start_ns.required(row)?,
            client_end_ns: self.client_end_ns.required(row)?,
            usage: Usage::from_array(usage),
            response,
        };
        let states = self
            .metrics
            .iter()
            .map(|m| {
                let [start, end, mean, max] = m.values.each_ref().map(|c| c.optional(row));
                let window = MetricWindow {
                    start,
                    end,
                    mean,
                    max,
                    count: m.count.required(row)?,
                };
                Ok((m.name.clone(), window))
            })
            .collect::<Result<_>>()?;
        Ok(AlignedRequest { request, states })
    }
}
