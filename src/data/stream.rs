//! Streaming input for `textcnn predict`: records are read on a background thread as they
//! arrive and handed out in bounded chunks, so that a pipe (a shell pipeline, Spark's
//! `RDD.pipe`) gets its answers without waiting for the end of its input.
//!
//! A chunk is the first record to arrive plus whatever else has already arrived, up to a
//! maximum: under a steady stream the chunks are full (throughput), and a lone line is answered
//! at once (latency).
//!
//! A line that cannot be read as text (not UTF-8, or longer than [`MAX_LINE_BYTES`]) is a record
//! whose text is an error, like a JSONL line without a text: the consumer answers it in its
//! place and the stream goes on. Only an unreadable input (an I/O error) ends it.

use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::sync::mpsc::{Receiver, SyncSender, TryRecvError, sync_channel};

use anyhow::{Context, Result, bail};
use serde_json::Value;
use serde_json::value::RawValue;

use super::Encoding;

/// How each input line is read.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum StreamFormat {
    /// One text per line.
    #[default]
    Lines,
    /// One JSON object per line, the text under a key (`"text"` by default), optionally an
    /// `"id"` of any JSON type that is carried through to the output.
    Jsonl,
}

/// The longest line read, in bytes (without its `\n`): a longer one is a record whose text is an
/// error, and the rest of it is skipped without being kept, so that one endless line (`predict
/// < /dev/zero`) cannot exhaust the memory.
pub const MAX_LINE_BYTES: usize = 16 << 20;

/// One input line.
#[derive(Clone, Debug)]
pub struct Record {
    /// 1-based line number in the input.
    pub line: usize,
    /// The JSONL record's `"id"` exactly as written (`1e2` stays `1e2`, a 23-digit integer keeps
    /// its digits), when it has one.
    pub id: Option<Box<RawValue>>,
    /// The text to classify, or why the line holds none (a JSONL line that is not an object,
    /// has no text key, or a text that is not a string; a line that is not valid UTF-8 or is
    /// over [`MAX_LINE_BYTES`]). Such lines get an error record in the output and do not stop
    /// the stream.
    pub text: std::result::Result<String, String>,
    /// Why the line could not be read as text at all, when that is so (then `text` is the
    /// error message); `None` for every line that was read.
    pub unreadable: Option<Unreadable>,
}

/// Why a line could not be read as text.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Unreadable {
    /// Not valid UTF-8 (with `--encoding utf8`).
    InvalidUtf8,
    /// Longer than [`MAX_LINE_BYTES`].
    TooLong,
}

/// Records read on a background thread, handed out in chunks by [`RecordStream::next_chunk`].
pub struct RecordStream {
    rx: Receiver<Result<Record>>,
    /// An error met while filling the previous chunk, returned by the next call.
    pending: Option<anyhow::Error>,
}

/// Settings of a [`RecordStream`].
#[derive(Clone, Debug)]
pub struct StreamOptions {
    pub format: StreamFormat,
    pub encoding: Encoding,
    /// JSONL key holding the text.
    pub text_key: String,
    /// Records read ahead of the consumer at most (bounds memory to about this many lines).
    pub read_ahead: usize,
    /// The longest line read, in bytes; see [`MAX_LINE_BYTES`].
    pub max_line_bytes: usize,
}

impl Default for StreamOptions {
    fn default() -> StreamOptions {
        StreamOptions {
            format: StreamFormat::Lines,
            encoding: Encoding::Utf8,
            text_key: "text".into(),
            read_ahead: 4096,
            max_line_bytes: MAX_LINE_BYTES,
        }
    }
}

impl RecordStream {
    /// Streams the file `spec`, or standard input when `spec` is `-`.
    ///
    /// # Errors
    /// A path that does not exist or is a folder, device or socket (named pipes are fine).
    pub fn open(spec: &str, options: StreamOptions) -> Result<RecordStream> {
        if spec == "-" {
            return Ok(RecordStream::from_reader(
                std::io::stdin(),
                "<stdin>".into(),
                true,
                options,
            ));
        }
        let path = Path::new(spec);
        let file = crate::fsutil::open_checked(path, crate::fsutil::Source::FileOrPipe)?;
        Ok(RecordStream::from_reader(
            file,
            path.display().to_string(),
            false,
            options,
        ))
    }

