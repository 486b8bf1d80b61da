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

impl ReadLimits {
    /// Largest record held in memory: four times the record limit, at least 1 MiB. A larger one is
    /// set aside as [`RecordIssue::NotHeld`] whatever it says, by both readers; the streaming
    /// reader skips it unread, so one huge record cannot take the memory a stream is bounded by.
    pub fn held_record_max(&self) -> usize {
        self.max_record_bytes.saturating_mul(4).max(1 << 20)
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
    /// Over [`ReadLimits::held_record_max`]: far beyond any event CloudTrail writes, not read.
    #[error("record of {bytes} bytes is over the {limit} bytes a record may take in memory: set aside unread")]
    NotHeld { bytes: u64, limit: usize },
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
    if text.len() > limits.held_record_max() {
        return RecordOutcome::Bad(RecordIssue::NotHeld { bytes: text.len() as u64, limit: limits.held_record_max() });
    }
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
    /// The record's JSON text (`null` for a record not held).
    pub raw: &'r RawValue,
    /// The size of a record the streaming reader skipped unread, being over
    /// [`ReadLimits::held_record_max`].
    pub not_held: Option<u64>,
}

impl<'r> RawRecord<'r> {
    fn held(index: u64, raw: &'r RawValue) -> Self {
        RawRecord { index, raw, not_held: None }
    }

