//! Streaming input for `textcnn predict`: records are read on a background thread as they
//! arrive and handed out in bounded chunks, so that a pipe (a shell pipeline, Spark's
//! `RDD.pipe`) gets its answers without waiting for the end of its input.
//!
//! A chunk is the first record to arrive plus whatever else has already arrived, up to a
//! maximum: under a steady stream the chunks are full (throughput), and a lone line is answered
//! at once (latency).

use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::sync::mpsc::{Receiver, SyncSender, TryRecvError, sync_channel};

use anyhow::{Context, Result, bail};
use serde_json::Value;

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

/// One input line.
#[derive(Clone, Debug, PartialEq)]
pub struct Record {
    /// 1-based line number in the input.
    pub line: usize,
    /// The JSONL record's `"id"`, when it has one.
    pub id: Option<Value>,
    /// The text to classify, or why the line holds none (a JSONL line that is not an object,
    /// has no text key, or a text that is not a string). Such lines get an error record in the
    /// output and do not stop the stream.
    pub text: std::result::Result<String, String>,
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
}

impl Default for StreamOptions {
    fn default() -> StreamOptions {
        StreamOptions {
            format: StreamFormat::Lines,
            encoding: Encoding::Utf8,
            text_key: "text".into(),
            read_ahead: 4096,
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
    /// An unreadable input or invalid UTF-8 (naming the input, the line and the byte offset),
    /// returned once the records before it have been handed out.
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
/// line, a leading UTF-8 BOM is stripped), decodes and parses each line, and sends it. Stops
/// quietly when the consumer has gone.
fn read_records(
    reader: impl Read,
    name: &str,
    may_be_empty: bool,
    options: &StreamOptions,
    tx: &SyncSender<Result<Record>>,
) -> Result<()> {
    let mut reader = BufReader::with_capacity(1 << 16, reader);
    let mut buf = Vec::new();
    let mut offset = 0usize;
    let mut line = 0usize;
    loop {
        buf.clear();
        let n = reader
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
        bytes = bytes.strip_suffix(b"\n").unwrap_or(bytes);
        bytes = bytes.strip_suffix(b"\r").unwrap_or(bytes);
        let mut skipped = 0;
        if line == 1
            && let Some(rest) = bytes.strip_prefix(b"\xEF\xBB\xBF")
        {
            bytes = rest;
            skipped = 3;
        }
        let text = decode_line(bytes, options.encoding).map_err(|at| {
            anyhow::anyhow!(
                "{name}:{line}: invalid UTF-8 (byte 0x{:02X} at offset {}); if the file is \
                 Latin-1 / Windows-1252, pass `--encoding latin1`",
                bytes[at],
                start + skipped + at
            )
        })?;
        let record = match options.format {
            StreamFormat::Lines => Record {
                line,
                id: None,
                text: Ok(text),
            },
            StreamFormat::Jsonl => parse_jsonl_record(line, &text, &options.text_key),
        };
        if tx.send(Ok(record)).is_err() {
            return Ok(());
        }
    }
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
            };
        }
        Err(e) => {
            return Record {
                line,
                id: None,
                text: Err(format!("invalid JSON: {e}")),
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
        };
    };
    let id = object.remove("id");
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
    Record { line, id, text }
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
    fn invalid_utf8_names_line_and_offset_after_the_lines_before() {
        let mut s = RecordStream::from_reader(
            std::io::Cursor::new(b"ok\nbad \xFF\n".to_vec()),
            "in".into(),
            false,
            StreamOptions::default(),
        );
        let first = s.next_chunk(10);
        // The good line comes first (possibly alone, if the error had not arrived yet).
        let first = first.unwrap();
        assert_eq!(texts(&first), ["ok"]);
        let e = s.next_chunk(10).unwrap_err().to_string();
        assert!(
            e.starts_with("in:2: invalid UTF-8 (byte 0xFF at offset 7)"),
            "{e}"
        );
        let latin = StreamOptions {
            encoding: Encoding::Latin1,
            ..StreamOptions::default()
        };
        assert_eq!(texts(&all(b"caf\xE9\n", latin).unwrap()), ["caf\u{e9}"]);
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
        assert_eq!(r[0].id, Some(serde_json::json!(7)));
        assert_eq!(r[0].text, Ok("hi".into()));
        assert_eq!(r[1].id, None);
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
        assert_eq!(r[4].id, Some(serde_json::json!("x")));
        assert_eq!(
            r[4].text,
            Err("no \"text\" key (keys: id, body); --text-column names another".to_string())
        );
        assert_eq!(r[5].id, Some(serde_json::json!({"k": 1})));
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
