//! Reading CloudTrail log files: `{"Records":[…]}`, gzip or plain, from memory or a stream.
//!
//! A file is read once, either inflated into one presized buffer and parsed in place (fast, for
//! files whose decompressed size is under [`ReadLimits::whole_buffer_max`]) or streamed record
//! by record (bounded memory, for anything larger or whose gzip trailer lies). Either way each
//! record is handed to the caller as raw JSON with its index, so one bad record is reported
//! alone while its neighbours are kept.

use std::borrow::Borrow;
use std::cell::Cell;
use std::io::{self, BufReader, Read};
use std::sync::OnceLock;

use flate2::read::MultiGzDecoder;
use memchr::memmem;
use serde::de::{DeserializeSeed, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::Deserializer as _;
use serde_json::value::RawValue;

use crate::event::{is_kms, KmsEvent, RecordError};
use crate::record::Record;

/// Bounds that keep memory flat whatever the input.
#[derive(Debug, Clone, Copy)]
pub struct ReadLimits {
    /// Largest decompressed size inflated into one buffer; larger files stream.
    pub whole_buffer_max: usize,
    /// Largest record accepted. CloudTrail caps an event at 256 KiB, so anything larger is not a
    /// record CloudTrail wrote: it is quarantined rather than trusted.
    pub max_record_bytes: usize,
}

impl Default for ReadLimits {
    fn default() -> Self {
        Self { whole_buffer_max: 64 << 20, max_record_bytes: 256 << 10 }
    }
}

/// Why a whole file could not be read. The caller adds the object's name.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FileError {
    /// Zero bytes: nothing CloudTrail delivers.
    #[error("empty file")]
    Empty,
    /// The gzip stream is corrupt or ends early.
    #[error("gzip stream unreadable after {decompressed_bytes} decompressed bytes: {source}")]
    Gzip { decompressed_bytes: u64, source: io::Error },
    /// Reading the underlying object failed (not the data's fault; may be retried).
    #[error("read failed: {0}")]
    Io(#[source] io::Error),
    /// The JSON is invalid or truncated; position is in the decompressed text.
    #[error("invalid JSON at line {line} column {column} (in record index {record_index}): {message}")]
    Json { line: usize, column: usize, record_index: u64, message: String },
    /// Valid JSON, but not a CloudTrail log file (no `Records` array at the top).
    #[error("not a CloudTrail log file: {0}")]
    NotCloudTrail(&'static str),
}

impl FileError {
    /// Whether retrying the read could help (an I/O failure rather than bad data).
    pub fn is_retryable(&self) -> bool {
        matches!(self, FileError::Io(_))
    }
}

/// Why one record was set aside.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RecordIssue {
    #[error("record of {bytes} bytes exceeds the {limit}-byte CloudTrail event limit")]
    TooLarge { bytes: usize, limit: usize },
    #[error("record is not a valid CloudTrail record: {0}")]
    Invalid(String),
    #[error(transparent)]
    Unusable(#[from] RecordError),
}

/// What one raw record turned out to be.
#[derive(Debug)]
pub enum RecordOutcome<'a> {
    /// Not a KMS record: not kept.
    NotKms,
    Kms(Box<KmsEvent<'a>>),
    Bad(RecordIssue),
}

/// Parses and normalises one raw record. Records that cannot mention KMS are recognised by a
/// substring scan and never parsed: `kms.amazonaws.com` must appear literally unless the JSON
/// spells it with `\u` escapes, which forces a full parse.
pub fn parse_record<'a>(raw: &'a RawValue, limits: &ReadLimits) -> RecordOutcome<'a> {
    static KMS: OnceLock<memmem::Finder<'static>> = OnceLock::new();
    static ESCAPE: OnceLock<memmem::Finder<'static>> = OnceLock::new();
    let text = raw.get();
    let bytes = text.as_bytes();
    let kms = KMS.get_or_init(|| memmem::Finder::new(crate::event::KMS_EVENT_SOURCE));
    let escape = ESCAPE.get_or_init(|| memmem::Finder::new("\\u"));
    if kms.find(bytes).is_none() && escape.find(bytes).is_none() {
        return RecordOutcome::NotKms;
    }
    if !text.starts_with('{') {
        return RecordOutcome::Bad(RecordIssue::Invalid("record is not a JSON object".into()));
    }
    let record: Record<'a> = match serde_json::from_str(text) {
        Ok(r) => r,
        Err(e) => return RecordOutcome::Bad(RecordIssue::Invalid(e.to_string())),
    };
    if !is_kms(&record) {
        return RecordOutcome::NotKms;
    }
    if text.len() > limits.max_record_bytes {
        return RecordOutcome::Bad(RecordIssue::TooLarge { bytes: text.len(), limit: limits.max_record_bytes });
    }
    match KmsEvent::from_record(record) {
        Ok(event) => RecordOutcome::Kms(Box::new(event)),
        Err(e) => RecordOutcome::Bad(e.into()),
    }
}

