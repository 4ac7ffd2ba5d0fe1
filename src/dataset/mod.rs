//! Transactions read from a file: CSV, plain or gzip, or Parquet ([`parquet`]), told apart by
//! their first bytes. Columns are found by header name: for
//! training, a [`Selection`] says which are the label, the id, the time and the features, and
//! the features' kinds come from the data; for scoring, a model's schema says. Every bad cell is
//! reported with its file, line and column.

use std::collections::BTreeSet;
use std::path::Path;
use std::sync::{Arc, mpsc};
use std::thread;

use ndarray::Array2;

use crate::decimal::{BadCell, parse_cell};
use crate::schema::{Feature, Schema};

mod columns;
mod error;
mod gunzip;
mod layout;
mod numeric;
mod parquet;
mod records;
pub(crate) use records::parse_class;
mod stages;

use columns::{Columns, Resolved};
pub use columns::{Need, Selection};
pub use error::DatasetError;
use layout::{Layout, Parsed, Role};
use stages::Block;

/// Labelled rows, and the schema their features follow.
#[derive(Debug, Clone)]
pub struct Labelled {
    pub schema: Arc<Schema>,
    /// One row per transaction, one column per feature, in the schema's order; a categorical
    /// feature's value is its code, missing values are NaN.
    pub features: Array2<f64>,
    /// `true` for fraud.
    pub labels: Vec<bool>,
    /// The id column's values, when the selection names one.
    pub ids: Option<Vec<String>>,
    /// sha256 of the file's bytes as stored (compressed bytes for a `.gz`).
    pub sha256: String,
    /// What the reader decided that the user should hear: columns read as categorical, names
    /// that matched nothing.
    pub notes: Vec<String>,
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
            schema: Arc::clone(&self.schema),
            features: self.features.select(ndarray::Axis(0), idx),
            labels: idx.iter().map(|&i| self.labels[i]).collect(),
            ids: self.ids.as_ref().map(|ids| idx.iter().map(|&i| ids[i].clone()).collect()),
            sha256: self.sha256.clone(),
            notes: self.notes.clone(),
        }
    }
}

/// Rows read against a model's schema: the labels and ids when the file has them.
#[derive(Debug, Clone)]
pub struct Table {
    pub features: Array2<f64>,
    pub labels: Option<Vec<bool>>,
    pub ids: Option<Vec<String>>,
    pub sha256: String,
}

/// Reads a training file: the columns `selection` names, the features' kinds from the data.
/// `progress` shows a bar on stderr when stderr is a terminal.
pub fn read_training(path: &Path, selection: &Selection, progress: bool) -> Result<Labelled, DatasetError> {
    let read = read(path, &Columns::Choose(selection), progress)?;
    Ok(Labelled {
        schema: read.schema,
        features: read.features,
        labels: read.labels,
        ids: read.ids,
        sha256: read.sha256,
        notes: read.notes,
    })
}

/// Reads a training file in the ULB/Kaggle layout: label `Class`, every column but `Time` a
/// feature.
pub fn read_labelled(path: &Path, progress: bool) -> Result<Labelled, DatasetError> {
    read_training(path, &Selection::default(), progress)
}

/// Reads a file against a model's schema: its features by name (all must be there), the label
/// and id columns as `labels` and `id` say.
pub fn read_table(
    path: &Path,
    schema: &Arc<Schema>,
    labels: Need,
    id: Option<(&str, Need)>,
    progress: bool,
) -> Result<Table, DatasetError> {
    let read = read(path, &Columns::Of { schema, labels, id }, progress)?;
    Ok(Table {
        features: read.features,
        labels: read.has_labels.then_some(read.labels),
        ids: read.ids,
        sha256: read.sha256,
    })
}

/// Reads every column of a file but `label` (when there) and `exclude`, each a number or a
/// category as its values are: the transactions as a producer sends them.
pub fn read_columns(
    path: &Path,
    label: &str,
    exclude: &[String],
    progress: bool,
) -> Result<(Arc<Schema>, Array2<f64>), DatasetError> {
    let read = read(path, &Columns::All { label, exclude }, progress)?;
    Ok((read.schema, read.features))
}

