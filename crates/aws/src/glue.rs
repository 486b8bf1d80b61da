//! Registering `kms_events` partitions in the Glue Data Catalog, so Athena sees new lake
//! files without `MSCK REPAIR TABLE`.
//!
//! Partitions are created with `BatchCreatePartition` (100 per call). An existing partition is
//! success, so registration is idempotent: a replayed batch, two concurrent Lambdas or a rerun
//! of a backfill change nothing. Each partition's StorageDescriptor is the table's (columns,
//! formats, SerDe) with the partition folder as its location.
//!
//! Partition values are the folder names of the lake layout, so the `principal` value is the
//! percent-encoded principal (as `queries/README.md` states: queries filter on the stored
//! `principal_arn` column and prune on `key_id` and `dt`); `key_id` and `dt` never need
//! encoding. The location is the partition folder.

pub use aws_sdk_glue::Client;
use std::collections::{BTreeSet, HashSet};
use std::sync::Mutex;

use aws_sdk_glue::types::{PartitionInput, StorageDescriptor};
use lake::Partition;

use crate::config::classify;

/// Most partitions `BatchCreatePartition` takes in one call.
pub const BATCH_CREATE_MAX: usize = 100;
/// Partitions remembered as registered by one process before the memo is cleared.
const MEMO_MAX: usize = 200_000;

/// A Glue failure, with whether a retry can help.
#[derive(Debug, thiserror::Error)]
#[error("glue {op} {database}.{table}: {message}")]
pub struct GlueError {
    pub op: &'static str,
    pub database: String,
    pub table: String,
    pub message: String,
    pub retryable: bool,
}

/// What a registration did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RegisterReport {
    /// Partitions created by this call.
    pub created: u64,
    /// Partitions that already existed (in Glue, or registered earlier by this process).
    pub existing: u64,
}

/// The partitions of lake files (keys relative to the lake root); other keys are ignored.
pub fn partitions_of<'a>(keys: impl IntoIterator<Item = &'a String>) -> BTreeSet<Partition> {
    keys.into_iter().filter_map(|k| Partition::from_path(k)).collect()
}

/// The `kms_events` table of one Glue database.
#[derive(Debug)]
pub struct GlueTable {
    client: aws_sdk_glue::Client,
    database: String,
    table: String,
    /// The table's storage descriptor, fetched once.
    descriptor: tokio::sync::OnceCell<StorageDescriptor>,
    /// Partitions this process has seen registered (saves calls in a warm Lambda).
    registered: Mutex<HashSet<Partition>>,
}

impl GlueTable {
    pub fn new(client: aws_sdk_glue::Client, database: impl Into<String>, table: impl Into<String>) -> Self {
        GlueTable {
            client,
            database: database.into(),
            table: table.into(),
            descriptor: tokio::sync::OnceCell::new(),
            registered: Mutex::new(HashSet::new()),
        }
    }

    pub fn database(&self) -> &str {
        &self.database
    }

    pub fn table(&self) -> &str {
        &self.table
    }

    fn error(&self, op: &'static str, message: String, retryable: bool) -> GlueError {
        GlueError { op, database: self.database.clone(), table: self.table.clone(), message, retryable }
    }

    async fn descriptor(&self) -> Result<&StorageDescriptor, GlueError> {
        self.descriptor
            .get_or_try_init(|| async {
                let out =
                    self.client.get_table().database_name(&self.database).name(&self.table).send().await.map_err(
                        |e| {
                            let c = classify(&e);
                            self.error("GetTable", c.message, c.kind == lake::StoreErrorKind::Transient)
                        },
                    )?;
                let sd = out.table().and_then(|t| t.storage_descriptor()).cloned();
                match sd {
                    Some(sd) if sd.location().is_some() => Ok(sd),
                    _ => Err(self.error("GetTable", "the table has no StorageDescriptor location".into(), false)),
                }
            })
            .await
    }

    /// The partition's input: the table's descriptor with the partition folder as location.
    fn partition_input(&self, table_sd: &StorageDescriptor, p: &Partition) -> PartitionInput {
        let base = table_sd.location().unwrap_or_default().trim_end_matches('/');
        let mut sd = table_sd.clone();
        sd.location = Some(format!("{base}/key_id={}/principal={}/dt={}/", p.key_id, p.principal, p.dt));
        PartitionInput::builder().values(&p.key_id).values(&p.principal).values(&p.dt).storage_descriptor(sd).build()
    }

