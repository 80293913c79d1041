//! TensorBoard event files: a [`TrainObserver`] that logs scalars and hyper-parameters while a
//! run trains, and a reader that checks and decodes such files.
//!
//! Format (TensorFlow's `tensorflow/core/util/event.proto` and record writer): a file named
//! `events.out.tfevents.<seconds>.<host>.<pid>` holds records of
//! `u64 length (little-endian) · u32 masked CRC32C of the length bytes · data · u32 masked CRC32C
//! of the data`, where the mask is `((crc >> 15) | (crc << 17)) + 0xa282ead8`. Each record is a
//! protobuf `Event`: the first has `file_version = "brain.Event:2"`, the others a `Summary` of
//! `simple_value` scalars, or plugin data (hyper-parameters: the `hparams` plugin's
//! `SessionStartInfo`, and a `text` summary with the same settings as a Markdown table).

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result};
use prost::Message;

use crate::train::{EpochEnd, RunStart, StepEvent, TrainObserver};

/// `Event` (event.proto), with the members of its `what` one-of used here.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Event {
    /// Seconds since the Unix epoch.
    #[prost(double, tag = "1")]
    pub wall_time: f64,
    /// The x-axis value of the summary (global step or epoch).
    #[prost(int64, tag = "2")]
    pub step: i64,
    /// `"brain.Event:2"` in a file's first event.
    #[prost(string, optional, tag = "3")]
    pub file_version: Option<String>,
    /// Scalars or plugin data.
    #[prost(message, optional, tag = "5")]
    pub summary: Option<Summary>,
}

/// `Summary` (summary.proto): a list of tagged values.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Summary {
    /// The values, each with its tag.
    #[prost(message, repeated, tag = "1")]
    pub value: Vec<SummaryValue>,
}

/// `Summary.Value`: a scalar (`simple_value`) or plugin data with a tensor.
#[derive(Clone, PartialEq, prost::Message)]
pub struct SummaryValue {
    /// The series' name ("epoch/valid_acc").
    #[prost(string, tag = "1")]
    pub tag: String,
    /// A scalar (always written when set, 0.0 included).
    #[prost(float, optional, tag = "2")]
    pub simple_value: Option<f32>,
    /// Plugin data's tensor (the text plugin's string).
    #[prost(message, optional, tag = "8")]
    pub tensor: Option<TensorProto>,
    /// Which plugin reads the value.
    #[prost(message, optional, tag = "9")]
    pub metadata: Option<SummaryMetadata>,
}

/// `SummaryMetadata`: which plugin reads the value.
#[derive(Clone, PartialEq, prost::Message)]
pub struct SummaryMetadata {
    /// The plugin and its serialized content.
    #[prost(message, optional, tag = "1")]
    pub plugin_data: Option<PluginData>,
}

/// `SummaryMetadata.PluginData`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct PluginData {
    /// "hparams", "text", ...
    #[prost(string, tag = "1")]
    pub plugin_name: String,
    /// The plugin's own protobuf message, serialized.
    #[prost(bytes = "vec", tag = "2")]
    pub content: Vec<u8>,
}

/// `TensorProto`, for a scalar string tensor (`dtype` 7 = `DT_STRING`).
#[derive(Clone, PartialEq, prost::Message)]
pub struct TensorProto {
    /// `DataType` enum value (7 = `DT_STRING`).
    #[prost(int32, tag = "1")]
    pub dtype: i32,
    /// The shape (none: a scalar).
    #[prost(message, optional, tag = "2")]
    pub tensor_shape: Option<TensorShape>,
    /// The strings of a `DT_STRING` tensor.
    #[prost(bytes = "vec", repeated, tag = "8")]
    pub string_val: Vec<Vec<u8>>,
}

/// `TensorShapeProto` (no dimension: a scalar).
#[derive(Clone, PartialEq, prost::Message)]
pub struct TensorShape {}

/// `HParamsPluginData` (tensorboard/plugins/hparams/plugin_data.proto), with its
/// `session_start_info` member.
#[derive(Clone, PartialEq, prost::Message)]
pub struct HParamsPluginData {
    /// 0, the only version.
    #[prost(int32, tag = "1")]
    pub version: i32,
    /// The run's hyper-parameters.
    #[prost(message, optional, tag = "3")]
    pub session_start_info: Option<SessionStartInfo>,
}

/// `SessionStartInfo`: the run's hyper-parameter values.
#[derive(Clone, PartialEq, prost::Message)]
pub struct SessionStartInfo {
    /// Name → value.
    #[prost(btree_map = "string, message", tag = "1")]
    pub hparams: std::collections::BTreeMap<String, HParamValue>,
    /// Seconds since the Unix epoch.
    #[prost(double, tag = "5")]
    pub start_time_secs: f64,
}