/// A text file's whole content (gzip decompressed) and the sha256 of its bytes as stored: for
/// readers that need every row at hand, such as the point-in-time features.
pub fn read_text(path: &Path, progress: bool) -> Result<(Vec<u8>, String), DatasetError> {
    let (blocks, stages) = stages::start(path, progress)?;
    let mut text = Vec::new();
    // One splitter sends the blocks, in file order.
    for block in blocks {
        text.extend_from_slice(&block.bytes);
    }
    let sha256 = stages.finish()?;
    if text.starts_with(b"\xef\xbb\xbf") {
        text.drain(..3);
    }
    Ok((text, sha256))
}

/// What [`read`] gives back.
struct Read {
    schema: Arc<Schema>,
    features: Array2<f64>,
    has_labels: bool,
    labels: Vec<bool>,
    ids: Option<Vec<String>>,
    sha256: String,
    notes: Vec<String>,
}

/// Reads in stages on their own threads, so they overlap (see [`stages`]); the blocks of lines
/// are parsed on two workers, by the fast path for plain numeric CSV or else the csv crate.
/// Fields may be quoted but may not contain line breaks.
fn read(path: &Path, columns: &Columns<'_>, progress: bool) -> Result<Read, DatasetError> {
    if parquet::is_parquet(path)? {
        let (resolved, blocks, sha256) = parquet::read(path, columns, progress)?;
        return finish(path, resolved, blocks, sha256);
    }
    let (blocks, stages) = stages::start(path, progress)?;
    let result = parse(path, blocks, columns);
    let sha256 = stages.finish()?;
    let (resolved, all) = result?;
    finish(path, resolved, all, sha256)
}