/// One record as found in the file.
#[derive(Debug, Clone, Copy)]
pub struct RawRecord<'r> {
    /// Position in the `Records` array.
    pub index: u64,
    pub raw: &'r RawValue,
}

const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];

/// Reads a log file held in memory (gzip or plain JSON), calling `visit` for every record.
/// Returns the number of records.
pub fn read_log_bytes<F>(data: &[u8], limits: &ReadLimits, visit: F) -> Result<u64, FileError>
where
    F: FnMut(RawRecord<'_>),
{
    if data.is_empty() {
        return Err(FileError::Empty);
    }
    if !data.starts_with(&GZIP_MAGIC) {
        return visit_slice(data, visit);
    }
    // ISIZE (the last four bytes) is the decompressed size mod 2^32 of the last member: a hint
    // for presizing, never trusted as a bound — the inflate below is capped regardless.
    let isize = data.len().checked_sub(4).map(|at| u32::from_le_bytes(data[at..].try_into().unwrap()) as usize);
    match isize {
        Some(size) if size <= limits.whole_buffer_max => {
            let mut json = Vec::with_capacity(size);
            let cap = limits.whole_buffer_max as u64 + 1;
            match MultiGzDecoder::new(data).take(cap).read_to_end(&mut json) {
                Ok(n) if (n as u64) < cap => visit_slice(&json, visit),
                Ok(_) => {
                    drop(json);
                    visit_stream(data, limits, visit)
                }
                Err(e) => Err(FileError::Gzip { decompressed_bytes: json.len() as u64, source: e }),
            }
        }
        _ => visit_stream(data, limits, visit),
    }
}

/// Reads a log file from a stream (gzip detected from its first bytes), in bounded memory.
pub fn read_log_stream<R, F>(reader: R, limits: &ReadLimits, visit: F) -> Result<u64, FileError>
where
    R: Read,
    F: FnMut(RawRecord<'_>),
{
    visit_stream(reader, limits, visit)
}

fn visit_stream<R: Read, F: FnMut(RawRecord<'_>)>(reader: R, _limits: &ReadLimits, visit: F) -> Result<u64, FileError> {
    let mut source = Watched::new(reader, "the source failed");
    // The gzip magic may arrive split over reads (a network body): read until two bytes or EOF.
    let mut magic = Vec::with_capacity(GZIP_MAGIC.len());
    if (&mut source).take(GZIP_MAGIC.len() as u64).read_to_end(&mut magic).is_err() {
        return Err(FileError::Io(source.failed.take().expect("source error kept")));
    }
    if magic.is_empty() {
        return Err(FileError::Empty);
    }
    let is_gzip = magic == GZIP_MAGIC;
    let reader = BufReader::with_capacity(256 << 10, io::Cursor::new(magic).chain(source));
    let (result, source, inflate_failed, produced) = if is_gzip {
        let counter = Watched::new(MultiGzDecoder::new(reader), "gzip stream failed");
        let mut counted = BufReader::with_capacity(256 << 10, counter);
        let result = visit_reader(&mut counted, visit);
        let counter = counted.into_inner();
        let source = counter.inner.into_inner().into_inner().into_inner().1;
        (result, source, counter.failed, counter.produced)
    } else {
        let mut reader = reader;
        let result = visit_reader(&mut reader, visit);
        (result, reader.into_inner().into_inner().1, None, 0)
    };
    // A failing source (a connection cut mid-body) is an I/O error a retry can fix, not bad
    // data, whatever the inflater or the parser made of it.
    match (source.failed, inflate_failed, result) {
        (Some(e), _, _) => Err(FileError::Io(e)),
        (None, Some(source), _) => Err(FileError::Gzip { decompressed_bytes: produced, source }),
        (None, None, r) => r,
    }
}

/// A reader that counts what it produced and keeps its first error, which the layers above (the
/// inflater, serde_json) would otherwise flatten into an opaque data error without the cause or
/// the offset. Used on the source (to tell a cut connection from bad data) and on the inflater
/// (to report how far decompression got).
struct Watched<R> {
    inner: R,
    produced: u64,
    failed: Option<io::Error>,
    /// What the error passed up says; the original is kept in `failed`.
    what: &'static str,
}

impl<R> Watched<R> {
    fn new(inner: R, what: &'static str) -> Self {
        Watched { inner, produced: 0, failed: None, what }
    }
}

impl<R: Read> Read for Watched<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self.inner.read(buf) {
            Ok(n) => {
                self.produced += n as u64;
                Ok(n)
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => Err(e),
            Err(e) => {
                let kind = e.kind();
                self.failed = Some(e);
                Err(io::Error::new(kind, self.what))
            }
        }
    }
}

fn visit_slice<F: FnMut(RawRecord<'_>)>(json: &[u8], mut visit: F) -> Result<u64, FileError> {
    let index = Cell::new(0u64);
    let mut de = serde_json::Deserializer::from_slice(json);
    let top = TopLevel::<&RawValue, _> { visit: &mut visit, index: &index, _raw: std::marker::PhantomData };
    finish(de.deserialize_any(top).and_then(|found| de.end().map(|()| found)), &index)
}

fn visit_reader<R: Read, F: FnMut(RawRecord<'_>)>(reader: R, mut visit: F) -> Result<u64, FileError> {
    let index = Cell::new(0u64);
    let mut de = serde_json::Deserializer::from_reader(reader);
    let top = TopLevel::<Box<RawValue>, _> { visit: &mut visit, index: &index, _raw: std::marker::PhantomData };
    finish(de.deserialize_any(top).and_then(|found| de.end().map(|()| found)), &index)
}

fn finish(result: Result<TopFound, serde_json::Error>, index: &Cell<u64>) -> Result<u64, FileError> {
    match result {
        Ok(TopFound::Records) => Ok(index.get()),
        Ok(TopFound::NoRecords) => Err(FileError::NotCloudTrail("no Records array in the top-level object")),
        Ok(TopFound::NotAnObject) => Err(FileError::NotCloudTrail("the top-level JSON value is not an object")),
        Ok(TopFound::RecordsNotArray) => Err(FileError::NotCloudTrail("Records is not an array")),
        Err(e) if e.is_io() => Err(FileError::Io(io::Error::other(e.to_string()))),
        Err(e) => Err(FileError::Json {
            line: e.line(),
            column: e.column(),
            record_index: index.get(),
            message: strip_position(&e.to_string()),
        }),
    }
}

/// serde_json appends " at line L column C"; the error reports the position in its own fields.
fn strip_position(message: &str) -> String {
    message.rsplit_once(" at line ").map_or(message, |(m, _)| m).to_owned()
}

enum TopFound {
    Records,
    NoRecords,
    NotAnObject,
    RecordsNotArray,
}

/// Visits the top-level object, streaming the `Records` array element by element. `E` is the
/// element type: `&RawValue` borrowing from a slice, or `Box<RawValue>` from a reader.
struct TopLevel<'v, E, F> {
    visit: &'v mut F,
    index: &'v Cell<u64>,
    _raw: std::marker::PhantomData<E>,
}