    /// Streams `reader`, named `name` in error messages. Unless `may_be_empty`, input without a
    /// single byte is an error (`NAME: file is empty`).
    pub fn from_reader(
        reader: impl Read + Send + 'static,
        name: String,
        may_be_empty: bool,
        options: StreamOptions,
    ) -> RecordStream {
        let (tx, rx) = sync_channel(options.read_ahead.max(1));
        std::thread::spawn(move || {
            if let Err(e) = read_records(reader, &name, may_be_empty, &options, &tx) {
                let _ = tx.send(Err(e));
            }
        });
        RecordStream { rx, pending: None }
    }

    /// Waits for the next record, then takes the records that have already arrived, up to `max`
    /// in all (at least 1). An empty chunk means the input has ended.
    ///
    /// # Errors
    /// An unreadable input (an I/O error, naming the input), returned once the records before
    /// it have been handed out.
    pub fn next_chunk(&mut self, max: usize) -> Result<Vec<Record>> {
        if let Some(e) = self.pending.take() {
            return Err(e);
        }
        let mut chunk = Vec::new();
        match self.rx.recv() {
            Ok(Ok(r)) => chunk.push(r),
            Ok(Err(e)) => return Err(e),
            Err(_) => return Ok(chunk),
        }
        while chunk.len() < max.max(1) {
            match self.rx.try_recv() {
                Ok(Ok(r)) => chunk.push(r),
                Ok(Err(e)) => {
                    self.pending = Some(e);
                    break;
                }
                Err(TryRecvError::Empty | TryRecvError::Disconnected) => break,
            }
        }
        Ok(chunk)
    }
}

/// The reading thread: splits on `\n` (a trailing `\r` is dropped, a final terminator adds no
/// line, a leading UTF-8 BOM is stripped), decodes and parses each line, and sends it. A line over
/// `options.max_line_bytes` is sent as an error record as soon as the limit is passed, then the
/// rest of it is skipped. Stops quietly when the consumer has gone.
fn read_records(
    reader: impl Read,
    name: &str,
    may_be_empty: bool,
    options: &StreamOptions,
    tx: &SyncSender<Result<Record>>,
) -> Result<()> {
    let mut reader = BufReader::with_capacity(1 << 16, reader);
    let max = options.max_line_bytes;
    let mut buf = Vec::new();
    let mut offset = 0usize;
    let mut line = 0usize;
    loop {
        buf.clear();
        // At most the limit, its `\r\n` and one byte more, so that an over-long line is seen
        // without reading it whole.
        let n = (&mut reader)
            .take(max as u64 + 3)
            .read_until(b'\n', &mut buf)
            .with_context(|| format!("reading {name}"))?;
        if n == 0 {
            if line == 0 && !may_be_empty {
                bail!("{name}: file is empty");
            }
            return Ok(());
        }
        line += 1;
        let start = offset;
        offset += n;
        let mut bytes = &buf[..];
        let ended = bytes.last() == Some(&b'\n');
        bytes = bytes.strip_suffix(b"\n").unwrap_or(bytes);
        bytes = bytes.strip_suffix(b"\r").unwrap_or(bytes);
        if bytes.len() > max {
            let record = unreadable(
                line,
                Unreadable::TooLong,
                format!(
                    "line longer than the limit of {}; not classified (the rest of the line is skipped)",
                    size(max)
                ),
            );
            if tx.send(Ok(record)).is_err() {
                return Ok(());
            }
            if !ended {
                offset += skip_line(&mut reader).with_context(|| format!("reading {name}"))?;
            }
            continue;
        }
        let mut skipped = 0;
        if line == 1
            && let Some(rest) = bytes.strip_prefix(b"\xEF\xBB\xBF")
        {
            bytes = rest;
            skipped = 3;
        }
        let record = match decode_line(bytes, options.encoding) {
            Ok(text) => match options.format {
                StreamFormat::Lines => Record {
                    line,
                    id: None,
                    text: Ok(text),
                    unreadable: None,
                },
                StreamFormat::Jsonl => parse_jsonl_record(line, &text, &options.text_key),
            },
            Err(at) => {
                let message = format!(
                    "invalid UTF-8 (byte 0x{:02X} at offset {}); if the input is Latin-1 / \
                     Windows-1252, pass `--encoding latin1`",
                    bytes[at],
                    start + skipped + at
                );
                let mut record = unreadable(line, Unreadable::InvalidUtf8, message);
                if options.format == StreamFormat::Jsonl {
                    record.id = lossy_id(bytes);
                }
                record
            }
        };
        if tx.send(Ok(record)).is_err() {
            return Ok(());
        }
    }
}