    /// What the record is: [`parse_record`] of its text, or set aside when it was not held.
    pub fn outcome(&self, limits: &ReadLimits) -> RecordOutcome<'r> {
        match self.not_held {
            Some(bytes) => RecordOutcome::Bad(RecordIssue::NotHeld { bytes, limit: limits.held_record_max() }),
            None => parse_record(self.raw, limits),
        }
    }
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

fn visit_stream<R: Read, F: FnMut(RawRecord<'_>)>(reader: R, limits: &ReadLimits, visit: F) -> Result<u64, FileError> {
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
        let result = visit_decoded(&mut counted, limits, visit);
        let counter = counted.into_inner();
        let source = counter.inner.into_inner().into_inner().into_inner().1;
        (result, source, counter.failed, counter.produced)
    } else {
        let mut reader = reader;
        let result = visit_decoded(&mut reader, limits, visit);
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
    let top = TopLevel::<&RawValue, _> {
        visit: &mut visit,
        index: &index,
        skip_first: false,
        _raw: std::marker::PhantomData,
    };
    finish(de.deserialize_any(top).and_then(|found| de.end().map(|()| found)), &index, NO_OFFSET)
}

/// Reads decompressed JSON from a stream. A file of CloudTrail's own shape, `{"Records":[{…},…]}`,
/// is cut into records by a structural scan ([`RecordScan`]) over a window of the text and each
/// record is parsed from a slice, as in memory: serde_json's reader pulls a stream byte by byte,
/// several times slower. Anything else — another shape, a record that does not parse, a nesting
/// near serde_json's limit, a long run of whitespace — is handed from the last record boundary to
/// serde_json's reader ([`Resume`]), so errors and edge cases are serde_json's own, exactly as in
/// memory, and the window never holds more than one record plus one read: a record over
/// [`ReadLimits::held_record_max`] is skipped unread (its JSON unchecked) and reported not held.
fn visit_decoded<R: Read, F: FnMut(RawRecord<'_>)>(
    reader: R,
    limits: &ReadLimits,
    mut visit: F,
) -> Result<u64, FileError> {
    let index = Cell::new(0u64);
    let mut window = Window::new(reader);
    let resume = match visit_records_fast(&mut window, limits.held_record_max(), &mut visit, &index)? {
        None => return Ok(index.get()),
        Some(resume) => resume,
    };
    let (prefix, skip_first, from): (&[u8], bool, u64) = match resume {
        Resume::FromStart => (b"", false, 0),
        Resume::InRecords { after_record: false, at } => (b"{\"Records\":[", false, at),
        Resume::InRecords { after_record: true, at } => (b"{\"Records\":[null", true, at),
    };
    let (line, column) = window.position_at(from);
    let Window { reader, mut buf, filled, base, .. } = window;
    buf.truncate(filled);
    let mut rest = io::Cursor::new(buf);
    rest.set_position(from - base);
    let replay = BufReader::with_capacity(64 << 10, io::Cursor::new(prefix).chain(rest).chain(reader));
    let mut de = serde_json::Deserializer::from_reader(replay);
    let top =
        TopLevel::<Box<RawValue>, _> { visit: &mut visit, index: &index, skip_first, _raw: std::marker::PhantomData };
    let result = de.deserialize_any(top).and_then(|found| de.end().map(|()| found));
    finish(result, &index, TextOffset { line, column, prefix: prefix.len() })
}

/// Where serde_json's reader takes over from the fast path.
#[derive(Debug, Clone, Copy)]
enum Resume {
    /// The file does not open with `{"Records":[`: serde_json reads all of it.
    FromStart,
    /// Inside the `Records` array at absolute offset `at`: right after its `[` or right after a
    /// record. serde_json is handed a synthetic `{"Records":[` — plus a `null` element it skips
    /// when a record came before, so that what follows (`,`, `]`) is judged in the same place as
    /// in the whole file.
    InRecords { after_record: bool, at: u64 },
}

/// Bytes the fast path reads at a time (also the window's size unless a record is larger).
const WINDOW_READ: usize = 1 << 20;
/// The opening `{"Records":[` must be complete within this many bytes, or serde_json reads the file.
const PREAMBLE_MAX: u64 = 4 << 10;
/// Whitespace run between records held for a possible hand-over at most; longer runs go to
/// serde_json, which skips whitespace in constant memory.
const GAP_MAX: u64 = 1 << 20;
/// Records nested deeper than this go to serde_json, whose nesting limit (128) counts from the
/// top of the file, not from the record.
const FAST_DEPTH_MAX: u32 = 100;

/// The fast path. `Ok(None)`: the whole file was read; `Ok(Some(resume))`: serde_json reads on.
fn visit_records_fast<R: Read, F: FnMut(RawRecord<'_>)>(
    window: &mut Window<R>,
    held_max: usize,
    visit: &mut F,
    index: &Cell<u64>,
) -> Result<Option<Resume>, FileError> {
    // `{"Records":[`, with any whitespace, within the first PREAMBLE_MAX bytes.
    let mut at = 0u64;
    for token in [&b"{"[..], b"\"Records\"", b":", b"["] {
        match window.skip_whitespace(at, 0, PREAMBLE_MAX)? {
            Next::Byte(p, _) if window.starts_with(p, token, 0)? => at = p + token.len() as u64,
            _ => return Ok(Some(Resume::FromStart)),
        }
    }
    // The hand-over point: right after `[` or after the last record, kept in the window.
    let mut after = at;
    let mut after_record = false;
    let hand_over = |after_record, at| Ok(Some(Resume::InRecords { after_record, at }));
    loop {
        let start = match window.skip_whitespace(after, after, GAP_MAX)? {
            Next::Byte(p, b'{') if !after_record => p,
            Next::Byte(p, b',') if after_record => match window.skip_whitespace(p + 1, after, GAP_MAX)? {
                Next::Byte(p, b'{') => p,
                _ => return hand_over(after_record, after),
            },
            Next::Byte(p, b']') => {
                at = p + 1;
                break;
            }
            _ => return hand_over(after_record, after),
        };
        let mut scan = RecordScan::default();
        let (end, held) = loop {
            if let Some(len) = scan.advance(window.text(start)) {
                break (start + len as u64, true);
            }
            if scan.scanned > held_max {
                break (skip_record(window, &mut scan, start, index.get())?, false);
            }
            if !window.fill(after)? {
                return hand_over(after_record, after);
            }
        };
        let record = if held {
            if scan.max_depth > FAST_DEPTH_MAX {
                return hand_over(after_record, after);
            }
            match serde_json::from_slice::<&RawValue>(window.span(start, end)) {
                Ok(raw) => RawRecord::held(index.get(), raw),
                Err(_) => return hand_over(after_record, after),
            }
        } else {
            RawRecord { index: index.get(), raw: RawValue::NULL, not_held: Some(end - start) }
        };
        visit(record);
        index.set(index.get() + 1);
        (after, after_record) = (end, true);
    }
    // `]` seen: only `}` and whitespace may follow; `after` is kept for a hand-over.
    if let Next::Byte(p, b'}') = window.skip_whitespace(at, after, GAP_MAX)? {
        if let Next::End = window.skip_whitespace(p + 1, after, GAP_MAX)? {
            return Ok(None);
        }
    }
    hand_over(after_record, after)
}

/// Skips the rest of a record too large to hold, from `start` where `scan` stopped, dropping the
/// text as it goes; returns where the record ends. Its JSON is not checked: it is set aside.
fn skip_record<R: Read>(
    window: &mut Window<R>,
    scan: &mut RecordScan,
    start: u64,
    record_index: u64,
) -> Result<u64, FileError> {
    let mut at = start + scan.scanned as u64;
    loop {
        scan.scanned = 0;
        if let Some(len) = scan.advance(window.text(at)) {
            return Ok(at + len as u64);
        }
        at += scan.scanned as u64;
        if !window.fill(at)? {
            let (line, column) = window.position_at(window.base + window.filled as u64);
            return Err(FileError::Json {
                line,
                column,
                record_index,
                message: "EOF while parsing a record too large to hold".into(),
            });
        }
    }
}

/// What follows a run of whitespace.
enum Next {
    /// The first other byte and its offset.
    Byte(u64, u8),
    /// The end of the input.
    End,
    /// More whitespace than the caller holds.
    TooLong,
}

/// Decompressed text between reads: `buf[..filled]` is the text from absolute offset `base`.
/// Offsets are absolute so that dropping consumed text never moves a position held by the caller.
struct Window<R> {
    reader: R,
    buf: Vec<u8>,
    filled: usize,
    base: u64,
    /// Newlines before `base`, and bytes between the last of them and `base`: error positions
    /// (line, column) of text already dropped.
    newlines: usize,
    column: usize,
    eof: bool,
}

impl<R: Read> Window<R> {
    fn new(reader: R) -> Self {
        Window { reader, buf: Vec::new(), filled: 0, base: 0, newlines: 0, column: 0, eof: false }
    }