    /// Registers `partitions`; existing ones are success.
    pub async fn register(&self, partitions: &BTreeSet<Partition>) -> Result<RegisterReport, GlueError> {
        let mut report = RegisterReport::default();
        let todo: Vec<&Partition> = {
            let memo = self.registered.lock().expect("glue memo");
            partitions.iter().filter(|p| !memo.contains(*p)).collect()
        };
        report.existing += (partitions.len() - todo.len()) as u64;
        if todo.is_empty() {
            return Ok(report);
        }
        let sd = self.descriptor().await?;
        for chunk in todo.chunks(BATCH_CREATE_MAX) {
            let inputs: Vec<PartitionInput> = chunk.iter().map(|p| self.partition_input(sd, p)).collect();
            let out = self
                .client
                .batch_create_partition()
                .database_name(&self.database)
                .table_name(&self.table)
                .set_partition_input_list(Some(inputs))
                .send()
                .await
                .map_err(|e| {
                    let c = classify(&e);
                    self.error("BatchCreatePartition", c.message, c.kind == lake::StoreErrorKind::Transient)
                })?;
            let mut failed: Vec<String> = Vec::new();
            let mut retryable = true;
            let mut existing = 0u64;
            for err in out.errors() {
                let code = err.error_detail().and_then(|d| d.error_code()).unwrap_or("Unknown");
                if code == "AlreadyExistsException" {
                    existing += 1;
                    continue;
                }
                let msg = err.error_detail().and_then(|d| d.error_message()).unwrap_or("");
                retryable &=
                    !matches!(code, "InvalidInputException" | "EntityNotFoundException" | "AccessDeniedException");
                failed.push(format!("{:?}: {code}: {msg}", err.partition_values()));
            }
            if !failed.is_empty() {
                return Err(self.error("BatchCreatePartition", failed.join("; "), retryable));
            }
            report.existing += existing;
            report.created += chunk.len() as u64 - existing;
            let mut memo = self.registered.lock().expect("glue memo");
            if memo.len() + chunk.len() > MEMO_MAX {
                memo.clear();
            }
            memo.extend(chunk.iter().map(|p| (*p).clone()));
        }
        tracing::info!(
            database = %self.database,
            table = %self.table,
            created = report.created,
            existing = report.existing,
            "glue partitions registered"
        );
        Ok(report)
    }
}

/// Hive input format of Parquet tables.
pub const PARQUET_INPUT_FORMAT: &str = "org.apache.hadoop.hive.ql.io.parquet.MapredParquetInputFormat";
/// Hive output format of Parquet tables.
pub const PARQUET_OUTPUT_FORMAT: &str = "org.apache.hadoop.hive.ql.io.parquet.MapredParquetOutputFormat";
/// SerDe of Parquet tables.
pub const PARQUET_SERDE: &str = "org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe";
/// Name of the partition index on (`key_id`, `principal`, `dt`).
pub const PARTITION_INDEX_NAME: &str = "key_principal_dt";

/// The Glue / Athena type of an Arrow column type of `kms_events`.
pub fn glue_type(data_type: &arrow::datatypes::DataType) -> String {
    use arrow::datatypes::DataType;
    match data_type {
        DataType::Utf8 | DataType::LargeUtf8 => "string".into(),
        DataType::Boolean => "boolean".into(),
        DataType::Int64 => "bigint".into(),
        DataType::Int32 => "int".into(),
        DataType::Timestamp(_, _) => "timestamp".into(),
        DataType::List(f) | DataType::LargeList(f) => format!("array<{}>", glue_type(f.data_type())),
        DataType::Map(entries, _) => match entries.data_type() {
            DataType::Struct(fields) if fields.len() == 2 => {
                format!("map<{},{}>", glue_type(fields[0].data_type()), glue_type(fields[1].data_type()))
            }
            other => format!("unsupported<{other}>"),
        },
        other => format!("unsupported<{other}>"),
    }
}