/// A record for a line that could not be read as text.
fn unreadable(line: usize, why: Unreadable, message: String) -> Record {
    Record {
        line,
        id: None,
        text: Err(message),
        unreadable: Some(why),
    }
}

/// `16 MiB`, `100 bytes`: a byte limit for messages.
fn size(bytes: usize) -> String {
    if bytes >= 1 << 20 && bytes.is_multiple_of(1 << 20) {
        format!("{} MiB", bytes >> 20)
    } else {
        format!("{bytes} bytes")
    }
}

/// Reads through the next `\n` (or the end of the input) without keeping what it reads;
/// returns the number of bytes read.
fn skip_line(reader: &mut impl BufRead) -> std::io::Result<usize> {
    let mut skipped = 0;
    loop {
        let available = reader.fill_buf()?;
        if available.is_empty() {
            return Ok(skipped);
        }
        match available.iter().position(|&b| b == b'\n') {
            Some(i) => {
                reader.consume(i + 1);
                return Ok(skipped + i + 1);
            }
            None => {
                let n = available.len();
                reader.consume(n);
                skipped += n;
            }
        }
    }
}

/// The `"id"` of a JSONL line that is not valid UTF-8, read with the invalid bytes replaced,
/// so that its error record can be matched to it; none when the id itself holds an invalid
/// byte (a replaced id would name another record).
fn lossy_id(bytes: &[u8]) -> Option<Box<RawValue>> {
    let text = String::from_utf8_lossy(bytes);
    raw_id(&text).filter(|id| !id.get().contains('\u{FFFD}'))
}

/// Decodes one line; `Err(offset)` of the first invalid UTF-8 byte.
fn decode_line(bytes: &[u8], encoding: Encoding) -> std::result::Result<String, usize> {
    match encoding {
        Encoding::Utf8 => std::str::from_utf8(bytes)
            .map(str::to_string)
            .map_err(|e| e.valid_up_to()),
        Encoding::Latin1 => Ok(encoding_rs::WINDOWS_1252
            .decode_without_bom_handling(bytes)
            .0
            .into_owned()),
    }
}

/// One JSONL line: its `"id"` (when it is an object that has one) and its text, or why it has
/// none.
pub fn parse_jsonl_record(line: usize, text: &str, text_key: &str) -> Record {
    let value: Value = match serde_json::from_str(text) {
        Ok(v) => v,
        Err(_) if text.trim().is_empty() => {
            return Record {
                line,
                id: None,
                text: Err("blank line, expected a JSON object".into()),
                unreadable: None,
            };
        }
        Err(e) => {
            return Record {
                line,
                id: None,
                text: Err(format!("invalid JSON: {e}")),
                unreadable: None,
            };
        }
    };
    let Value::Object(mut object) = value else {
        return Record {
            line,
            id: None,
            text: Err(format!(
                "expected a JSON object like {{\"id\": 1, \"{text_key}\": \"...\"}}, found {}",
                json_kind(&value)
            )),
            unreadable: None,
        };
    };
    // The id as written: `Value` would turn `1e2` into `100.0`.
    let id = object.remove("id").and_then(|_| raw_id(text));
    let text = match object.remove(text_key) {
        Some(Value::String(s)) => Ok(s),
        Some(other) => Err(format!(
            "\"{text_key}\" must be a string, found {}",
            json_kind(&other)
        )),
        None => {
            let keys: Vec<&str> = object.keys().map(String::as_str).collect();
            Err(format!(
                "no \"{text_key}\" key (keys: {}); --text-column names another",
                if keys.is_empty() && id.is_none() {
                    "none".to_string()
                } else {
                    id.iter()
                        .map(|_| "id")
                        .chain(keys)
                        .collect::<Vec<_>>()
                        .join(", ")
                }
            ))
        }
    };
    Record {
        line,
        id,
        text,
        unreadable: None,
    }
}

