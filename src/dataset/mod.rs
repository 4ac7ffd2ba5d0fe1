//! Labelled transactions read from a CSV in the ULB/Kaggle credit-card schema, plain or gzip.
//!
//! Columns are found by header name; `Class` may be quoted (`"0"`/`"1"`). Every bad cell is
//! reported with its file, line and column.

use std::fs::File;
use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::sync::{Arc, mpsc};
use std::thread;

use flate2::read::MultiGzDecoder;
use indicatif::{ProgressBar, ProgressStyle};
use ndarray::Array2;
use sha2::{Digest, Sha256};

use crate::schema::{ColumnMap, FEATURE_NAMES, LABEL_NAME, N_FEATURES};

mod gunzip;
mod layout;
mod numeric;

use layout::{Layout, Parsed};

/// Why a labelled CSV could not be read.
#[derive(Debug, thiserror::Error)]
pub enum DatasetError {
    #[error("cannot open {path}")]
    Open { path: PathBuf, source: io::Error },
    #[error("{path}: cannot read line {line}")]
    Read { path: PathBuf, line: u64, source: csv::Error },
    #[error("{path}: cannot decompress")]
    Decode { path: PathBuf, source: io::Error },
    #[error("{path}: the file is empty (no header row)")]
    Empty { path: PathBuf },
    #[error("{path}: header has {missing}; expected columns {expected}")]
    MissingColumns { path: PathBuf, missing: String, expected: String },
    #[error("{path} line {line}: row has {found} fields, the header has {expected}")]
    Width { path: PathBuf, line: u64, expected: usize, found: usize },
    #[error("{path} line {line}, column {column}: {value:?} is not a number")]
    NotANumber { path: PathBuf, line: u64, column: String, value: String },
    #[error("{path} line {line}, column {column}: {value} is not a finite number")]
    NotFinite { path: PathBuf, line: u64, column: String, value: String },
    #[error("{path} line {line}, column {LABEL_NAME}: {value:?} is not a class (expected 0 or 1)")]
    BadClass { path: PathBuf, line: u64, value: String },
    #[error("{path}: no data rows after the header")]
    NoRows { path: PathBuf },
}

/// Labelled rows: features in `FEATURE_NAMES` order, `true` for fraud.
#[derive(Debug, Clone)]
pub struct Labelled {
    pub features: Array2<f64>,
    pub labels: Vec<bool>,
    /// sha256 of the file's bytes as stored (compressed bytes for a `.gz`).
    pub sha256: String,
}

impl Labelled {
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    pub fn frauds(&self) -> usize {
        self.labels.iter().filter(|l| **l).count()
    }

    /// The rows at `idx`, in that order.
    pub fn select(&self, idx: &[usize]) -> Labelled {
        Labelled {
            features: self.features.select(ndarray::Axis(0), idx),
            labels: idx.iter().map(|&i| self.labels[i]).collect(),
            sha256: self.sha256.clone(),
        }
    }
}

/// Reads a labelled CSV (gzip is detected from the content, not the name). `progress` shows a
/// bar on stderr when stderr is a terminal.
pub fn read_labelled(path: &Path, progress: bool) -> Result<Labelled, DatasetError> {
    read(path, progress, true)
}

/// Reads the feature columns of a CSV, labelled or not.
pub fn read_features(path: &Path) -> Result<Array2<f64>, DatasetError> {
    Ok(read(path, false, false)?.features)
}

/// Reads the feature columns of a CSV, and its labels when it has a label column.
pub fn read_maybe_labelled(path: &Path) -> Result<(Array2<f64>, Option<Vec<bool>>), DatasetError> {
    let t = read(path, false, false)?;
    // The labels are read whenever the column is there, so there is one per row or none.
    let labels = (t.labels.len() == t.features.nrows()).then_some(t.labels);
    Ok((t.features, labels))
}

/// Size of the blocks passed between the reading stages.
const BLOCK: usize = 1 << 20;