/// The columns of `kms_events` as (name, Glue type), in file order (DESIGN.md §2); the same
/// list `infra/template.yaml` declares (a test compares them).
pub fn kms_events_columns() -> Vec<(String, String)> {
    lake::schema::kms_events_schema().fields().iter().map(|f| (f.name().clone(), glue_type(f.data_type()))).collect()
}

impl GlueTable {
    /// Creates the database (if missing) and the `kms_events` table over `location`
    /// (`s3://bucket/prefix/kms_events/`), with the partition index: the table the SAM template
    /// creates, for tests and for setups without the template. An existing table is left as is.
    pub async fn create_kms_events_table(&self, location: &str) -> Result<(), GlueError> {
        use aws_sdk_glue::types::{Column, DatabaseInput, PartitionIndex, SerDeInfo, TableInput};
        match self
            .client
            .create_database()
            .database_input(
                DatabaseInput::builder()
                    .name(&self.database)
                    .build()
                    .map_err(|e| self.error("CreateDatabase", e.to_string(), false))?,
            )
            .send()
            .await
            .map_err(|e| ("CreateDatabase", classify(&e)))
        {
            Ok(_) => {}
            Err((_, c)) if c.code.as_deref() == Some("AlreadyExistsException") => {}
            Err((op, c)) => return Err(self.error(op, c.message, c.kind == lake::StoreErrorKind::Transient)),
        }
        let column = |(name, ty): (String, String)| Column::builder().name(name).r#type(ty).build();
        let columns = kms_events_columns()
            .into_iter()
            .map(column)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| self.error("CreateTable", e.to_string(), false))?;
        let partition_keys = lake::schema::PARTITION_COLUMNS
            .iter()
            .map(|k| column(((*k).to_owned(), "string".to_owned())))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| self.error("CreateTable", e.to_string(), false))?;
        let sd = StorageDescriptor::builder()
            .set_columns(Some(columns))
            .location(location)
            .input_format(PARQUET_INPUT_FORMAT)
            .output_format(PARQUET_OUTPUT_FORMAT)
            .serde_info(
                SerDeInfo::builder()
                    .serialization_library(PARQUET_SERDE)
                    .parameters("serialization.format", "1")
                    .build(),
            )
            .build();
        let table = TableInput::builder()
            .name(&self.table)
            .table_type("EXTERNAL_TABLE")
            .parameters("classification", "parquet")
            .parameters("EXTERNAL", "TRUE")
            .parameters("parquet.compression", "ZSTD")
            .set_partition_keys(Some(partition_keys))
            .storage_descriptor(sd)
            .build()
            .map_err(|e| self.error("CreateTable", e.to_string(), false))?;
        let index = PartitionIndex::builder()
            .index_name(PARTITION_INDEX_NAME)
            .set_keys(Some(lake::schema::PARTITION_COLUMNS.iter().map(|k| (*k).to_owned()).collect()))
            .build()
            .map_err(|e| self.error("CreateTable", e.to_string(), false))?;
        match self
            .client
            .create_table()
            .database_name(&self.database)
            .table_input(table)
            .partition_indexes(index)
            .send()
            .await
            .map_err(|e| ("CreateTable", classify(&e)))
        {
            Ok(_) => Ok(()),
            Err((_, c)) if c.code.as_deref() == Some("AlreadyExistsException") => Ok(()),
            Err((op, c)) => Err(self.error(op, c.message, c.kind == lake::StoreErrorKind::Transient)),
        }
    }

    /// Every registered partition as (values, location), sorted by values.
    pub async fn list_partitions(&self) -> Result<Vec<(Vec<String>, String)>, GlueError> {
        let mut out = Vec::new();
        let mut pages =
            self.client.get_partitions().database_name(&self.database).table_name(&self.table).into_paginator().send();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| {
                let c = classify(&e);
                self.error("GetPartitions", c.message, c.kind == lake::StoreErrorKind::Transient)
            })?;
            for p in page.partitions() {
                let location =
                    p.storage_descriptor().and_then(|sd| sd.location()).map(str::to_owned).unwrap_or_default();
                out.push((p.values().to_vec(), location));
            }
        }
        out.sort();
        Ok(out)
    }
}