/// The `"id"` of the JSON object `text` exactly as written (the last one, when the key repeats,
/// as for the other keys); `None` when there is none or `text` is not an object.
fn raw_id(text: &str) -> Option<Box<RawValue>> {
    let object: std::collections::HashMap<String, &RawValue> = serde_json::from_str(text).ok()?;
    object.get("id").map(|id| (*id).to_owned())
}

fn json_kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all(input: &[u8], options: StreamOptions) -> Result<Vec<Record>> {
        let mut s = RecordStream::from_reader(
            std::io::Cursor::new(input.to_vec()),
            "in".into(),
            false,
            options,
        );
        let mut out = Vec::new();
        loop {
            let chunk = s.next_chunk(2)?;
            if chunk.is_empty() {
                return Ok(out);
            }
            assert!(chunk.len() <= 2);
            out.extend(chunk);
        }
    }

    fn texts(records: &[Record]) -> Vec<&str> {
        records.iter().map(|r| r.text.as_deref().unwrap()).collect()
    }

    #[test]
    fn lines_split_like_read_lines() {
        let o = StreamOptions::default();
        let r = all(b"\xEF\xBB\xBFa\r\n\nb\nc", o.clone()).unwrap();
        assert_eq!(texts(&r), ["a", "", "b", "c"]);
        assert_eq!(r.iter().map(|r| r.line).collect::<Vec<_>>(), [1, 2, 3, 4]);
        assert_eq!(texts(&all(b"a\n\n", o.clone()).unwrap()), ["a", ""]);
        let e = all(b"", o).unwrap_err().to_string();
        assert_eq!(e, "in: file is empty");
    }

    #[test]
    fn invalid_utf8_is_an_error_record_naming_the_offset_and_the_stream_goes_on() {
        let r = all(b"ok\nbad \xFF\nafter\n", StreamOptions::default()).unwrap();
        assert_eq!(r.len(), 3);
        assert_eq!(r[0].text, Ok("ok".into()));
        assert_eq!(
            r[1].text,
            Err(
                "invalid UTF-8 (byte 0xFF at offset 7); if the input is Latin-1 / Windows-1252, \
                 pass `--encoding latin1`"
                    .into()
            )
        );
        assert_eq!(r[1].unreadable, Some(Unreadable::InvalidUtf8));
        assert_eq!((r[2].line, r[2].text.as_deref()), (3, Ok("after")));
        assert_eq!(r[2].unreadable, None);
        let latin = StreamOptions {
            encoding: Encoding::Latin1,
            ..StreamOptions::default()
        };
        assert_eq!(texts(&all(b"caf\xE9\n", latin).unwrap()), ["caf\u{e9}"]);
        // JSONL: the record keeps its id when the invalid byte is elsewhere.
        let jsonl = StreamOptions {
            format: StreamFormat::Jsonl,
            ..StreamOptions::default()
        };
        let r = all(
            b"{\"id\": 1e2, \"text\": \"\xFF\"}\n{\"id\": \"\xFF\"}\n",
            jsonl,
        )
        .unwrap();
        assert_eq!(r[0].id.as_ref().map(|id| id.get()), Some("1e2"));
        assert!(
            r[0].text
                .as_ref()
                .unwrap_err()
                .starts_with("invalid UTF-8 (byte 0xFF at offset 21)")
        );
        assert!(
            r[1].id.is_none(),
            "an id holding the invalid byte is not echoed"
        );
    }

    #[test]
    fn a_line_over_the_limit_is_an_error_record_and_its_rest_is_skipped() {
        let o = StreamOptions {
            max_line_bytes: 4,
            ..StreamOptions::default()
        };
        // "abcd" fits (also with \r\n); "abcde" and the endless last line do not.
        let r = all(
            b"abcd\r\nabcde\nxy\n0123456789012345678901234567890123456789",
            o.clone(),
        )
        .unwrap();
        assert_eq!(r.len(), 4);
        assert_eq!(r[0].text, Ok("abcd".into()));
        let long = "line longer than the limit of 4 bytes; not classified (the rest of the line is skipped)";
        assert_eq!((r[1].line, r[1].text.clone()), (2, Err(long.to_string())));
        assert_eq!(r[1].unreadable, Some(Unreadable::TooLong));
        assert_eq!((r[2].line, r[2].text.clone()), (3, Ok("xy".into())));
        assert_eq!((r[3].line, r[3].text.clone()), (4, Err(long.to_string())));
        // The offsets after a skipped line still count its bytes.
        let r = all(b"0123456789\n\xFF\n", o).unwrap();
        assert!(
            r[1].text.as_ref().unwrap_err().contains("at offset 11"),
            "{:?}",
            r[1].text
        );
    }

    #[test]
    fn jsonl_records_carry_ids_and_report_bad_lines() {
        let o = StreamOptions {
            format: StreamFormat::Jsonl,
            ..StreamOptions::default()
        };
        let input = b"{\"id\": 7, \"text\": \"hi\"}\n{\"text\": \"no id\"}\n\n[1]\n{\"id\": \"x\", \"body\": 1}\n{\"id\": {\"k\": 1}, \"text\": 3}\nnot json\n";
        let r = all(input, o).unwrap();
        assert_eq!(r.len(), 7);
        let id = |r: &Record| r.id.as_ref().map(|id| id.get().to_string());
        assert_eq!(id(&r[0]).as_deref(), Some("7"));
        assert_eq!(r[0].text, Ok("hi".into()));
        assert_eq!(id(&r[1]), None);
        assert_eq!(r[1].text, Ok("no id".into()));
        assert_eq!(
            r[2].text,
            Err("blank line, expected a JSON object".to_string())
        );
        assert_eq!(
            r[3].text,
            Err(
                "expected a JSON object like {\"id\": 1, \"text\": \"...\"}, found an array"
                    .to_string()
            )
        );
        assert_eq!(id(&r[4]).as_deref(), Some("\"x\""));
        assert_eq!(
            r[4].text,
            Err("no \"text\" key (keys: id, body); --text-column names another".to_string())
        );
        assert_eq!(id(&r[5]).as_deref(), Some("{\"k\": 1}"));
        assert_eq!(
            r[5].text,
            Err("\"text\" must be a string, found a number".to_string())
        );
        assert!(
            r[6].text
                .as_ref()
                .unwrap_err()
                .starts_with("invalid JSON: ")
        );
        assert_eq!(r[6].line, 7);
    }

    #[test]
    fn a_chunk_is_answered_before_the_input_ends() {
        // A pipe whose writer stays open: the first line must come out alone, without EOF.
        let (r, mut w) = std::io::pipe().unwrap();
        let mut s = RecordStream::from_reader(r, "pipe".into(), true, StreamOptions::default());
        use std::io::Write;
        w.write_all(b"first\n").unwrap();
        w.flush().unwrap();
        let chunk = s.next_chunk(100).unwrap();
        assert_eq!(texts(&chunk), ["first"]);
        w.write_all(b"second\nthird\n").unwrap();
        drop(w);
        let mut rest = Vec::new();
        loop {
            let c = s.next_chunk(100).unwrap();
            if c.is_empty() {
                break;
            }
            rest.extend(c);
        }
        assert_eq!(texts(&rest), ["second", "third"]);
    }
}
