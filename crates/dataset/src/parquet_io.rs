//! What both Parquet files share: atomic writing with the schema version in the file's
//! key-value metadata, the version check on open, and typed column access for the readers.

use std::collections::HashMap;
use std::fs::File;
use std::path::Path;
use std::sync::Arc;

use arrow_array::types::Int32Type;
use arrow_array::{
    Array, ArrayRef, ArrowPrimitiveType, DictionaryArray, Int32Array, PrimitiveArray, RecordBatch,
    StringArray,
};
use arrow_schema::{Field, Schema};
use parquet::arrow::ArrowWriter;
use parquet::arrow::arrow_reader::{ParquetRecordBatchReader, ParquetRecordBatchReaderBuilder};
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::metadata::KeyValue;
use parquet::file::properties::WriterProperties;

use crate::atomic::write_atomically;
use crate::{DatasetError, Result, SCHEMA_VERSION, SCHEMA_VERSION_KEY};

/// Rows per record batch (and so the granularity of row groups' contents) when writing.
pub(crate) const BATCH_ROWS: usize = 64 * 1024;

/// Slices of at most `rows` items; one (empty) slice for empty input, so an empty file still
/// gets a schema.
pub(crate) fn chunks<T>(items: &[T], rows: usize) -> impl Iterator<Item = &[T]> {
    let empty: &[T] = &[];
    let whole = items.chunks(rows.max(1));
    let placeholder = items.is_empty().then_some(empty);
    whole.chain(placeholder)
}

/// The columns of one record batch, built column by column.
#[derive(Default)]
pub(crate) struct BatchBuilder {
    fields: Vec<Field>,
    arrays: Vec<ArrayRef>,
}

impl BatchBuilder {
    /// A column that never holds nulls.
    pub(crate) fn required(&mut self, name: &str, array: impl Array + 'static) {
        self.push(name, Arc::new(array), false);
    }

    /// A column that may hold nulls.
    pub(crate) fn optional(&mut self, name: &str, array: impl Array + 'static) {
        self.push(name, Arc::new(array), true);
    }

    fn push(&mut self, name: &str, array: ArrayRef, nullable: bool) {
        self.fields
            .push(Field::new(name, array.data_type().clone(), nullable));
        self.arrays.push(array);
    }

    pub(crate) fn finish(self, path: &Path) -> Result<RecordBatch> {
        let metadata = HashMap::from([(SCHEMA_VERSION_KEY.to_owned(), SCHEMA_VERSION.to_string())]);
        let schema = Schema::new(self.fields).with_metadata(metadata);
        RecordBatch::try_new(Arc::new(schema), self.arrays).map_err(DatasetError::arrow(path))
    }
}

/// Writes record batches (all of one schema) to `path` atomically, zstd-compressed, with the
/// schema version in the file's key-value metadata. At least one batch is needed for the schema.
pub(crate) fn write_parquet(path: &Path, batches: Vec<RecordBatch>) -> Result<()> {
    let Some(first) = batches.first() else {
        return Err(DatasetError::column(
            path,
            "*",
            "no record batch to take the schema from",
        ));
    };
    let schema = first.schema();
    let level = ZstdLevel::try_new(3).map_err(DatasetError::parquet(path))?;
    let properties = WriterProperties::builder()
        .set_compression(Compression::ZSTD(level))
        .set_key_value_metadata(Some(vec![KeyValue::new(
            SCHEMA_VERSION_KEY.to_owned(),
            SCHEMA_VERSION.to_string(),
        )]))
        .build();
    write_atomically(path, |file| {
        let mut writer = ArrowWriter::try_new(file, schema, Some(properties))
            .map_err(DatasetError::parquet(path))?;
        for batch in &batches {
            writer.write(batch).map_err(DatasetError::parquet(path))?;
        }
        writer.close().map_err(DatasetError::parquet(path))?;
        Ok(())
    })
}

/// Opens a Parquet file of this dataset, refusing it unless its key-value metadata carries
/// [`SCHEMA_VERSION`].
pub(crate) fn open_checked(path: &Path) -> Result<ParquetRecordBatchReader> {
    let file = File::open(path).map_err(DatasetError::io(path))?;
    let builder =
        ParquetRecordBatchReaderBuilder::try_new(file).map_err(DatasetError::parquet(path))?;
    let found = builder
        .metadata()
        .file_metadata()
        .key_value_metadata()
        .and_then(|pairs| pairs.iter().find(|kv| kv.key == SCHEMA_VERSION_KEY))
        .map(|kv| kv.value.clone().unwrap_or_default());
    if found.as_deref() != Some(SCHEMA_VERSION.to_string().as_str()) {
        return Err(DatasetError::SchemaVersion {
            path: path.to_path_buf(),
            found,
            expected: SCHEMA_VERSION,
        });
    }
    builder
        .with_batch_size(BATCH_ROWS)
        .build()
        .map_err(DatasetError::parquet(path))
}