/// Reads in three stages on their own threads, so they overlap: the file's bytes are read and
/// hashed; then cut into blocks of whole lines (a gzip file is first decompressed whole, by
/// libdeflate); then parsed on two workers, by the fast path for plain numeric CSV or else the
/// csv crate. Fields may be quoted but may not contain line breaks (no numeric field does).
fn read(path: &Path, progress: bool, labelled: bool) -> Result<Labelled, DatasetError> {
    let open_err = |source| DatasetError::Open { path: path.to_path_buf(), source };
    let mut file = File::open(path).map_err(open_err)?;
    let size = file.metadata().map_err(open_err)?.len();
    let bar = if progress { ProgressBar::new(size) } else { ProgressBar::hidden() };
    bar.set_style(
        ProgressStyle::with_template("reading {msg} {wide_bar} {bytes}/{total_bytes} {eta}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    bar.set_message(path.display().to_string());

    // The hash runs on its own thread, so a gzip file reaches the decompressor at the speed of
    // the disk (or page cache), and is hashed while it is decompressed.
    let (raw_tx, raw_rx) = mpsc::sync_channel::<Arc<Vec<u8>>>(8);
    let (hash_tx, hash_rx) = mpsc::channel::<Arc<Vec<u8>>>();
    let reader_bar = bar.clone();
    let started = std::time::Instant::now();
    let hasher = thread::spawn(move || {
        let mut digest = Sha256::new();
        for block in hash_rx {
            digest.update(&block[..]);
        }
        tracing::debug!(stage = "hash", seconds = started.elapsed().as_secs_f64(), "read stage done");
        format!("{:x}", digest.finalize())
    });
    let reader = thread::spawn(move || -> io::Result<()> {
        loop {
            let mut block = vec![0; BLOCK];
            let n = read_full(&mut file, &mut block)?;
            if n == 0 {
                break;
            }
            block.truncate(n);
            reader_bar.inc(n as u64);
            let block = Arc::new(block);
            // The hasher outlives the reader; a send error cannot happen while it runs.
            let _ = hash_tx.send(Arc::clone(&block));
            if raw_tx.send(block).is_err() {
                break; // the parser stopped early (a bad row)
            }
        }
        tracing::debug!(stage = "read", seconds = started.elapsed().as_secs_f64(), "read stage done");
        Ok(())
    });
    let (lines_tx, lines_rx) = mpsc::sync_channel::<Block>(8);
    let splitter = thread::spawn(move || -> io::Result<()> {
        let mut raw = BlockReader { rx: raw_rx, block: Arc::new(Vec::new()), pos: 0 };
        let gzip = raw.starts_with_gzip_magic();
        let mut input: Box<dyn Read> = if gzip {
            let mut compressed = Vec::with_capacity(usize::try_from(size).unwrap_or(0));
            raw.read_to_end(&mut compressed)?;
            let t = std::time::Instant::now();
            match gunzip::gunzip(&compressed) {
                Some(text) => {
                    tracing::debug!(stage = "gunzip", seconds = t.elapsed().as_secs_f64(), "read stage done");
                    Box::new(io::Cursor::new(text))
                }
                // Not whole gzip: the streaming decoder reads as far as it can and says why it stops.
                None => Box::new(MultiGzDecoder::new(io::Cursor::new(compressed))),
            }
        } else {
            Box::new(raw)
        };
        let mut carry: Vec<u8> = Vec::new();
        let (mut seq, mut first_line) = (0usize, 1u64);
        let mut send = |bytes: Vec<u8>| {
            let lines = memchr::memchr_iter(b'\n', &bytes).count() as u64;
            let block = Block { seq, first_line, bytes };
            seq += 1;
            first_line += lines;
            lines_tx.send(block).is_ok()
        };
        loop {
            let mut block = std::mem::take(&mut carry);
            let start = block.len();
            block.resize(start + BLOCK, 0);
            let n = read_full(&mut input, &mut block[start..])?;
            block.truncate(start + n);
            if n == 0 {
                if !block.is_empty() {
                    send(block);
                }
                tracing::debug!(stage = "split", seconds = started.elapsed().as_secs_f64(), "read stage done");
                return Ok(());
            }
            // Keep the partial last line for the next block.
            if let Some(last) = memchr::memrchr(b'\n', &block) {
                carry = block[last + 1..].to_vec();
                block.truncate(last + 1);
            } else {
                carry = block;
                continue;
            }
            if !send(block) {
                return Ok(());
            }
        }
    });
    let result = parse(path, lines_rx, labelled);
    bar.finish_and_clear();
    let split_result = splitter.join().unwrap_or_else(|p| std::panic::resume_unwind(p));
    let read_result = reader.join().unwrap_or_else(|p| std::panic::resume_unwind(p));
    let sha256 = hasher.join().unwrap_or_else(|p| std::panic::resume_unwind(p));
    // A broken stream first: it explains whatever the parser then made of the pieces.
    split_result.map_err(|source| DatasetError::Decode { path: path.to_path_buf(), source })?;
    read_result.map_err(open_err)?;
    let (features, labels) = result?;
    Ok(Labelled { features, labels, sha256 })
}

/// Reads until `buf` is full or the input ends.
fn read_full<R: Read + ?Sized>(r: &mut R, buf: &mut [u8]) -> io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

/// The raw blocks of the reading stage, as a `Read`.
struct BlockReader {
    rx: mpsc::Receiver<Arc<Vec<u8>>>,
    block: Arc<Vec<u8>>,
    pos: usize,
}

impl BlockReader {
    fn fill(&mut self) -> bool {
        while self.pos >= self.block.len() {
            match self.rx.recv() {
                Ok(b) => {
                    self.block = b;
                    self.pos = 0;
                }
                Err(_) => return false,
            }
        }
        true
    }

    fn starts_with_gzip_magic(&mut self) -> bool {
        self.fill() && self.block.len() >= 2 && self.block[0] == 0x1f && self.block[1] == 0x8b
    }
}

impl Read for BlockReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if !self.fill() {
            return Ok(0);
        }
        let n = buf.len().min(self.block.len() - self.pos);
        buf[..n].copy_from_slice(&self.block[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

/// A run of whole lines and where it stands in the file.
struct Block {
    seq: usize,
    /// 1-based line number of its first line.
    first_line: u64,
    bytes: Vec<u8>,
}

/// Parses the header here, then the blocks on two workers; the rows come back in file order,
/// and the first bad row in file order is the one reported.
fn parse(path: &Path, blocks: mpsc::Receiver<Block>, labelled: bool) -> Result<(Array2<f64>, Vec<bool>), DatasetError> {
    let path_buf = || path.to_path_buf();
    let Ok(mut first) = blocks.recv() else {
        return Err(DatasetError::Empty { path: path_buf() });
    };
    let header_end = memchr::memchr(b'\n', &first.bytes).map_or(first.bytes.len(), |i| i + 1);
    let header_line: Vec<u8> = first.bytes.drain(..header_end).collect();
    first.first_line += 1;
    let headers = csv::ReaderBuilder::new()
        .has_headers(false)
        .from_reader(&header_line[..])
        .byte_records()
        .next()
        .transpose()
        .map_err(|source| DatasetError::Read { path: path_buf(), line: 1, source })?
        .unwrap_or_default();
    if headers.is_empty() || (headers.len() == 1 && headers[0].trim_ascii().is_empty()) {
        return Err(DatasetError::Empty { path: path_buf() });
    }
    let names: Vec<String> = headers.iter().map(|h| String::from_utf8_lossy(h).trim().to_string()).collect();
    let label_col = names.iter().position(|n| n == LABEL_NAME);
    let map = ColumnMap::from_names(names.iter().map(String::as_str));
    let layout = match (map, label_col) {
        (Ok(map), label_col) if label_col.is_some() || !labelled => Layout { map, label_col, width: headers.len() },
        (map, label) => {
            let mut missing: Vec<&str> = map.err().map(|m| m.0).unwrap_or_default();
            if label.is_none() && labelled {
                missing.push(LABEL_NAME);
            }
            return Err(DatasetError::MissingColumns {
                path: path_buf(),
                missing: format!("no column(s) {}", missing.join(", ")),
                expected: if labelled {
                    format!("{},{LABEL_NAME}", FEATURE_NAMES.join(","))
                } else {
                    FEATURE_NAMES.join(",")
                },
            });
        }
    };

    let queue = std::sync::Mutex::new(blocks);
    let next = || queue.lock().ok().and_then(|rx| rx.recv().ok());
    let mut results: Vec<(usize, Result<Parsed, DatasetError>)> = vec![(first.seq, parse_any(path, &first, &layout))];
    thread::scope(|scope| {
        let workers: Vec<_> = (0..2)
            .map(|_| {
                scope.spawn(|| {
                    let mut done = Vec::new();
                    while let Some(block) = next() {
                        done.push((block.seq, parse_any(path, &block, &layout)));
                    }
                    done
                })
            })
            .collect();
        for w in workers {
            results.extend(w.join().unwrap_or_else(|p| std::panic::resume_unwind(p)));
        }
    });
    results.sort_unstable_by_key(|(seq, _)| *seq);
    let t = std::time::Instant::now();

    let mut all = Parsed::default();
    for (_, parsed) in results {
        let parsed = parsed?;
        if all.values.is_empty() {
            all.values.reserve(parsed.values.len() * 300);
        }
        all.values.extend_from_slice(&parsed.values);
        all.labels.extend_from_slice(&parsed.labels);
        all.rows += parsed.rows;
    }
    tracing::debug!(stage = "concat", seconds = t.elapsed().as_secs_f64(), "read stage done");
    if all.rows == 0 {
        return Err(DatasetError::NoRows { path: path_buf() });
    }
    let features = Array2::from_shape_vec((all.rows, N_FEATURES), all.values)
        .map_err(|_| DatasetError::NoRows { path: path_buf() })?;
    Ok((features, all.labels))
}

/// The fast path when it takes the block, else the csv crate (which also reports the errors).
fn parse_any(path: &Path, block: &Block, layout: &Layout) -> Result<Parsed, DatasetError> {
    numeric::parse_block(&block.bytes, layout).map_or_else(|| parse_block(path, block, layout), Ok)
}

fn parse_block(path: &Path, block: &Block, layout: &Layout) -> Result<Parsed, DatasetError> {
    let path_buf = || path.to_path_buf();
    let mut out = Parsed { values: Vec::with_capacity(block.bytes.len() / 16), ..Default::default() };
    let mut reader = csv::ReaderBuilder::new().has_headers(false).flexible(true).from_reader(&block.bytes[..]);
    let mut record = csv::ByteRecord::new();
    loop {
        let more = reader.read_byte_record(&mut record).map_err(|source| DatasetError::Read {
            path: path_buf(),
            line: block.first_line + source.position().map_or(0, |p| p.line().saturating_sub(1)),
            source,
        })?;
        if !more {
            return Ok(out);
        }
        let line = block.first_line + record.position().map_or(0, |p| p.line().saturating_sub(1));
        if record.len() != layout.width {
            // A blank line reads as one empty field: not a row.
            if record.len() == 1 && record[0].trim_ascii().is_empty() {
                continue;
            }
            return Err(DatasetError::Width { path: path_buf(), line, expected: layout.width, found: record.len() });
        }
        for (j, name) in FEATURE_NAMES.iter().enumerate() {
            let col = layout.map.source(j);
            let value = parse_cell(&record[col]).map_err(|bad| {
                let column = name.to_string();
                let value = String::from_utf8_lossy(&record[col]).into_owned();
                match bad {
                    BadCell::NotANumber => DatasetError::NotANumber { path: path_buf(), line, column, value },
                    BadCell::NotFinite => DatasetError::NotFinite { path: path_buf(), line, column, value },
                }
            })?;
            out.values.push(value);
        }
        out.rows += 1;
        if let Some(label_col) = layout.label_col {
            out.labels.push(match record[label_col].trim_ascii() {
                b"0" | b"0.0" => false,
                b"1" | b"1.0" => true,
                other => {
                    return Err(DatasetError::BadClass {
                        path: path_buf(),
                        line,
                        value: String::from_utf8_lossy(other).into_owned(),
                    });
                }
            });
        }
    }
}

/// Why one cell is not a usable number.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BadCell {
    NotANumber,
    NotFinite,
}

/// Parses one numeric cell; surrounding blanks are allowed, NaN and infinities are not.
pub fn parse_cell(cell: &[u8]) -> Result<f64, BadCell> {
    // fast-float2 is correctly rounded, like std's parser, and reads bytes directly.
    let value: f64 = fast_float2::parse(cell.trim_ascii()).map_err(|_| BadCell::NotANumber)?;
    if value.is_finite() { Ok(value) } else { Err(BadCell::NotFinite) }
}

/// Lower-case hex of a digest.
#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn header() -> String {
        let mut cols = vec!["\"Time\"".to_string()];
        cols.extend(FEATURE_NAMES.iter().map(|f| format!("\"{f}\"")));
        cols.push("\"Class\"".into());
        cols.join(",")
    }

    fn row(time: f64, base: f64, class: u8) -> String {
        let mut cells = vec![time.to_string()];
        cells.extend((0..N_FEATURES).map(|j| (base + j as f64).to_string()));
        cells.push(format!("\"{class}\""));
        cells.join(",")
    }

    fn write(dir: &tempfile::TempDir, name: &str, text: &str) -> PathBuf {
        let path = dir.path().join(name);
        std::fs::write(&path, text).unwrap();
        path
    }

    #[test]
    fn reads_kaggle_layout_with_quoted_class() {
        let dir = tempfile::tempdir().unwrap();
        let text = format!("{}\n{}\n{}\n", header(), row(0.0, 1.0, 0), row(1.0, 2.0, 1));
        let t = read_labelled(&write(&dir, "a.csv", &text), false).unwrap();
        assert_eq!(t.labels, vec![false, true]);
        assert_eq!(t.features.shape(), &[2, N_FEATURES]);
        assert_eq!(t.features[[0, 0]], 1.0); // V1
        assert_eq!(t.features[[1, N_FEATURES - 1]], 2.0 + 28.0); // Amount
        // sha256 of the file as stored
        assert_eq!(t.sha256, format!("{:x}", Sha256::digest(text.as_bytes())));
    }

    #[test]
    fn reads_gzip_by_content() {
        let dir = tempfile::tempdir().unwrap();
        let text = format!("{}\n{}\n{}\n", header(), row(0.0, 1.0, 0), row(1.0, 2.0, 1));
        let path = dir.path().join("b.csv.gz");
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(text.as_bytes()).unwrap();
        let bytes = gz.finish().unwrap();
        std::fs::write(&path, &bytes).unwrap();
        let t = read_labelled(&path, false).unwrap();
        assert_eq!(t.len(), 2);
        assert_eq!(t.features[[1, 0]], 2.0);
        assert_eq!(t.sha256, format!("{:x}", Sha256::digest(&bytes)));
    }

    #[test]
    fn truncated_gzip_is_a_decode_error() {
        let dir = tempfile::tempdir().unwrap();
        let rows: Vec<String> = (0..5000).map(|i| row(i as f64, i as f64 * 0.001, (i % 2) as u8)).collect();
        let text = format!("{}\n{}\n", header(), rows.join("\n"));
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(text.as_bytes()).unwrap();
        let bytes = gz.finish().unwrap();
        let path = dir.path().join("t.csv.gz");
        std::fs::write(&path, &bytes[..bytes.len() / 2]).unwrap();
        let e = read_labelled(&path, false).unwrap_err();
        assert!(matches!(e, DatasetError::Decode { .. }), "{e}");
    }

    #[test]
    fn many_blocks_keep_every_row_and_line_numbers() {
        // Over 1 MiB, so the rows span several blocks of the reading pipeline.
        let dir = tempfile::tempdir().unwrap();
        let mut rows: Vec<String> = (0..20000).map(|i| row(i as f64, i as f64, (i % 3 == 0) as u8)).collect();
        let text = format!("{}\n{}\n", header(), rows.join("\n"));
        assert!(text.len() > 2 * BLOCK);
        let t = read_labelled(&write(&dir, "big.csv", &text), false).unwrap();
        assert_eq!(t.len(), 20000);
        assert_eq!(t.features[[19999, 0]], 19999.0);
        assert_eq!(t.frauds(), 6667);
        rows[15500] = rows[15500].replacen(",", ",x", 2);
        let text = format!("{}\n{}\n", header(), rows.join("\n"));
        let e = read_labelled(&write(&dir, "bad.csv", &text), false).unwrap_err().to_string();
        assert!(e.contains("line 15502, column V1"), "{e}");
    }

    #[test]
    fn finds_columns_by_name_whatever_their_order() {
        let dir = tempfile::tempdir().unwrap();
        let mut names: Vec<&str> = FEATURE_NAMES.to_vec();
        names.reverse();
        names.insert(0, "Class");
        let values: Vec<String> =
            std::iter::once("1".to_string()).chain((0..N_FEATURES).rev().map(|j| format!("{}", j * 10))).collect();
        let text = format!("{}\n{}\n", names.join(","), values.join(","));
        let t = read_labelled(&write(&dir, "c.csv", &text), false).unwrap();
        assert_eq!(t.features[[0, 0]], 0.0);
        assert_eq!(t.features[[0, 5]], 50.0);
        assert_eq!(t.labels, vec![true]);
    }

    fn error_for(text: &str) -> String {
        let dir = tempfile::tempdir().unwrap();
        read_labelled(&write(&dir, "bad.csv", text), false).unwrap_err().to_string()
    }

    #[test]
    fn reports_file_line_and_column_of_bad_cells() {
        let bad = row(0.0, 1.0, 0).replacen(",3,", ",abc,", 1); // V3
        let e = error_for(&format!("{}\n{}\n{}\n", header(), row(0.0, 1.0, 0), bad));
        assert!(e.contains("bad.csv line 3, column V3") && e.contains("\"abc\""), "{e}");

        let nan = row(0.0, 1.0, 0).replacen(",3,", ",NaN,", 1);
        let e = error_for(&format!("{}\n{}\n", header(), nan));
        assert!(e.contains("line 2, column V3: NaN is not a finite number"), "{e}");

        let inf = row(0.0, 1.0, 0).replacen(",3,", ",inf,", 1);
        assert!(error_for(&format!("{}\n{}\n", header(), inf)).contains("not a finite"));

        let class = row(0.0, 1.0, 0).replace("\"0\"", "\"yes\"");
        let e = error_for(&format!("{}\n{}\n", header(), class));
        assert!(e.contains("line 2, column Class: \"yes\" is not a class"), "{e}");
    }

    #[test]
    fn rejects_bad_shapes() {
        assert!(error_for("").contains("empty"));
        assert!(error_for(&format!("{}\n", header())).contains("no data rows"));
        let e = error_for(&format!("{}\n", header().replace("\"V7\",", "")));
        assert!(e.contains("no column(s) V7"), "{e}");
        let e = error_for(&format!("{}\n", header().replace(",\"Class\"", "")));
        assert!(e.contains("no column(s) Class"), "{e}");
        let short = row(0.0, 1.0, 0).replacen(",3,", ",", 1);
        let e = error_for(&format!("{}\n{}\n", header(), short));
        assert!(e.contains("line 2: row has 30 fields, the header has 31"), "{e}");
    }

    #[test]
    fn features_alone_need_no_class_column() {
        let dir = tempfile::tempdir().unwrap();
        let text = format!(
            "{}\n{}\n",
            FEATURE_NAMES.join(","),
            (0..N_FEATURES).map(|j| j.to_string()).collect::<Vec<_>>().join(",")
        );
        let x = read_features(&write(&dir, "f.csv", &text)).unwrap();
        assert_eq!(x.shape(), &[1, N_FEATURES]);
        assert_eq!(x[[0, 28]], 28.0);
        assert!(
            read_labelled(&dir.path().join("f.csv"), false).unwrap_err().to_string().contains("no column(s) Class")
        );
    }

    #[test]
    fn missing_file_names_the_path() {
        let e = read_labelled(Path::new("/nonexistent/x.csv"), false).unwrap_err();
        assert!(e.to_string().starts_with("cannot open /nonexistent/x.csv"), "{e}");
    }

    #[test]
    fn parse_cell_accepts_blanks_and_rejects_words() {
        assert_eq!(parse_cell(b" -1.5e3 "), Ok(-1500.0));
        assert_eq!(parse_cell(b""), Err(BadCell::NotANumber));
        assert_eq!(parse_cell(b"nan"), Err(BadCell::NotFinite));
        assert_eq!(parse_cell(b"\xff"), Err(BadCell::NotANumber));
    }
}
