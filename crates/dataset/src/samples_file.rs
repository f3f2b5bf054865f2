//! `samples.parquet`: every raw sample, long format, in the order given.

use std::path::Path;

use arrow_array::builder::StringDictionaryBuilder;
use arrow_array::types::{Float64Type, Int32Type, Int64Type};
use arrow_array::{Float64Array, Int64Array};

use crate::parquet_io::{BATCH_ROWS, BatchBuilder, Columns, chunks, read_batches, write_parquet};
use crate::{Result, SampleRow};

/// Writes `samples.parquet` atomically. `size`, `target` and `metric` are dictionary-encoded.
pub fn write_samples(path: impl AsRef<Path>, samples: &[SampleRow]) -> Result<()> {
    let path = path.as_ref();
    let batches = chunks(samples, BATCH_ROWS)
        .map(|chunk| {
            let mut batch = BatchBuilder::default();
            batch.required(
                "ts_ns",
                Int64Array::from_iter_values(chunk.iter().map(|s| s.ts_ns)),
            );
            batch.required("size", dictionary(chunk.iter().map(|s| s.size.as_str())));
            batch.required(
                "target",
                dictionary(chunk.iter().map(|s| s.target.as_str())),
            );
            batch.required(
                "metric",
                dictionary(chunk.iter().map(|s| s.metric.as_str())),
            );
            batch.required(
                "value",
                Float64Array::from_iter_values(chunk.iter().map(|s| s.value)),
            );
            batch.finish(path)
        })
        .collect::<Result<Vec<_>>>()?;
    write_parquet(path, batches)
}

/// Reads `samples.parquet`, checking its schema version.
pub fn read_samples(path: impl AsRef<Path>) -> Result<Vec<SampleRow>> {
    let path = path.as_ref();
    let mut samples = Vec::new();
    for batch in read_batches(path)? {
        let columns = Columns::new(&batch, path);
        let ts_ns = columns.primitive::<Int64Type>("ts_ns")?;
        let size = columns.strings("size")?;
        let target = columns.strings("target")?;
        let metric = columns.strings("metric")?;
        let value = columns.primitive::<Float64Type>("value")?;
        samples.reserve(batch.num_rows());
        for row in 0..batch.num_rows() {
            samples.push(SampleRow {
                ts_ns: ts_ns.required(row)?,
                size: size.required(row)?.to_owned(),
                target: target.required(row)?.to_owned(),
                metric: metric.required(row)?.to_owned(),
                value: value.required(row)?,
            });
        }
    }
    Ok(samples)
}

fn dictionary<'a>(
    values: impl Iterator<Item = &'a str>,
) -> arrow_array::DictionaryArray<Int32Type> {
    let mut builder = StringDictionaryBuilder::<Int32Type>::new();
    for value in values {
        builder.append_value(value);
    }
    builder.finish()
}