/// Reads every batch of a checked file.
pub(crate) fn read_batches(path: &Path) -> Result<Vec<RecordBatch>> {
    open_checked(path)?
        .map(|batch| batch.map_err(DatasetError::arrow(path)))
        .collect()
}

/// Typed access to one batch's columns, with errors naming the file and column.
pub(crate) struct Columns<'b> {
    batch: &'b RecordBatch,
    path: &'b Path,
}

impl<'b> Columns<'b> {
    pub(crate) fn new(batch: &'b RecordBatch, path: &'b Path) -> Self {
        Self { batch, path }
    }

    pub(crate) fn path(&self) -> &'b Path {
        self.path
    }

    /// The column `name`, which must be of Arrow array type `A`.
    pub(crate) fn get<A: Array + 'static>(&self, name: &str) -> Result<&'b A> {
        let column = self
            .batch
            .column_by_name(name)
            .ok_or_else(|| DatasetError::column(self.path, name, "missing"))?;
        column.as_any().downcast_ref::<A>().ok_or_else(|| {
            DatasetError::column(
                self.path,
                name,
                format!("unexpected type {}", column.data_type()),
            )
        })
    }

    pub(crate) fn primitive<T: ArrowPrimitiveType>(
        &self,
        name: &str,
    ) -> Result<PrimitiveColumn<'b, T>> {
        Ok(PrimitiveColumn {
            array: self.get::<PrimitiveArray<T>>(name)?,
            name: name.to_owned(),
            path: self.path,
        })
    }

    /// A string column, plain or dictionary-encoded.
    pub(crate) fn strings(&self, name: &str) -> Result<StringColumn<'b>> {
        let array = match self.get::<StringArray>(name) {
            Ok(plain) => Strings::Plain(plain),
            Err(_) => {
                let dict = self.get::<DictionaryArray<Int32Type>>(name)?;
                let values = dict
                    .values()
                    .as_any()
                    .downcast_ref::<StringArray>()
                    .ok_or_else(|| {
                        DatasetError::column(self.path, name, "dictionary values are not strings")
                    })?;
                Strings::Dictionary(dict.keys(), values)
            }
        };
        Ok(StringColumn {
            array,
            name: name.to_owned(),
            path: self.path,
        })
    }
}

pub(crate) struct PrimitiveColumn<'b, T: ArrowPrimitiveType> {
    array: &'b PrimitiveArray<T>,
    name: String,
    path: &'b Path,
}

impl<T: ArrowPrimitiveType> PrimitiveColumn<'_, T> {
    pub(crate) fn optional(&self, row: usize) -> Option<T::Native> {
        self.array.is_valid(row).then(|| self.array.value(row))
    }

    pub(crate) fn required(&self, row: usize) -> Result<T::Native> {
        self.optional(row).ok_or_else(|| {
            DatasetError::column(self.path, &self.name, format!("null in row {row}"))
        })
    }
}

enum Strings<'b> {
    Plain(&'b StringArray),
    Dictionary(&'b Int32Array, &'b StringArray),
}

pub(crate) struct StringColumn<'b> {
    array: Strings<'b>,
    name: String,
    path: &'b Path,
}

impl<'b> StringColumn<'b> {
    pub(crate) fn optional(&self, row: usize) -> Option<&'b str> {
        match self.array {
            Strings::Plain(array) => array.is_valid(row).then(|| array.value(row)),
            Strings::Dictionary(keys, values) => {
                let key = usize::try_from(keys.is_valid(row).then(|| keys.value(row))?).ok()?;
                (key < values.len() && values.is_valid(key)).then(|| values.value(key))
            }
        }
    }

    pub(crate) fn required(&self, row: usize) -> Result<&'b str> {
        self.optional(row).ok_or_else(|| {
            DatasetError::column(self.path, &self.name, format!("null in row {row}"))
        })
    }

    pub(crate) fn invalid(&self, row: usize, problem: impl std::fmt::Display) -> DatasetError {
        DatasetError::column(self.path, &self.name, format!("row {row}: {problem}"))
    }
}