/// `google.protobuf.Value`, with the members used for hyper-parameters.
#[derive(Clone, PartialEq, prost::Message)]
pub struct HParamValue {
    /// A number.
    #[prost(double, optional, tag = "2")]
    pub number_value: Option<f64>,
    /// A string (lists and objects as their JSON text, `null` as "none").
    #[prost(string, optional, tag = "3")]
    pub string_value: Option<String>,
    /// A boolean.
    #[prost(bool, optional, tag = "4")]
    pub bool_value: Option<bool>,
}

/// The tag of the hyper-parameters for the hparams plugin (as TensorFlow and PyTorch write it).
pub const HPARAMS_TAG: &str = "_hparams_/session_start_info";
/// The tag of the hyper-parameters as a text summary.
pub const TEXT_HPARAMS_TAG: &str = "hyperparameters/text_summary";

const MASK_DELTA: u32 = 0xa282_ead8;

/// TFRecord's masked CRC32C (Castagnoli) of `data`.
pub fn masked_crc32c(data: &[u8]) -> u32 {
    let crc = crc32c::crc32c(data);
    crc.rotate_right(15).wrapping_add(MASK_DELTA)
}

/// One TFRecord: length, masked CRC of the length, data, masked CRC of the data.
pub fn encode_record(data: &[u8]) -> Vec<u8> {
    let len = (data.len() as u64).to_le_bytes();
    let mut out = Vec::with_capacity(data.len() + 16);
    out.extend_from_slice(&len);
    out.extend_from_slice(&masked_crc32c(&len).to_le_bytes());
    out.extend_from_slice(data);
    out.extend_from_slice(&masked_crc32c(data).to_le_bytes());
    out
}

/// Reads every event of a TensorBoard event file, checking both CRCs of every record.
///
/// # Errors
/// The file cannot be read; a record is cut short, has a wrong CRC or is not an `Event`
/// (the error names the file and the record's byte offset).
pub fn read_events(path: &Path) -> Result<Vec<Event>> {
    let bytes = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    let mut events = Vec::new();
    let mut at = 0usize;
    while at < bytes.len() {
        let bad = |what: &str| anyhow::anyhow!("{}: record at byte {at}: {what}", path.display());
        let header = bytes.get(at..at + 12).ok_or_else(|| bad("cut short"))?;
        let len_bytes = &header[..8];
        let len = u64::from_le_bytes(len_bytes.try_into().expect("8 bytes")) as usize;
        let len_crc = u32::from_le_bytes(header[8..12].try_into().expect("4 bytes"));
        if masked_crc32c(len_bytes) != len_crc {
            return Err(bad("the CRC of the length does not match"));
        }
        let end = at
            .checked_add(12 + len + 4)
            .filter(|&e| e <= bytes.len())
            .ok_or_else(|| bad("cut short"))?;
        let data = &bytes[at + 12..at + 12 + len];
        let data_crc = u32::from_le_bytes(bytes[end - 4..end].try_into().expect("4 bytes"));
        if masked_crc32c(data) != data_crc {
            return Err(bad("the CRC of the data does not match"));
        }
        events.push(Event::decode(data).map_err(|e| bad(&format!("not an Event: {e}")))?);
        at = end;
    }
    Ok(events)
}

/// The `(tag, step, value)` of every scalar (`simple_value`) in `events`, in file order.
pub fn scalars(events: &[Event]) -> Vec<(String, i64, f32)> {
    events
        .iter()
        .flat_map(|e| {
            e.summary.iter().flat_map(move |s| {
                s.value
                    .iter()
                    .filter_map(move |v| v.simple_value.map(|x| (v.tag.clone(), e.step, x)))
            })
        })
        .collect()
}

/// The event files (`*tfevents*`) in `dir`, sorted by name.
///
/// # Errors
/// `dir` cannot be read.
pub fn event_files(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .with_context(|| format!("cannot read {}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.file_name()
                .is_some_and(|n| n.to_string_lossy().contains("tfevents"))
        })
        .collect();
    files.sort();
    Ok(files)
}

fn now_secs() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

/// The machine's name for event file names (`/etc/hostname`, `$HOSTNAME`, else "localhost"),
/// reduced to characters safe in a file name.
fn host_name() -> String {
    let raw = std::fs::read_to_string("/etc/hostname")
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_default();
    let clean: String = raw
        .trim()
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        .collect();
    if clean.is_empty() {
        "localhost".into()
    } else {
        clean
    }
}

