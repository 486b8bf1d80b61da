//! Reading CloudTrail: log files, records, KMS events, and digest-file integrity.
//!
//! This crate turns the bytes CloudTrail delivers into normalised KMS events and knows nothing
//! of where the bytes came from or where the events go: its only I/O is [`std::io::Read`].
//!
//! - [`logfile`] reads `{"Records":[…]}` files, gzip or plain, in one buffer or streaming;
//! - [`record`] is the record as delivered, deserialized typed and borrowed;
//! - [`event`] normalises a record into a [`KmsEvent`]: key, principal, account, day;
//! - [`digest`] validates CloudTrail digest files and the log files they cover.

pub mod digest;
pub mod event;
pub mod logfile;
pub mod record;
pub mod time;

pub use event::{KmsEvent, RecordError};
pub use logfile::{
    parse_record, read_log_bytes, read_log_stream, FileError, ObjectKind, RawRecord, ReadLimits, RecordIssue,
    RecordOutcome,
};
pub use time::EventTime;