    /// The text from `from` to what has been read.
    fn text(&self, from: u64) -> &[u8] {
        &self.buf[(from - self.base) as usize..self.filled]
    }

    fn span(&self, from: u64, to: u64) -> &[u8] {
        &self.buf[(from - self.base) as usize..(to - self.base) as usize]
    }

    /// Reads more text, first dropping what lies before `keep`. `false` at the end of the input.
    /// A read error is the source's ([`FileError::Io`]; `visit_stream` tells a failed inflate).
    fn fill(&mut self, keep: u64) -> Result<bool, FileError> {
        if self.eof {
            return Ok(false);
        }
        let drop = (keep - self.base) as usize;
        if drop > 0 {
            let (newlines, column) = line_column(&self.buf[..drop], self.newlines, self.column);
            (self.newlines, self.column) = (newlines, column);
            self.buf.copy_within(drop..self.filled, 0);
            self.filled -= drop;
            self.base = keep;
        }
        if self.buf.len() - self.filled < WINDOW_READ / 2 {
            self.buf.resize(self.filled + WINDOW_READ, 0);
        }
        loop {
            match self.reader.read(&mut self.buf[self.filled..]) {
                Ok(0) => {
                    self.eof = true;
                    return Ok(false);
                }
                Ok(n) => {
                    self.filled += n;
                    return Ok(true);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(FileError::Io(e)),
            }
        }
    }

    /// What follows the whitespace (JSON's four bytes) at `from`, keeping the text from `keep`.
    fn skip_whitespace(&mut self, from: u64, keep: u64, max: u64) -> Result<Next, FileError> {
        let mut at = from;
        loop {
            let text = self.text(at);
            if let Some(i) = text.iter().position(|b| !matches!(b, b' ' | b'\n' | b'\t' | b'\r')) {
                return Ok(Next::Byte(at + i as u64, text[i]));
            }
            at += text.len() as u64;
            if at - from > max {
                return Ok(Next::TooLong);
            }
            if !self.fill(keep)? {
                return Ok(Next::End);
            }
        }
    }

    /// Whether the text at `at` starts with `token`, keeping the text from `keep`.
    fn starts_with(&mut self, at: u64, token: &[u8], keep: u64) -> Result<bool, FileError> {
        while self.text(at).len() < token.len() {
            if !self.fill(keep)? {
                break;
            }
        }
        Ok(self.text(at).starts_with(token))
    }

    /// serde_json's (line, column) of offset `at`: line 1-based, column the bytes since the
    /// line's start.
    fn position_at(&self, at: u64) -> (usize, usize) {
        let (newlines, column) = line_column(&self.buf[..(at - self.base) as usize], self.newlines, self.column);
        (newlines + 1, column)
    }
}

/// (newlines, column) after `text`, starting from (`newlines`, `column`).
fn line_column(text: &[u8], newlines: usize, column: usize) -> (usize, usize) {
    match memchr::memrchr(b'\n', text) {
        Some(last) => (newlines + memchr::memchr_iter(b'\n', text).count(), text.len() - last - 1),
        None => (newlines, column + text.len()),
    }
}

/// Finds where a JSON object that starts at the first byte ends, from its structure alone
/// (strings and their escapes, brackets), without validating it: serde_json validates the slice.
/// Resumable: `advance` is called again with the same start and more text.
#[derive(Debug, Default)]
struct RecordScan {
    scanned: usize,
    depth: u32,
    max_depth: u32,
    in_string: bool,
}

impl RecordScan {
    /// The object's length once its closing bracket is in `text`.
    fn advance(&mut self, text: &[u8]) -> Option<usize> {
        let mut i = self.scanned;
        while i < text.len() {
            if self.in_string {
                match memchr::memchr2(b'"', b'\\', &text[i..]) {
                    Some(j) if text[i + j] == b'"' => {
                        self.in_string = false;
                        i += j + 1;
                    }
                    // An escape: the next byte is never the string's end.
                    Some(j) if i + j + 1 < text.len() => i += j + 2,
                    // An escape cut by the end of the text: look at it again with more.
                    Some(j) => {
                        i += j;
                        break;
                    }
                    None => {
                        i = text.len();
                        break;
                    }
                }
                continue;
            }
            match text[i] {
                b'"' => self.in_string = true,
                b'{' | b'[' => {
                    self.depth += 1;
                    self.max_depth = self.max_depth.max(self.depth);
                }
                b'}' | b']' => {
                    self.depth = self.depth.saturating_sub(1);
                    if self.depth == 0 {
                        return Some(i + 1);
                    }
                }
                _ => {}
            }
            i += 1;
        }
        self.scanned = i;
        None
    }
}

/// Where serde_json's text began in the file: errors are reported in the file's terms.
#[derive(Debug, Clone, Copy)]
struct TextOffset {
    line: usize,
    column: usize,
    /// Synthetic bytes put before the file's text.
    prefix: usize,
}

const NO_OFFSET: TextOffset = TextOffset { line: 1, column: 0, prefix: 0 };

fn finish(result: Result<TopFound, serde_json::Error>, index: &Cell<u64>, at: TextOffset) -> Result<u64, FileError> {
    match result {
        Ok(TopFound::Records) => Ok(index.get()),
        Ok(TopFound::NoRecords) => Err(FileError::NotCloudTrail("no Records array in the top-level object")),
        Ok(TopFound::NotAnObject) => Err(FileError::NotCloudTrail("the top-level JSON value is not an object")),
        Ok(TopFound::RecordsNotArray) => Err(FileError::NotCloudTrail("Records is not an array")),
        Err(e) if e.is_io() => Err(FileError::Io(io::Error::other(e.to_string()))),
        Err(e) if e.line() <= 1 => Err(FileError::Json {
            line: at.line,
            column: at.column + e.column().saturating_sub(at.prefix),
            record_index: index.get(),
            message: strip_position(&e.to_string()),
        }),
        Err(e) => Err(FileError::Json {
            line: at.line + e.line() - 1,
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
    /// The first element of `Records` is a placeholder (see [`Resume::InRecords`]), not a record.
    skip_first: bool,
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
                let seed = RecordsSeed::<E, F> {
                    visit: &mut *self.visit,
                    index: self.index,
                    skip_first: self.skip_first,
                    _raw: std::marker::PhantomData,
                };
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
    skip_first: bool,
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
        if self.skip_first {
            seq.next_element::<IgnoredAny>()?;
        }
        while let Some(element) = seq.next_element::<E>()? {
            let index = self.index.get();
            (self.visit)(RawRecord::held(index, element.borrow()));
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

#[cfg(test)]
mod tests {
    use super::*;

    /// Hands out `chunk` bytes per read, as a network body may.
    struct Trickle<'a>(&'a [u8], usize);

    impl Read for Trickle<'_> {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            let n = buf.len().min(self.1).min(self.0.len());
            buf[..n].copy_from_slice(&self.0[..n]);
            self.0 = &self.0[n..];
            Ok(n)
        }
    }

    type Visited = Vec<(u64, String)>;

    fn in_memory(text: &str) -> (Result<u64, FileError>, Visited) {
        let mut seen = Vec::new();
        let result = visit_slice(text.as_bytes(), |r| seen.push((r.index, r.raw.get().to_owned())));
        (result, seen)
    }

    /// The fast path alone: what it visited and where it hands over (`None`: it read everything).
    fn fast(text: &str, chunk: usize) -> (Option<Resume>, Visited) {
        let mut seen = Vec::new();
        let mut window = Window::new(Trickle(text.as_bytes(), chunk));
        let index = Cell::new(0);
        let held_max = ReadLimits::default().held_record_max();
        let mut visit = |r: RawRecord<'_>| seen.push((r.index, r.raw.get().to_owned()));
        let resume = visit_records_fast(&mut window, held_max, &mut visit, &index).unwrap();
        (resume, seen)
    }

    fn streamed(text: &str, chunk: usize) -> (Result<u64, FileError>, Visited) {
        let mut seen = Vec::new();
        let result = visit_decoded(Trickle(text.as_bytes(), chunk), &ReadLimits::default(), |r| {
            seen.push((r.index, r.raw.get().to_owned()))
        });
        (result, seen)
    }

    fn record(i: usize) -> String {
        format!(r#"{{"eventID":"e{i}","eventSource":"kms.amazonaws.com","n":[{i},{{"s":"a\"}}\\"}}]}}"#)
    }

    #[test]
    fn cloudtrail_shaped_files_are_read_by_the_fast_path_whatever_the_reads() {
        let records: Vec<String> = (0..50).map(record).collect();
        for text in [
            format!(r#"{{"Records":[{}]}}"#, records.join(",")),
            format!("\n {{ \"Records\" :\t[ {} ]\r\n}}\n", records.join(" ,\n ")),
            r#"{"Records":[]}"#.to_owned(),
        ] {
            let (whole, expected) = in_memory(&text);
            assert_eq!(whole.unwrap(), expected.len() as u64);
            for chunk in [1, 2, 7, 4096, 1 << 22] {
                let (resume, seen) = fast(&text, chunk);
                assert!(resume.is_none(), "handed over at {resume:?} reading {chunk} bytes at a time");
                assert_eq!(seen, expected);
            }
        }
    }

    #[test]
    fn other_shapes_are_handed_over_at_the_last_record_and_read_like_in_memory() {
        let (a, b) = (record(1), record(2));
        let cases = [
            // Another key first, the key spelled with an escape, not an object: serde_json reads all.
            (format!(r#"{{"x":1,"Records":[{a}]}}"#), "FromStart"),
            (format!(r#"{{"Rec\u006frds":[{a}]}}"#), "FromStart"),
            (format!(r#"[{a}]"#), "FromStart"),
            // A non-object element, trailing keys, a trailing comma, a bad record, a cut file.
            (format!(r#"{{"Records":[{a}, 5, {b}]}}"#), "after 1"),
            (format!(r#"{{"Records":[{a},{b}],"x":{{"Records":[]}}}}"#), "after 2"),
            (format!(r#"{{"Records":[{a},]}}"#), "after 1"),
            (format!(r#"{{"Records":[{a},{{"eventID":tru}},{b}]}}"#), "after 1"),
            (format!(r#"{{"Records":[{{"x":"{b}"#), "after 0"),
            (format!(r#"{{"Records":[{a}]}} {{}}"#), "after 1"),
            // Nesting near serde_json's limit counts from the top of the file.
            (format!(r#"{{"Records":[{a},{{"x":{}1{}}}]}}"#, "[".repeat(120), "]".repeat(120)), "after 1"),
            (format!(r#"{{"Records":[{a},{{"x":{}1{}}}]}}"#, "[".repeat(130), "]".repeat(130)), "after 1"),
            // Whitespace beyond what is held for a hand-over.
            (format!(r#"{{"Records":[{a},{}{b}]}}"#, " ".repeat(GAP_MAX as usize + 10)), "after 1"),
        ];
        for (text, hand_over) in &cases {
            let (resume, seen) = fast(text, 3);
            let found = match resume {
                Some(Resume::FromStart) => "FromStart".to_owned(),
                Some(Resume::InRecords { .. }) => format!("after {}", seen.len()),
                None => "nowhere".to_owned(),
            };
            assert_eq!(&found, hand_over, "{}", &text[..text.len().min(120)]);
            let (whole, expected) = in_memory(text);
            for chunk in [1, 5, 1 << 20] {
                let (result, seen) = streamed(text, chunk);
                assert_eq!(seen, expected, "{}", &text[..text.len().min(120)]);
                match (&whole, &result) {
                    (Ok(a), Ok(b)) => assert_eq!(a, b),
                    (Err(a), Err(b)) => assert_eq!(a.to_string(), b.to_string()),
                    (a, b) => panic!("in memory {a:?}, streamed {b:?}: {}", &text[..text.len().min(120)]),
                }
            }
        }
    }

    #[test]
    fn an_error_after_a_hand_over_is_placed_in_the_file() {
        // Lines before the hand-over and after it: the position counts both.
        let text = format!("{{\"Records\":[\n{},\n{},\n{{\"eventID\": nul}}]}}", record(1), record(2));
        let (whole, _) = in_memory(&text);
        let (streamed, seen) = streamed(&text, 4);
        assert_eq!(seen.len(), 2);
        match (whole, streamed) {
            (
                Err(FileError::Json { line, column, record_index, .. }),
                Err(FileError::Json { line: l, column: c, record_index: i, .. }),
            ) => {
                assert_eq!((line, record_index), (4, 2));
                assert_eq!((l, i), (4, 2));
                assert!(column.abs_diff(c) <= 1, "in memory column {column}, streamed {c}");
            }
            other => panic!("{other:?}"),
        }
    }
    /// A record over the held bound: the stream skips it unread in bounded memory and both
    /// readers set it aside; its neighbours are read as usual.
    #[test]
    fn a_record_too_large_to_hold_is_skipped_unread_and_set_aside() {
        let limits = ReadLimits::default();
        let huge = format!(r#"{{"eventSource":"s3.amazonaws.com","pad":"{}\"}}"}}"#, "x".repeat(3 << 20));
        let text = format!(r#"{{"Records":[{},{huge},{}]}}"#, record(1), record(2));
        let mut streamed = Vec::new();
        let mut window = Window::new(Trickle(text.as_bytes(), 64 << 10));
        let index = Cell::new(0);
        let mut visit = |r: RawRecord<'_>| {
            let not_held = matches!(r.outcome(&limits), RecordOutcome::Bad(RecordIssue::NotHeld { .. }));
            streamed.push((r.index, r.not_held, not_held))
        };
        let resume = visit_records_fast(&mut window, limits.held_record_max(), &mut visit, &index).unwrap();
        assert!(resume.is_none(), "the fast path read the whole file");
        // The window never grows past the bound plus a read, however large the record.
        let held = window.buf.len();
        assert!(held <= limits.held_record_max() + 2 * WINDOW_READ, "the window grew to {held} bytes");
        assert_eq!(
            streamed,
            vec![(0, None, false), (1, Some(huge.len() as u64), true), (2, None, false)],
            "the huge record is reported with its size, not read"
        );
        // In memory the same record is set aside for the same reason.
        let mut reasons = Vec::new();
        visit_slice(text.as_bytes(), |r| {
            if let RecordOutcome::Bad(issue @ RecordIssue::NotHeld { .. }) = r.outcome(&limits) {
                reasons.push((r.index, issue));
            }
        })
        .unwrap();
        assert_eq!(
            reasons,
            vec![(1, RecordIssue::NotHeld { bytes: huge.len() as u64, limit: limits.held_record_max() })]
        );
        // Cut inside the huge record: an error at its index, not a hang or a partial success.
        let cut = &text[..text.len() - record(2).len() - 1000];
        match visit_decoded(Trickle(cut.as_bytes(), 64 << 10), &limits, |_| {}) {
            Err(FileError::Json { record_index: 1, message, .. }) => assert!(message.contains("EOF"), "{message}"),
            other => panic!("{other:?}"),
        }
    }
}