/// Writes a run's TensorBoard event file while it trains (a [`TrainObserver`]):
///
/// | tag | step | value |
/// |---|---|---|
/// | `epoch/train_loss`, `epoch/valid_loss` | epoch | mean cross-entropy (nats) |
/// | `epoch/train_acc`, `epoch/valid_acc`, `epoch/valid_macro_f1` | epoch | in [0, 1] |
/// | `epoch/lr`, `epoch/examples_per_s`, `epoch/seconds` | epoch | learning rate, training throughput, wall-clock seconds |
/// | `step/train_loss`, `step/lr`, `step/examples_per_s` | global step | batch loss, every `every` steps and at each epoch's last step |
/// | `_hparams_/session_start_info`, `hyperparameters/text_summary` | 0 | the settings (hparams plugin, text plugin) |
///
/// I/O errors do not stop training: the first one is kept, later events are dropped, and
/// [`finish`](Self::finish) returns it.
pub struct TensorBoardWriter {
    dir: PathBuf,
    /// The event file, once opened.
    path: Option<PathBuf>,
    out: Option<BufWriter<File>>,
    every: u64,
    error: Option<anyhow::Error>,
}

impl TensorBoardWriter {
    /// A writer that creates `dir` (and parents) and its event file at the first event, so
    /// that a run that fails before training leaves nothing behind. Step scalars are logged
    /// every `every` steps (at least 1).
    pub fn deferred(dir: &Path, every: usize) -> TensorBoardWriter {
        TensorBoardWriter {
            dir: dir.to_path_buf(),
            path: None,
            out: None,
            every: every.max(1) as u64,
            error: None,
        }
    }

    /// Creates `dir` (and parents) and a new event file in it now, and writes its version
    /// event.
    ///
    /// # Errors
    /// The directory or the file cannot be created or written.
    pub fn create(dir: &Path, every: usize) -> Result<TensorBoardWriter> {
        let mut writer = TensorBoardWriter::deferred(dir, every);
        writer.open();
        writer.flush();
        match writer.error.take() {
            Some(e) => Err(e),
            None => Ok(writer),
        }
    }

    fn open(&mut self) {
        let wall = now_secs();
        let path = self.dir.join(format!(
            "events.out.tfevents.{}.{}.{}",
            wall as u64,
            host_name(),
            std::process::id()
        ));
        let opened = std::fs::create_dir_all(&self.dir)
            .with_context(|| {
                format!(
                    "cannot create the TensorBoard directory {}",
                    self.dir.display()
                )
            })
            .and_then(|()| {
                File::create_new(&path).with_context(|| format!("cannot create {}", path.display()))
            });
        self.path = Some(path);
        match opened {
            Ok(file) => {
                self.out = Some(BufWriter::new(file));
                self.write(&Event {
                    wall_time: wall,
                    step: 0,
                    file_version: Some("brain.Event:2".into()),
                    summary: None,
                });
            }
            Err(e) => self.error = Some(e),
        }
    }

    /// The event file, once opened.
    pub fn path(&self) -> Option<&Path> {
        self.path.as_deref()
    }

    fn write(&mut self, event: &Event) {
        if self.path.is_none() {
            self.open();
        }
        if let Some(out) = &mut self.out
            && let Err(e) = out.write_all(&encode_record(&event.encode_to_vec()))
        {
            self.fail(e);
        }
    }

    fn flush(&mut self) {
        if let Some(out) = &mut self.out
            && let Err(e) = out.flush()
        {
            self.fail(e);
        }
    }

    fn fail(&mut self, e: std::io::Error) {
        self.out = None;
        let path = self
            .path
            .as_deref()
            .unwrap_or(&self.dir)
            .display()
            .to_string();
        self.error = Some(anyhow::Error::new(e).context(format!("cannot write {path}")));
    }

    /// Writes one event of scalars at `step`.
    pub fn add_scalars(&mut self, step: i64, values: &[(&str, f64)]) {
        let summary = Summary {
            value: values
                .iter()
                .map(|(tag, v)| SummaryValue {
                    tag: (*tag).to_string(),
                    simple_value: Some(*v as f32),
                    ..SummaryValue::default()
                })
                .collect(),
        };
        self.write(&Event {
            wall_time: now_secs(),
            step,
            file_version: None,
            summary: Some(summary),
        });
    }