/// Parses the header here, then the blocks on two workers; the rows come back in file order,
/// and the first bad row in file order is the one reported.
fn parse(
    path: &Path,
    blocks: mpsc::Receiver<Block>,
    columns: &Columns<'_>,
) -> Result<(Resolved, Vec<Parsed>), DatasetError> {
    let path_buf = || path.to_path_buf();
    let Ok(mut first) = blocks.recv() else {
        return Err(DatasetError::Empty { path: path_buf() });
    };
    // A byte-order mark (as spreadsheets write) is not part of the first column's name.
    if first.bytes.starts_with(b"\xef\xbb\xbf") {
        first.bytes.drain(..3);
    }
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
    // A producer sends what it reads: any word makes a column text, with no typo allowed for.
    let numeric = looks_numeric(&first.bytes, names.len(), matches!(columns, Columns::All { .. }));
    let resolved = columns::resolve(path, &names, columns, &|c| numeric[c])?;
    let layout = &resolved.layout;

    let queue = std::sync::Mutex::new(blocks);
    let next = || queue.lock().ok().and_then(|rx| rx.recv().ok());
    let mut results: Vec<(usize, Result<Parsed, DatasetError>)> = vec![(first.seq, parse_any(path, &first, layout))];
    thread::scope(|scope| {
        let workers: Vec<_> = (0..2)
            .map(|_| {
                scope.spawn(|| {
                    let mut done = Vec::new();
                    while let Some(block) = next() {
                        done.push((block.seq, parse_any(path, &block, layout)));
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
    let parsed = results.into_iter().map(|(_, p)| p).collect::<Result<Vec<_>, _>>()?;
    Ok((resolved, parsed))
}

/// Per column: whether its cells in the first lines are numbers (booleans and blanks count as
/// numbers). A column of numbers with a stray word in it (at most 1 cell in 100, among at least
/// 100 numbers) is numbers with a typo, not categories: the parse then reports the cell, with
/// its line (unless `strict`). Read by the csv crate, so quoting is understood; a line it cannot read ends the
/// look (the parse reports it).
fn looks_numeric(bytes: &[u8], columns: usize, strict: bool) -> Vec<bool> {
    let (mut numbers, mut words) = (vec![0usize; columns], vec![0usize; columns]);
    let mut reader = csv::ReaderBuilder::new().has_headers(false).flexible(true).from_reader(bytes);
    for record in reader.byte_records() {
        let Ok(record) = record else { break };
        for (c, cell) in record.iter().enumerate().take(columns) {
            if cell.trim_ascii().is_empty() {
                continue;
            }
            // NaN and infinities are numbers the parse refuses, with its own message.
            if parse_cell(cell) == Err(BadCell::NotANumber) {
                words[c] += 1;
            } else {
                numbers[c] += 1;
            }
        }
    }
    numbers.iter().zip(&words).map(|(&n, &w)| w == 0 || (!strict && n >= 100 && w * 100 <= n)).collect()
}

/// The fast path when it takes the block, else the csv crate (which also reports the errors).
fn parse_any(path: &Path, block: &Block, layout: &Layout) -> Result<Parsed, DatasetError> {
    numeric::parse_block(&block.bytes, layout).map_or_else(|| records::parse_block(path, block, layout), Ok)
}

/// Joins the blocks in order: the categories of every block merged into one sorted list per
/// feature (when no model gave the lists), and the schema made.
fn finish(path: &Path, resolved: Resolved, mut blocks: Vec<Parsed>, sha256: String) -> Result<Read, DatasetError> {
    let t = std::time::Instant::now();
    let Resolved { layout, label, id, time, notes } = resolved;
    let width = layout.features();
    let schema = match &layout.schema {
        Some(schema) => Arc::clone(schema),
        None => {
            let mut features = Vec::with_capacity(width);
            for (j, name) in layout.names.iter().enumerate() {
                if !layout.has(Role::Categorical(j)) {
                    features.push(Feature::numeric(name));
                    continue;
                }
                let categories = merge_categories(&mut blocks, j, width);
                if layout.inferred[j] && layout.max_categories.is_some_and(|max| categories.len() > max) {
                    return Err(DatasetError::TooManyCategories {
                        path: path.to_path_buf(),
                        column: name.clone(),
                        count: categories.len(),
                    });
                }
                features.push(Feature::categorical(name, categories));
            }
            let schema = Schema::new(features, &label, id.clone(), time.clone())
                .map_err(|source| DatasetError::Schema { path: path.to_path_buf(), source })?;
            Arc::new(schema)
        }
    };
    let rows: usize = blocks.iter().map(|b| b.rows).sum();
    if rows == 0 {
        return Err(DatasetError::NoRows { path: path.to_path_buf() });
    }
    let has_labels = layout.has(Role::Label);
    let mut values = Vec::with_capacity(rows * width);
    let mut labels = Vec::with_capacity(if has_labels { rows } else { 0 });
    let mut ids = layout.has(Role::Id).then(|| Vec::with_capacity(rows));
    for block in blocks {
        values.extend_from_slice(&block.values);
        labels.extend_from_slice(&block.labels);
        if let Some(ids) = &mut ids {
            ids.extend(block.ids);
        }
    }
    tracing::debug!(stage = "concat", seconds = t.elapsed().as_secs_f64(), "read stage done");
    let features =
        Array2::from_shape_vec((rows, width), values).map_err(|_| DatasetError::NoRows { path: path.to_path_buf() })?;
    Ok(Read { schema, features, has_labels, labels, ids, sha256, notes })
}

/// Feature `j`'s categories over all blocks, sorted by their text (code-point order, as
/// scikit-learn's encoder and pandas sort strings); each block's codes are rewritten to
/// positions in that list.
fn merge_categories(blocks: &mut [Parsed], j: usize, width: usize) -> Vec<String> {
    let all: BTreeSet<&str> = blocks.iter().flat_map(|b| b.categories[j].iter().map(String::as_str)).collect();
    let sorted: Vec<String> = all.into_iter().map(String::from).collect();
    for block in blocks.iter_mut() {
        let to_global: Vec<f64> =
            block.categories[j].iter().map(|c| sorted.binary_search(c).map_or(f64::NAN, |g| g as f64)).collect();
        for row in block.values.chunks_exact_mut(width) {
            if !row[j].is_nan() {
                row[j] = to_global[row[j] as usize];
            }
        }
    }
    sorted
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::{FEATURE_NAMES, Kind, N_FEATURES};
    use sha2::{Digest, Sha256};
    use std::io::Write;
    use std::path::PathBuf;

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
        assert_eq!(*t.schema, Schema::kaggle());
        assert_eq!(t.labels, vec![false, true]);
        assert_eq!(t.features.shape(), &[2, N_FEATURES]);
        assert_eq!(t.features[[0, 0]], 1.0); // V1
        assert_eq!(t.features[[1, N_FEATURES - 1]], 2.0 + 28.0); // Amount
        // sha256 of the file as stored
        assert_eq!(t.sha256, format!("{:x}", Sha256::digest(text.as_bytes())));
        assert!(t.notes.is_empty(), "{:?}", t.notes);
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
        assert!(text.len() > 2 * stages::BLOCK);
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
    fn features_follow_the_file_and_a_model_finds_its_own_by_name() {
        let dir = tempfile::tempdir().unwrap();
        let mut names: Vec<&str> = FEATURE_NAMES.to_vec();
        names.reverse();
        names.insert(0, "Class");
        let values: Vec<String> =
            std::iter::once("1".to_string()).chain((0..N_FEATURES).rev().map(|j| format!("{}", j * 10))).collect();
        let text = format!("{}\n{}\n", names.join(","), values.join(","));
        let path = write(&dir, "c.csv", &text);
        // Training takes the file's order: Amount first.
        let t = read_labelled(&path, false).unwrap();
        assert_eq!(t.schema.name(0), "Amount");
        assert_eq!(t.features[[0, 0]], 280.0);
        assert_eq!(t.labels, vec![true]);
        // Scoring takes the model's: V1 first, wherever the file has it.
        let kaggle = Arc::new(Schema::kaggle());
        let table = read_table(&path, &kaggle, Need::IfPresent, None, false).unwrap();
        assert_eq!(table.features[[0, 0]], 0.0);
        assert_eq!(table.features[[0, 5]], 50.0);
        assert_eq!(table.labels, Some(vec![true]));
    }

    fn error_for(text: &str) -> String {
        let dir = tempfile::tempdir().unwrap();
        read_labelled(&write(&dir, "bad.csv", text), false).unwrap_err().to_string()
    }

    #[test]
    fn reports_file_line_and_column_of_bad_cells() {
        // Read by a model, V3 is a number.
        let bad = row(0.0, 1.0, 0).replacen(",3,", ",abc,", 1); // V3
        let dir = tempfile::tempdir().unwrap();
        let path = write(&dir, "bad.csv", &format!("{}\n{}\n{}\n", header(), row(0.0, 1.0, 0), bad));
        let e = read_table(&path, &Arc::new(Schema::kaggle()), Need::Required, None, false).unwrap_err().to_string();
        assert!(e.contains("bad.csv line 3, column V3") && e.contains("\"abc\""), "{e}");
        // For training, a column that is not all numbers is categorical, and the user is told.
        let t = read_labelled(&path, false).unwrap();
        assert!(t.schema.is_categorical(2));
        assert_eq!(t.notes, vec!["V3: not numbers, read as categorical".to_string()]);

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
        let e = error_for(&format!("{}\n", header().replace(",\"Class\"", "")));
        assert!(e.contains("no column(s) Class"), "{e}");
        let short = row(0.0, 1.0, 0).replacen(",3,", ",", 1);
        let e = error_for(&format!("{}\n{}\n", header(), short));
        assert!(e.contains("line 2: row has 30 fields, the header has 31"), "{e}");
    }

    #[test]
    fn a_model_needs_its_features_and_the_label_only_when_asked() {
        let dir = tempfile::tempdir().unwrap();
        let kaggle = Arc::new(Schema::kaggle());
        let text = format!(
            "{}\n{}\n",
            FEATURE_NAMES.join(","),
            (0..N_FEATURES).map(|j| j.to_string()).collect::<Vec<_>>().join(",")
        );
        let path = write(&dir, "f.csv", &text);
        let t = read_table(&path, &kaggle, Need::IfPresent, None, false).unwrap();
        assert_eq!(t.features.shape(), &[1, N_FEATURES]);
        assert_eq!(t.features[[0, 28]], 28.0);
        assert_eq!(t.labels, None);
        let e = read_table(&path, &kaggle, Need::Required, None, false).unwrap_err().to_string();
        assert!(e.contains("no column(s) Class"), "{e}");
        let without_v7 = write(&dir, "g.csv", &text.replacen("V7,", "", 1).replacen(",6,", ",", 1));
        let e = read_table(&without_v7, &kaggle, Need::IfPresent, None, false).unwrap_err().to_string();
        assert!(e.contains("no column(s) V7"), "{e}");
        let e = read_table(&path, &kaggle, Need::IfPresent, Some(("tx", Need::Required)), false).unwrap_err();
        assert!(e.to_string().contains("no column(s) tx"), "{e}");
    }

    #[test]
    fn a_stray_word_among_numbers_is_a_bad_cell_not_a_category() {
        let mut rows: Vec<String> = (0..300).map(|i| row(i as f64, i as f64, (i % 2) as u8)).collect();
        rows[150] = rows[150].replacen(",152,", ",x,", 1); // V3 of line 152
        let e = error_for(&format!("{}\n{}\n", header(), rows.join("\n")));
        assert!(e.contains("line 152, column V3: \"x\" is not a number"), "{e}");
        assert!(e.contains("--categorical"), "the hint: {e}");
    }

    #[test]
    fn missing_file_names_the_path() {
        let e = read_labelled(Path::new("/nonexistent/x.csv"), false).unwrap_err();
        assert!(e.to_string().starts_with("cannot open /nonexistent/x.csv"), "{e}");
    }

    const SHOP: &str = "tx,when,amount,mcc,country,online,label\n\
                        a1,2025-01-01T00:00:00Z,12.5,5411,FR,true,0\n\
                        a2,2025-01-01T00:01:00Z,,6011,,false,1\n\
                        a3,2025-01-01T00:02:00Z,7,5411,\"DE\",1,0\n\
                        a4,2025-01-01T00:03:00Z,1e3,4829,FR,0,true\n";

    fn shop(selection: &Selection) -> Result<Labelled, DatasetError> {
        let dir = tempfile::tempdir().unwrap();
        read_training(&write(&dir, "shop.csv", SHOP), selection, false)
    }

    fn shop_selection() -> Selection {
        Selection {
            label: "label".into(),
            id: Some("tx".into()),
            time: Some("when".into()),
            features: None,
            exclude: vec![],
            categorical: vec!["mcc".into()],
        }
    }

    #[test]
    fn a_schema_of_numbers_categories_and_booleans_comes_from_the_file() {
        let t = shop(&shop_selection()).unwrap();
        let s = &t.schema;
        assert_eq!(s.names().collect::<Vec<_>>(), ["amount", "mcc", "country", "online"]);
        assert_eq!(s.features()[1].kind, Kind::Categorical(vec!["4829".into(), "5411".into(), "6011".into()]));
        assert_eq!(s.features()[2].kind, Kind::Categorical(vec!["DE".into(), "FR".into()]));
        assert_eq!(s.features()[3].kind, Kind::Numeric, "true/false and 1/0 are numbers");
        assert_eq!((s.label.as_str(), s.id.as_deref(), s.time.as_deref()), ("label", Some("tx"), Some("when")));
        let row = |i: usize| t.features.row(i).to_vec();
        assert_eq!(row(0), vec![12.5, 1.0, 1.0, 1.0]);
        assert!(row(1)[0].is_nan() && row(1)[2].is_nan(), "empty cells are missing: {:?}", row(1));
        assert_eq!(row(1)[1], 2.0);
        assert_eq!(row(2), vec![7.0, 1.0, 0.0, 1.0]);
        assert_eq!(row(3), vec![1000.0, 0.0, 1.0, 0.0]);
        assert_eq!(t.labels, vec![false, true, false, true]);
        assert_eq!(t.ids, Some(vec!["a1".into(), "a2".into(), "a3".into(), "a4".into()]));
        assert_eq!(t.notes, vec!["country: not numbers, read as categorical".to_string()]);
    }

    #[test]
    fn features_and_exclude_choose_the_columns() {
        let mut sel = shop_selection();
        sel.features = Some(vec!["country".into(), "amount".into()]);
        sel.categorical = vec![];
        let t = shop(&sel).unwrap();
        assert_eq!(t.schema.names().collect::<Vec<_>>(), ["country", "amount"]);
        let mut sel = shop_selection();
        sel.exclude = vec!["online".into(), "nope".into()];
        let t = shop(&sel).unwrap();
        assert_eq!(t.schema.names().collect::<Vec<_>>(), ["amount", "mcc", "country"]);
        assert!(t.notes.iter().any(|n| n.contains("--exclude names \"nope\"")), "{:?}", t.notes);
    }

    #[test]
    fn wrong_selections_say_what_is_wrong() {
        let err = |edit: &dyn Fn(&mut Selection)| {
            let mut sel = shop_selection();
            edit(&mut sel);
            shop(&sel).unwrap_err().to_string()
        };
        assert!(err(&|s| s.label = "Class".into()).contains("no column(s) Class"));
        assert!(
            err(&|s| s.features = Some(vec!["amount".into(), "label".into()])).contains("cannot also be a feature")
        );
        assert!(err(&|s| s.categorical = vec!["tx".into()]).contains("--categorical names \"tx\""));
        assert!(err(&|s| s.id = Some("label".into())).contains("named for two roles"));
        // A text column that is not named as the id: each value its own category... refused
        // when there are too many, so an id is not silently a feature.
        let mut many = String::from("card,label\n");
        for i in 0..=layout::MAX_INFERRED_CATEGORIES {
            many.push_str(&format!("c{i},{}\n", i % 2));
        }
        let dir = tempfile::tempdir().unwrap();
        let sel = Selection { label: "label".into(), exclude: vec![], ..Selection::default() };
        let e = read_training(&write(&dir, "many.csv", &many), &sel, false).unwrap_err().to_string();
        assert!(e.contains("column card is not numbers and has 1001 distinct values") && e.contains("--id"), "{e}");
    }

    #[test]
    fn a_model_codes_categories_by_its_own_lists() {
        let t = shop(&shop_selection()).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let other = SHOP.replace("4829", "9999").replace(",DE,", ",ZZ,");
        let table = read_table(
            &write(&dir, "other.csv", &other),
            &t.schema,
            Need::Required,
            Some(("tx", Need::Required)),
            false,
        )
        .unwrap();
        assert_eq!(table.features[[0, 1]], 1.0, "5411 keeps its code");
        assert_eq!(table.features[[3, 1]], crate::schema::UNSEEN, "9999 is unseen");
        assert_eq!(table.ids.as_ref().map(Vec::len), Some(4));
    }

    #[test]
    fn a_category_written_as_a_float_or_padded_is_the_same_category() {
        let text = "mcc,label\n6011,0\n6011.0,1\n 6011 ,0\n5411,1\n";
        let dir = tempfile::tempdir().unwrap();
        let sel = Selection {
            label: "label".into(),
            exclude: vec![],
            categorical: vec!["mcc".into()],
            ..Selection::default()
        };
        let t = read_training(&write(&dir, "f.csv", text), &sel, false).unwrap();
        assert_eq!(t.schema.features()[0].kind, Kind::Categorical(vec!["5411".into(), "6011".into()]));
        assert_eq!(t.features.column(0).to_vec(), vec![1.0, 1.0, 1.0, 0.0]);
    }

    #[test]
    fn producers_read_every_column_uncapped() {
        let dir = tempfile::tempdir().unwrap();
        let (schema, x) = read_columns(&write(&dir, "shop.csv", SHOP), "label", &["when".to_string()], false).unwrap();
        assert_eq!(schema.names().collect::<Vec<_>>(), ["tx", "amount", "mcc", "country", "online"]);
        assert!(schema.is_categorical(0) && !schema.is_categorical(2), "mcc's values are numbers");
        assert_eq!(x.nrows(), 4);
    }
}