impl<'de, E, F> Visitor<'de> for TopLevel<'_, E, F>
where
    E: serde::Deserialize<'de> + Borrow<RawValue>,
    F: FnMut(RawRecord<'_>),
{
    type Value = TopFound;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a CloudTrail log file object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<TopFound, A::Error> {
        let mut found = TopFound::NoRecords;
        while let Some(key) = map.next_key::<std::borrow::Cow<'de, str>>()? {
            if key == "Records" && matches!(found, TopFound::NoRecords) {
                let seed =
                    RecordsSeed::<E, F> { visit: &mut *self.visit, index: self.index, _raw: std::marker::PhantomData };
                found = if map.next_value_seed(seed)? { TopFound::Records } else { TopFound::RecordsNotArray };
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok(found)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<TopFound, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(TopFound::NotAnObject)
    }
    fn visit_str<Er: serde::de::Error>(self, _: &str) -> Result<TopFound, Er> {
        Ok(TopFound::NotAnObject)
    }
    fn visit_bool<Er: serde::de::Error>(self, _: bool) -> Result<TopFound, Er> {
        Ok(TopFound::NotAnObject)
    }
    fn visit_i64<Er: serde::de::Error>(self, _: i64) -> Result<TopFound, Er> {
        Ok(TopFound::NotAnObject)
    }
    fn visit_u64<Er: serde::de::Error>(self, _: u64) -> Result<TopFound, Er> {
        Ok(TopFound::NotAnObject)
    }
    fn visit_f64<Er: serde::de::Error>(self, _: f64) -> Result<TopFound, Er> {
        Ok(TopFound::NotAnObject)
    }
    fn visit_unit<Er: serde::de::Error>(self) -> Result<TopFound, Er> {
        Ok(TopFound::NotAnObject)
    }
}

struct RecordsSeed<'v, E, F> {
    visit: &'v mut F,
    index: &'v Cell<u64>,
    _raw: std::marker::PhantomData<E>,
}

impl<'de, E, F> DeserializeSeed<'de> for RecordsSeed<'_, E, F>
where
    E: serde::Deserialize<'de> + Borrow<RawValue>,
    F: FnMut(RawRecord<'_>),
{
    /// `false` when `Records` is present but not an array.
    type Value = bool;

    fn deserialize<D: serde::Deserializer<'de>>(self, deserializer: D) -> Result<bool, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de, E, F> Visitor<'de> for RecordsSeed<'_, E, F>
where
    E: serde::Deserialize<'de> + Borrow<RawValue>,
    F: FnMut(RawRecord<'_>),
{
    type Value = bool;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("the Records array")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<bool, A::Error> {
        while let Some(element) = seq.next_element::<E>()? {
            let index = self.index.get();
            (self.visit)(RawRecord { index, raw: element.borrow() });
            self.index.set(index + 1);
        }
        Ok(true)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<bool, A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(false)
    }
    fn visit_unit<Er: serde::de::Error>(self) -> Result<bool, Er> {
        Ok(false)
    }
    fn visit_str<Er: serde::de::Error>(self, _: &str) -> Result<bool, Er> {
        Ok(false)
    }
    fn visit_bool<Er: serde::de::Error>(self, _: bool) -> Result<bool, Er> {
        Ok(false)
    }
    fn visit_i64<Er: serde::de::Error>(self, _: i64) -> Result<bool, Er> {
        Ok(false)
    }
    fn visit_u64<Er: serde::de::Error>(self, _: u64) -> Result<bool, Er> {
        Ok(false)
    }
    fn visit_f64<Er: serde::de::Error>(self, _: f64) -> Result<bool, Er> {
        Ok(false)
    }
}

/// What a file in a trail folder is, from its key alone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ObjectKind {
    /// A CloudTrail log file (`.json.gz` or `.json`).
    LogFile,
    /// A digest file: integrity data, not events (validated separately).
    Digest,
    /// A CloudTrail Insights file: aggregates, not KMS calls.
    Insight,
    /// Network-activity events: VPC endpoint traffic, not KMS API calls.
    NetworkActivity,
    /// A local metadata sidecar (`<object>.meta.json`).
    Sidecar,
    /// Anything else (not JSON).
    Other,
}

impl ObjectKind {
    /// Classifies an object key or path.
    pub fn of(key: &str) -> ObjectKind {
        let name = key.rsplit(['/', '\\']).next().unwrap_or(key);
        if name.ends_with(".meta.json") {
            ObjectKind::Sidecar
        } else if key.contains("CloudTrail-Digest") {
            ObjectKind::Digest
        } else if key.contains("CloudTrail-Insight") {
            ObjectKind::Insight
        } else if key.contains("CloudTrail-NetworkActivity") || key.contains("NetworkActivity") {
            ObjectKind::NetworkActivity
        } else if name.ends_with(".json.gz") || name.ends_with(".json") {
            ObjectKind::LogFile
        } else {
            ObjectKind::Other
        }
    }

    /// Why an object of this kind is skipped, for the log; `None` for log files.
    pub fn skip_reason(self) -> Option<&'static str> {
        match self {
            ObjectKind::LogFile => None,
            ObjectKind::Digest => Some("digest file"),
            ObjectKind::Insight => Some("Insights file"),
            ObjectKind::NetworkActivity => Some("network-activity file"),
            ObjectKind::Sidecar => Some("metadata sidecar"),
            ObjectKind::Other => Some("not a .json or .json.gz file"),
        }
    }
}