    /// Writes the hyper-parameters: numbers, strings and booleans of `settings` (a JSON
    /// object; lists and nested values as their JSON text) for the hparams plugin, and all of
    /// them as a Markdown table for the text plugin.
    pub fn add_hparams(&mut self, settings: &serde_json::Value) {
        let mut hparams = std::collections::BTreeMap::new();
        let mut table = String::from("| setting | value |\n|---|---|\n");
        if let Some(map) = settings.as_object() {
            for (key, v) in map {
                let value = match v {
                    serde_json::Value::Number(n) => HParamValue {
                        number_value: n.as_f64(),
                        ..HParamValue::default()
                    },
                    serde_json::Value::Bool(b) => HParamValue {
                        bool_value: Some(*b),
                        ..HParamValue::default()
                    },
                    serde_json::Value::String(s) => HParamValue {
                        string_value: Some(s.clone()),
                        ..HParamValue::default()
                    },
                    serde_json::Value::Null => HParamValue {
                        string_value: Some("none".into()),
                        ..HParamValue::default()
                    },
                    other => HParamValue {
                        string_value: Some(other.to_string()),
                        ..HParamValue::default()
                    },
                };
                hparams.insert(key.clone(), value);
                let shown = match v {
                    serde_json::Value::String(s) => s.clone(),
                    other => other.to_string(),
                };
                table.push_str(&format!("| {key} | {} |\n", shown.replace('|', "\\|")));
            }
        }
        let wall = now_secs();
        let content = HParamsPluginData {
            version: 0,
            session_start_info: Some(SessionStartInfo {
                hparams,
                start_time_secs: wall,
            }),
        }
        .encode_to_vec();
        let plugin = |name: &str, content: Vec<u8>| {
            Some(SummaryMetadata {
                plugin_data: Some(PluginData {
                    plugin_name: name.into(),
                    content,
                }),
            })
        };
        let summary = Summary {
            value: vec![
                SummaryValue {
                    tag: HPARAMS_TAG.into(),
                    metadata: plugin("hparams", content),
                    ..SummaryValue::default()
                },
                SummaryValue {
                    tag: TEXT_HPARAMS_TAG.into(),
                    metadata: plugin("text", Vec::new()),
                    tensor: Some(TensorProto {
                        dtype: 7,
                        tensor_shape: Some(TensorShape {}),
                        string_val: vec![table.into_bytes()],
                    }),
                    ..SummaryValue::default()
                },
            ],
        };
        self.write(&Event {
            wall_time: wall,
            step: 0,
            file_version: None,
            summary: Some(summary),
        });
        self.flush();
    }

    /// Flushes the file; returns its path (none when no event was written), or the first
    /// I/O error met.
    ///
    /// # Errors
    /// The file could not be created or written at some point of the run.
    pub fn finish(mut self) -> Result<Option<PathBuf>> {
        self.flush();
        match self.error.take() {
            Some(e) => Err(e),
            None => Ok(self.path.clone()),
        }
    }
}

impl TrainObserver for TensorBoardWriter {
    fn run_started(&mut self, run: &RunStart) {
        // A resumed run logs its settings again: the same values, in its own event file.
        let mut settings = run.hyperparameters.clone();
        if let Some(map) = settings.as_object_mut() {
            map.insert("num_params".into(), run.num_params.into());
            // The epoch cap and patience in force, automatic or not.
            map.insert("epochs".into(), run.max_epochs.into());
            map.insert("patience".into(), run.patience.into());
            map.insert("word_dropout".into(), run.word_dropout.into());
            map.insert("train_examples".into(), run.train_examples.into());
            map.insert("classes".into(), run.labels.len().into());
        }
        self.add_hparams(&settings);
    }

    fn step(&mut self, e: &StepEvent) {
        if e.global_step.is_multiple_of(self.every) || e.step == e.steps {
            self.add_scalars(
                e.global_step as i64,
                &[
                    ("step/train_loss", e.loss),
                    ("step/lr", f64::from(e.lr)),
                    ("step/examples_per_s", e.examples_per_s),
                ],
            );
        }
    }

    fn epoch_finished(&mut self, e: &EpochEnd) {
        let m = e.metrics;
        self.add_scalars(
            m.epoch as i64,
            &[
                ("epoch/train_loss", m.train_loss),
                ("epoch/train_acc", m.train_acc),
                ("epoch/valid_loss", m.valid_loss),
                ("epoch/valid_acc", m.valid_acc),
                ("epoch/valid_macro_f1", m.valid_macro_f1),
                ("epoch/lr", f64::from(m.lr)),
                ("epoch/examples_per_s", m.examples_per_s),
                ("epoch/seconds", m.seconds),
            ],
        );
        if let Some(f1) = m.valid_micro_f1 {
            self.add_scalars(m.epoch as i64, &[("epoch/valid_micro_f1", f1)]);
        }
        self.flush();
    }

    fn interrupted(&mut self) {
        self.flush();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masked_crc_matches_tensorflow() {
        // CRC32C("123456789") = 0xe3069283 (the standard check value); masked by hand:
        // rotate right 15 → 0x2507c60d, + 0xa282ead8 = 0xc78ab0e5.
        assert_eq!(crc32c::crc32c(b"123456789"), 0xe306_9283);
        assert_eq!(masked_crc32c(b"123456789"), 0xc78a_b0e5);
    }

    #[test]
    fn version_event_bytes_are_the_known_encoding() {
        let e = Event {
            wall_time: 0.0,
            step: 0,
            file_version: Some("brain.Event:2".into()),
            summary: None,
        };
        // Field 3, wire type 2 (0x1a), length 13, the string; zero wall_time and step are
        // left out (proto3).
        let mut want = vec![0x1a, 13];
        want.extend_from_slice(b"brain.Event:2");
        assert_eq!(e.encode_to_vec(), want);
        let rec = encode_record(&want);
        assert_eq!(rec.len(), 8 + 4 + 15 + 4);
        assert_eq!(&rec[..8], &15u64.to_le_bytes());
    }

    #[test]
    fn a_zero_scalar_is_still_written() {
        let v = SummaryValue {
            tag: "a".into(),
            simple_value: Some(0.0),
            ..SummaryValue::default()
        };
        // tag (0x0a 1 'a') then field 2, wire type 5 (0x15) and four zero bytes.
        assert_eq!(v.encode_to_vec(), vec![0x0a, 1, b'a', 0x15, 0, 0, 0, 0]);
    }

    #[test]
    fn written_scalars_and_hparams_read_back() {
        let dir = tempfile::tempdir().unwrap();
        let mut w = TensorBoardWriter::create(&dir.path().join("tb"), 2).unwrap();
        w.add_hparams(&serde_json::json!({"lr": 0.001, "arch": "kim", "bucket": true, "region_sizes": [3, 4]}));
        w.add_scalars(3, &[("epoch/valid_acc", 0.875), ("epoch/valid_loss", 0.25)]);
        let path = w.finish().unwrap().unwrap();
        assert_eq!(
            event_files(&dir.path().join("tb")).unwrap(),
            vec![path.clone()]
        );
        let events = read_events(&path).unwrap();
        assert_eq!(events.len(), 3);
        assert_eq!(events[0].file_version.as_deref(), Some("brain.Event:2"));
        assert_eq!(
            scalars(&events),
            vec![
                ("epoch/valid_acc".to_string(), 3, 0.875),
                ("epoch/valid_loss".to_string(), 3, 0.25)
            ]
        );
        let values = &events[1].summary.as_ref().unwrap().value;
        let meta = values[0]
            .metadata
            .as_ref()
            .unwrap()
            .plugin_data
            .as_ref()
            .unwrap();
        assert_eq!(meta.plugin_name, "hparams");
        let data = HParamsPluginData::decode(meta.content.as_slice()).unwrap();
        let h = data.session_start_info.unwrap().hparams;
        assert_eq!(h["lr"].number_value, Some(0.001));
        assert_eq!(h["arch"].string_value.as_deref(), Some("kim"));
        assert_eq!(h["bucket"].bool_value, Some(true));
        assert_eq!(h["region_sizes"].string_value.as_deref(), Some("[3,4]"));
        let text = &values[1].tensor.as_ref().unwrap().string_val[0];
        assert!(String::from_utf8_lossy(text).contains("| region_sizes | [3,4] |"));
    }

    #[test]
    fn a_corrupt_record_is_reported_with_its_offset() {
        let dir = tempfile::tempdir().unwrap();
        let mut w = TensorBoardWriter::create(dir.path(), 1).unwrap();
        w.add_scalars(1, &[("x", 1.0)]);
        let path = w.finish().unwrap().unwrap();
        let mut bytes = std::fs::read(&path).unwrap();
        // The version record: wall_time (1 + 8 bytes) and file_version (2 + 13) in 12 + 24 + 4.
        let first = 12 + 24 + 4;
        let last = bytes.len() - 5;
        bytes[last] ^= 1;
        std::fs::write(&path, &bytes).unwrap();
        let err = read_events(&path).unwrap_err().to_string();
        assert!(
            err.contains(&format!(
                "record at byte {first}: the CRC of the data does not match"
            )),
            "{err}"
        );
        bytes.truncate(bytes.len() - 2);
        std::fs::write(&path, &bytes).unwrap();
        let err = read_events(&path).unwrap_err().to_string();
        assert!(err.contains("cut short"), "{err}");
    }
}
